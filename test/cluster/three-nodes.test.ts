// Three real `parley serve` processes on one fresh database, as behind a load balancer. They
// race to migrate it and to make the first key (a fourth with another secret key is refused),
// serve API requests round-robin, take Meta webhooks (duplicates included) spread over all
// three, and deliver Parley's own webhooks to one receiver; one node is stopped gracefully and
// another killed in the middle of the work.
// Whatever happens, nothing may be done twice and nothing may be lost.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { createKey } from '../../src/projects/service.ts';
import { type Cluster, call, type NodeResponse, postSigned, startCluster } from '../helpers/cluster.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { textBody } from '../helpers/meta.ts';
import { cleanupProcesses, type ServerProcess, spawnParley, waitFor } from '../helpers/process.ts';
import { Receiver } from '../helpers/receiver.ts';

const CONTACTS = '/platform/v1/whatsapp/contacts';
const HOOK_SECRET = 'cluster-hook-secret';
const HOLD = 727_998;
/** Backends of this database waiting for the advisory lock HOLD. */
const HELD_WAITERS = `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objid = $1 AND a.datname = current_database()`;

let database: TestDatabase;
let cluster: Cluster;
let receiver: Receiver;
let key: string;
let phoneNumberId: string;
/** Inbound messages posted for the alpha number, by wamid. */
const posted = new Map<string, { waId: string }>();
/** Meta bodies a node answered 200 for: each must be stored exactly once. */
let accepted = 0;

before(async () => {
  // Not migrated: the three nodes race to apply every migration.
  database = await createTestDatabase({ migrated: false });
  receiver = await Receiver.start();
  cluster = await startCluster(3, {
    databaseUrl: database.url,
    env: { PARLEY_ALLOW_PRIVATE_WEBHOOKS: 'true', PARLEY_JOB_POLL_MS: '100', PARLEY_WEBHOOK_RETRY_SECONDS: '0.5,1,2' },
  });
  // Test scaffolding, not Parley's: every commit that finishes a stored Meta body leaves a row
  // here, so a body handled by two nodes shows up even though its effects are idempotent.
  await sql`CREATE TABLE test_finished_bodies (meta_event_id bigint NOT NULL, state text NOT NULL)`.execute(database.db);
  await sql`CREATE FUNCTION test_log_finished() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO test_finished_bodies VALUES (NEW.id, NEW.state); RETURN NULL; END $$`.execute(database.db);
  await sql`CREATE TRIGGER test_log_finished AFTER UPDATE ON meta_events FOR EACH ROW WHEN (NEW.state <> 'pending') EXECUTE FUNCTION test_log_finished()`.execute(database.db);
});

after(async () => {
  await cleanupProcesses();
  await receiver?.close();
  await database?.drop();
});

const ok = (response: NodeResponse, status = 200) => assert.equal(response.status, status, response.text);

/** Creates a customer and connects a fresh number to it, each step on another node. */
async function connectNumber(apiKey: string): Promise<string> {
  const customer = await call(cluster.next(), '/platform/v1/customers', { method: 'POST', key: apiKey, body: { customer: { name: `Owner ${randomBytes(3).toString('hex')}` } } });
  ok(customer, 201);
  const id = `10${Date.now() % 1_000_000_000}${randomBytes(2).readUInt16BE(0)}`;
  const number = await call(cluster.next(), `/platform/v1/customers/${customer.body.data.id}/whatsapp/phone_numbers`, {
    method: 'POST',
    key: apiKey,
    body: { whatsapp_phone_number: { name: 'Support', phone_number_id: id, business_account_id: '900000000000001', access_token: 'EAAG-test-token' } },
  });
  ok(number, 201);
  return id;
}

/**
 * Posts each body to the next live node, `concurrency` at a time. A node that goes away mid-post
 * leaves the body unanswered: like Meta, post it again to another node.
 */
async function postAll(bodies: unknown[], concurrency: number, onProgress: (done: number) => void = () => undefined): Promise<void> {
  let index = 0;
  let done = 0;
  const lane = async () => {
    while (index < bodies.length) {
      const body = bodies[index++];
      for (let attempt = 0; ; attempt++) {
        const node = cluster.next();
        const response = await postSigned(node, body).catch((error: unknown) => error as Error);
        if (!(response instanceof Error) && response.status === 200) break;
        // Only a node going away may refuse: a 503 from a closing server, or no answer at all.
        assert.ok(response instanceof Error || response.status === 503, `node ${node.url} answered ${response instanceof Error ? response.message : `${response.status} ${response.text}`}`);
        assert.ok(attempt < 10, 'a body could not be posted to any node');
      }
      accepted += 1;
      onProgress(++done);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/** Inbound bodies: `senders` users sending `each` messages; every body listed twice, in shuffled order. */
function inboundBodies(numberId: string, senders: number, each: number, record = true): unknown[] {
  const bodies: unknown[] = [];
  for (let s = 0; s < senders; s++) {
    const waId = `1655${randomBytes(3).readUIntBE(0, 3).toString().padStart(8, '0')}`;
    for (let m = 0; m < each; m++) {
      const { body, wamid } = textBody(numberId, { waId, name: `User ${waId}`, text: `message ${m}` });
      if (record) posted.set(wamid, { waId });
      bodies.push(body, body);
    }
  }
  for (let i = bodies.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [bodies[i], bodies[j]] = [bodies[j]!, bodies[i]!];
  }
  return bodies;
}

/** Every stored body is finished, each by exactly one commit, as `processed`. */
async function assertEachBodyProcessedOnce(): Promise<void> {
  const { rows: stored } = await sql<{ state: string; n: number }>`SELECT state, count(*)::int AS n FROM meta_events GROUP BY state`.execute(database.db);
  assert.deepEqual(stored, [{ state: 'processed', n: accepted }], 'every accepted body stored once and processed');
  const { rows: finished } = await sql<{ id: number; n: number }>`
    SELECT e.id, count(f.meta_event_id)::int AS n FROM meta_events e LEFT JOIN test_finished_bodies f ON f.meta_event_id = e.id
    GROUP BY e.id HAVING count(f.meta_event_id) <> 1`.execute(database.db);
  assert.deepEqual(finished, [], 'each body finished by exactly one commit');
}

async function pendingBodies(): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM meta_events WHERE state = 'pending'`.execute(database.db);
  return rows[0]!.n;
}

/** Open connections to the test database by application_name (the test's own pool is `parley` too). */
async function connections(): Promise<Record<string, number>> {
  const { rows } = await sql<{ name: string; n: number }>`
    SELECT application_name AS name, count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1`.execute(database.db);
  return Object.fromEntries(rows.map((r) => [r.name, r.n]));
}

/** Rows of `query` that hold a key more than once: [] when nothing was done twice. */
async function duplicates(query: ReturnType<typeof sql>): Promise<unknown[]> {
  return (await query.execute(database.db)).rows;
}

test('three nodes on an empty database: migrations applied once, the first key made once', async () => {
  const migrated = cluster.nodes.filter((node) => node.stdout().includes('"msg":"database migrated"'));
  assert.equal(migrated.length, 1, 'exactly one node applied the migrations');
  const { rows: applied } = await sql<{ name: string; n: number }>`SELECT name, count(*)::int AS n FROM parley_migrations GROUP BY name HAVING count(*) > 1`.execute(database.db);
  assert.deepEqual(applied, []);

  const keys = cluster.nodes.map((node) => node.firstKey).filter((k): k is string => k !== null);
  assert.equal(keys.length, 1, 'exactly one node made and printed the first key');
  key = keys[0]!;
  const { rows: projects } = await sql<{ name: string }>`SELECT name FROM projects`.execute(database.db);
  assert.deepEqual(projects.map((p) => p.name), ['default']);
  // The key one node made works on every node.
  for (const node of cluster.nodes) ok(await call(node, CONTACTS, { key }));
  // One LISTEN connection per node, besides its pool.
  assert.equal((await connections())['parley-listener'], 3);
  for (const node of cluster.nodes) {
    ok(await call(node, '/readyz'));
    assert.match((await call(node, '/metrics')).text, /parley_database_up 1/);
  }
});

test('a node started with another PARLEY_SECRET_KEY refuses to start, naming the setting', async () => {
  const stray = spawnParley(['serve'], { ...cluster.env, PARLEY_SECRET_KEY: randomBytes(32).toString('hex') });
  const exit = await stray.exited;
  assert.equal(exit.code, 1, stray.stdout() + stray.stderr());
  assert.match(stray.stdout() + stray.stderr(), /PARLEY_SECRET_KEY differs from the key this database was first used with/);
  assert.doesNotMatch(stray.stdout(), /Parley is listening/);
});

test('serve: contacts created on one node, read and patched on others; ETags hold across nodes', async () => {
  phoneNumberId = await connectNumber(key);
  // Webhooks first, so that every change below has its events.
  ok(await call(cluster.next(), '/platform/v1/whatsapp/webhooks', {
    method: 'POST', key,
    body: { whatsapp_webhook: { url: receiver.url('/project'), secret_key: HOOK_SECRET, events: ['whatsapp.contact.created', 'whatsapp.contact.updated'] } },
  }), 201);
  ok(await call(cluster.next(), `/platform/v1/whatsapp/phone_numbers/${phoneNumberId}/webhooks`, {
    method: 'POST', key,
    body: { whatsapp_webhook: { url: receiver.url('/number'), secret_key: HOOK_SECRET, events: ['whatsapp.message.received', 'whatsapp.conversation.created'] } },
  }), 201);

  const [a, b, c] = cluster.nodes as [ServerProcess, ServerProcess, ServerProcess];
  const rotations: [ServerProcess, ServerProcess, ServerProcess][] = [[a, b, c], [b, c, a], [c, a, b]];
  await Promise.all(Array.from({ length: 12 }, async (_, i) => {
    const [creator, reader, patcher] = rotations[i % 3]!;
    const created = await call(creator, CONTACTS, { method: 'POST', key, body: { contact: { wa_id: `+1 555 030 ${String(1000 + i)}`, profile_name: `Serve ${i}`, metadata: { n: i } } } });
    ok(created, 201);
    const etag = created.headers.get('etag')!;
    assert.match(etag, /^"[^"]+"$/);
    const id = created.body.data.id as string;

    const read = await call(reader, `${CONTACTS}/${id}`, { key });
    ok(read);
    assert.equal(read.headers.get('etag'), etag, 'another node names the same version');
    ok(await call(reader, `${CONTACTS}/${id}`, { key, headers: { 'if-none-match': etag } }), 304);

    const patched = await call(patcher, `${CONTACTS}/${id}`, {
      method: 'PATCH', key, headers: { 'content-type': 'application/merge-patch+json', 'if-match': etag },
      body: { contact: { display_name: `Patched ${i}`, metadata: { tier: 'gold' } } },
    });
    ok(patched);
    const newer = patched.headers.get('etag')!;
    assert.notEqual(newer, etag);
    // The old ETag is stale on every node now: no lost update through any of them.
    const stale = await call(creator, `${CONTACTS}/${id}`, {
      method: 'PATCH', key, headers: { 'content-type': 'application/merge-patch+json', 'if-match': etag },
      body: { contact: { display_name: 'lost update' } },
    });
    ok(stale, 412);
    const final = await call(reader, `${CONTACTS}/${id}`, { key });
    assert.equal(final.headers.get('etag'), newer);
    assert.equal(final.body.data.display_name, `Patched ${i}`);
    assert.deepEqual(final.body.data.metadata, { n: i, tier: 'gold' });
  }));
});

test('ingest: Meta bodies and their duplicates spread over the nodes, one stopped with SIGTERM half-way', async (t) => {
  let peak = 0;
  const sampler = setInterval(() => void connections().then((c) => (peak = Math.max(peak, (c.parley ?? 0) + (c['parley-listener'] ?? 0)))), 50);
  t.after(() => {
    clearInterval(sampler);
    t.diagnostic(`peak connections of the nodes plus the test's pool while ingesting: ${peak}`);
  });
  const bodies = inboundBodies(phoneNumberId, 15, 4); // 60 messages, each posted twice: 120 bodies
  const victim = cluster.nodes[1]!;
  let stopping: Promise<unknown> | null = null;
  await postAll(bodies, 6, (done) => {
    if (done === bodies.length / 2) stopping = cluster.stop(victim, 'SIGTERM');
  });
  const exit = await stopping!;
  assert.deepEqual(exit, { code: 0, signal: null }, victim.stderr());
  assert.match(victim.stdout(), /"msg":"Parley stopped"/);
  assert.equal(cluster.live().length, 2);

  await waitFor(async () => (await pendingBodies()) === 0, 'every stored body to be processed', 30_000);
  await assertEachBodyProcessedOnce();

  const { rows: messages } = await sql<{ wamid: string }>`SELECT wamid FROM messages WHERE phone_number_id = ${phoneNumberId}`.execute(database.db);
  assert.deepEqual(messages.map((m) => m.wamid).sort(), [...posted.keys()].sort(), 'every message stored, and only once');
  assert.deepEqual(await duplicates(sql`SELECT wa_id FROM contacts GROUP BY project_id, wa_id HAVING count(*) > 1`), []);
  const senders = new Set([...posted.values()].map((p) => p.waId));
  const { rows: conversations } = await sql<{ wa_id: string; n: number; messages: number }>`
    SELECT ct.wa_id, count(*)::int AS n, sum(cv.messages_count)::int AS messages FROM conversations cv JOIN contacts ct ON ct.id = cv.contact_id GROUP BY ct.wa_id`.execute(database.db);
  assert.equal(conversations.length, senders.size);
  for (const row of conversations) assert.deepEqual([row.n, row.messages], [1, 4], `one conversation of 4 messages for ${row.wa_id}`);
});

test('deliver: every event delivered exactly once, none missing', async () => {
  const settled = async () => {
    const { rows } = await sql<{ n: number }>`
      SELECT (SELECT count(*) FROM webhook_events WHERE dispatched_at IS NULL)::int
           + (SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered')::int AS n`.execute(database.db);
    return rows[0]!.n === 0;
  };
  await waitFor(settled, 'every event to be dispatched and delivered', 30_000);
  await new Promise((resolve) => setTimeout(resolve, 500)); // a stray second attempt would land now

  const { rows: dead } = await sql`SELECT id FROM webhook_events WHERE dead_at IS NOT NULL`.execute(database.db);
  assert.deepEqual(dead, []);
  const seen = new Map<string, number>();
  for (const request of receiver.requests) {
    assert.ok(Receiver.verify(request, HOOK_SECRET), 'signed with the webhook secret');
    const id = `${request.path} ${request.headers['x-idempotency-key']}`;
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  assert.deepEqual([...seen].filter(([, n]) => n > 1), [], 'no event delivered twice');

  const { rows: deliveries } = await sql<{ key: string; path: string; attempts: number }>`
    SELECT d.idempotency_key AS key, regexp_replace(d.webhook_url, '^https?://[^/]+', '') AS path, d.attempt_count AS attempts FROM webhook_deliveries d`.execute(database.db);
  assert.deepEqual(new Set(deliveries.map((d) => `${d.path} ${d.key}`)), new Set(seen.keys()), 'the receiver got exactly the recorded deliveries');
  assert.ok(deliveries.every((d) => d.attempts === 1), 'each delivered at its first attempt');

  const byEvent = (event: string) => receiver.requests.filter((r) => r.headers['x-webhook-event'] === event).map((r) => Receiver.json(r));
  const received = byEvent('whatsapp.message.received').map((b) => b.message.id as string);
  assert.deepEqual(received.sort(), [...posted.keys()].sort(), 'message.received once per message');
  const { rows: contacts } = await sql<{ id: string }>`SELECT id FROM contacts`.execute(database.db);
  assert.deepEqual(byEvent('whatsapp.contact.created').map((b) => b.contact.id).sort(), contacts.map((c) => c.id).sort(), 'contact.created once per contact');
  const { rows: conversations } = await sql<{ id: string }>`SELECT id FROM conversations`.execute(database.db);
  assert.deepEqual(byEvent('whatsapp.conversation.created').map((b) => b.conversation.id).sort(), conversations.map((c) => c.id).sort(), 'conversation.created once per conversation');
  assert.equal(byEvent('whatsapp.contact.updated').length, 12, 'one contact.updated per accepted PATCH');
});

test('a node killed with SIGKILL inside its inbound transaction: the others process every body, once', async () => {
  // A project of its own without webhooks: the kill must not strand a delivery under its lease.
  const beta = (await createKey(database.db, 'beta')).key;
  await cluster.add(); // three nodes again
  const numberId = await connectNumber(beta);
  const acceptedBefore = accepted;
  const bodies = inboundBodies(numberId, 10, 6, false); // 60 messages, 120 bodies
  const wamids = new Set(bodies.map((b: any) => b.entry[0].changes[0].value.messages[0].id as string));

  // Every message insert waits for a lock this test holds; the other nodes are frozen, so the
  // victim's worker alone takes the first bodies and is caught inside its transaction.
  const holder = new pg.Client({ connectionString: database.url });
  await holder.connect();
  try {
    await holder.query(`CREATE FUNCTION test_hold_messages() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock(${HOLD}); RETURN NEW; END $$`);
    await holder.query('CREATE TRIGGER test_hold BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION test_hold_messages()');
    await holder.query('SELECT pg_advisory_lock($1)', [HOLD]);
    const [victim, ...survivors] = cluster.live() as [ServerProcess, ...ServerProcess[]];
    let thawed = false;
    const thaw = () => {
      if (thawed) return;
      thawed = true;
      for (const node of survivors) node.child.kill('SIGCONT');
    };
    try {
      // A node frozen inside one of its polling transactions would keep its lane locks, and the
      // victim could not take those lanes: freeze again until no transaction stays open across
      // two looks (a running node's transactions come and go; a frozen one's stays).
      const openTransactions = async () =>
        new Set(
          (
            await holder.query<{ t: string }>(
              `SELECT pid || ' ' || xact_start AS t FROM pg_stat_activity WHERE datname = current_database() AND xact_start IS NOT NULL AND pid <> pg_backend_pid()`,
            )
          ).rows.map((r) => r.t),
        );
      for (let attempt = 1; ; attempt += 1) {
        for (const node of survivors) node.child.kill('SIGSTOP');
        thawed = false;
        const first = await openTransactions();
        await new Promise((resolve) => setTimeout(resolve, 300));
        const second = await openTransactions();
        if (![...first].some((t) => second.has(t))) break;
        assert.ok(attempt < 50, 'the other nodes could not be frozen outside a transaction');
        thaw();
        // Long enough for a frozen transaction to finish on a busy machine.
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const first = bodies.slice(0, 20);
      for (const body of first) ok(await postSigned(victim, body));
      accepted += first.length;
      await waitFor(async () => (await holder.query(HELD_WAITERS, [HOLD])).rows[0].n > 0, 'the victim\'s worker to wait inside its transaction');
      const { rows: locked } = await holder.query(`SELECT count(*)::int AS n FROM meta_events WHERE state = 'pending'`);
      assert.equal(locked[0].n, first.length, 'none of them is processed yet');

      assert.deepEqual(await cluster.stop(victim, 'SIGKILL'), { code: null, signal: 'SIGKILL' });
      thaw();
      await holder.query('SELECT pg_advisory_unlock($1)', [HOLD]);
      await postAll(bodies.slice(first.length), 6);
    } finally {
      thaw();
    }
  } finally {
    await holder.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
    await holder.query('DROP TRIGGER IF EXISTS test_hold ON messages').catch(() => undefined);
    await holder.end();
  }

  await waitFor(async () => (await pendingBodies()) === 0, 'the surviving nodes to process every body', 30_000);
  await assertEachBodyProcessedOnce();
  assert.ok(accepted - acceptedBefore >= bodies.length);
  const { rows: messages } = await sql<{ wamid: string; n: number }>`
    SELECT wamid, count(*)::int AS n FROM messages WHERE phone_number_id = ${numberId} GROUP BY wamid`.execute(database.db);
  assert.deepEqual(new Set(messages.map((m) => m.wamid)), wamids, 'every message stored');
  assert.ok(messages.every((m) => m.n === 1), 'and only once');
  const { rows: conversations } = await sql<{ n: number; messages: number }>`
    SELECT count(*)::int AS n, sum(messages_count)::int AS messages FROM conversations WHERE phone_number_id = ${numberId} GROUP BY contact_id`.execute(database.db);
  assert.equal(conversations.length, 10);
  for (const row of conversations) assert.deepEqual(row, { n: 1, messages: 6 }, 'one conversation per sender, each message counted once');
  // The survivors still serve both projects.
  for (const node of cluster.live()) {
    ok(await call(node, CONTACTS, { key }));
    ok(await call(node, CONTACTS, { key: beta }));
  }
});
