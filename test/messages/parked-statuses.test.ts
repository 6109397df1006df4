// A status parked by one node while another node was still storing its message is applied by
// the periodic sweep once the message exists.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { applyLateParkedStatuses } from '../../src/messages/ingest-repo.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { connectNumber, inboundText } from '../helpers/inbound.ts';

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => t?.close());

test('a parked status whose message exists is applied once and removed', async () => {
  await connectNumber(t, { phoneNumberId: '7700000000001' });
  const wamid = await inboundText(t, { phoneNumberId: '7700000000001', from: '15550101010', text: 'hi' });
  const project = await t.database.db.selectFrom('messages').select('project_id').where('wamid', '=', wamid).executeTakeFirstOrThrow();
  const status = { id: wamid, status: 'read', timestamp: '1764160000', recipient_id: '15550101010' };
  await sql`INSERT INTO pending_statuses (project_id, wamid, status) VALUES (${project.project_id}, ${wamid}, ${JSON.stringify(status)}::jsonb)`.execute(t.database.db);
  await sql`INSERT INTO pending_statuses (project_id, wamid, status) VALUES (${project.project_id}, 'wamid.unknown', ${JSON.stringify({ ...status, id: 'wamid.unknown' })}::jsonb)`.execute(t.database.db);

  assert.equal(await applyLateParkedStatuses(t.database.db), 1);
  const message = await t.database.db.selectFrom('messages').select(['status', 'statuses']).where('wamid', '=', wamid).executeTakeFirstOrThrow();
  assert.equal(message.status, 'read');
  assert.deepEqual(message.statuses, [status]);
  const left = await t.database.db.selectFrom('pending_statuses').select('wamid').execute();
  assert.deepEqual(left.map((r) => r.wamid), ['wamid.unknown'], 'a status for an unknown message stays parked');
  assert.equal(await applyLateParkedStatuses(t.database.db), 0);
});
