// Several nodes starting at once on an empty database: the schema lock must make exactly one
// of them migrate and exactly one of them create the default project.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { type Kysely, sql } from 'kysely';
import pino from 'pino';
import { createDb, createPool } from '../../src/db/connection.ts';
import { prepareSchema } from '../../src/db/database.ts';
import type { Database } from '../../src/db/schema.ts';
import { bootstrapDefaultProject } from '../../src/projects/service.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { cleanupProcesses, runParley } from '../helpers/process.ts';

const NODES = 5;
const migrationNames = fs
  .readdirSync(path.resolve(import.meta.dirname, '../../src/db/migrations'))
  .filter((name) => /^\d{4}_\w+\.ts$/.test(name))
  .map((name) => name.slice(0, -3))
  .sort();

const databases: TestDatabase[] = [];
after(async () => {
  await cleanupProcesses();
  await Promise.all(databases.map((database) => database.drop()));
});

async function emptyDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase({ migrated: false });
  databases.push(database);
  return database;
}

async function appliedMigrations(db: Kysely<Database>): Promise<string[]> {
  const rows = await (db as unknown as Kysely<{ parley_migrations: { name: string } }>)
    .selectFrom('parley_migrations')
    .select('name')
    .orderBy('name')
    .execute();
  return rows.map((row) => row.name);
}

test(`${NODES} nodes preparing an empty database at once: one migrates, one creates the default project`, async () => {
  assert.ok(migrationNames.length > 0);
  const database = await emptyDatabase();
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) });
  // One pool per "node", all connected before the race starts so that the calls overlap.
  const nodes = Array.from({ length: NODES }, () => createDb(createPool(database.url, { max: 2 })));
  try {
    await Promise.all(nodes.map((db) => sql`SELECT 1`.execute(db)));
    const keys = await Promise.all(nodes.map((db) => prepareSchema(db, logger, (locked) => bootstrapDefaultProject(locked))));

    assert.equal(keys.filter((key) => key !== null).length, 1, 'exactly one node gets the first key');
    assert.deepEqual(await appliedMigrations(database.db), migrationNames, 'each migration recorded once');
    assert.equal(logs.filter((line) => line.includes('"msg":"database migrated"')).length, 1, logs.join(''));
    const projects = await database.db.selectFrom('projects').select('name').execute();
    assert.deepEqual(projects, [{ name: 'default' }]);
    const apiKeys = await database.db.selectFrom('api_keys').select('prefix').execute();
    assert.equal(apiKeys.length, 1);
    assert.equal(`prl_${apiKeys[0]!.prefix}`, keys.find((key) => key !== null)!.slice(0, 12));

    // A later start finds nothing to do.
    assert.equal(await prepareSchema(nodes[0]!, logger, (locked) => bootstrapDefaultProject(locked)), null);
    assert.deepEqual(await appliedMigrations(database.db), migrationNames);
  } finally {
    await Promise.all(nodes.map((db) => db.destroy()));
  }
});

test(`${NODES} concurrent "parley migrate" processes all succeed and migrate once`, async () => {
  const database = await emptyDatabase();
  const results = await Promise.all(Array.from({ length: NODES }, () => runParley(['migrate'], { DATABASE_URL: database.url })));
  for (const result of results) {
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /database is up to date/);
    assert.equal(result.stdout, '');
  }
  const migrated = results.filter((result) => result.stderr.includes('"msg":"database migrated"'));
  assert.equal(migrated.length, 1, results.map((r) => r.stderr).join('\n---\n'));
  assert.deepEqual(await appliedMigrations(database.db), migrationNames);
  const projects = await database.db.selectFrom('projects').select('name').execute();
  assert.deepEqual(projects, [], 'migrate creates no project');
});
