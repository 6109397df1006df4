// `npm test`: prepares one PostgreSQL (the embedded one, or DATABASE_URL when set), migrates a
// template database once, then runs every test file with node:test. Each file clones the
// template into a database of its own (test/helpers/db.ts), so files run in parallel.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { createDb, createPool } from '../src/db/connection.ts';
import { type EmbeddedDatabase, openEmbeddedDatabase } from '../src/db/embedded.ts';
import { migrateToLatest } from '../src/db/migrate.ts';

const root = path.resolve(import.meta.dirname, '..');
const logger = pino({ level: 'warn' }, pino.destination(2));

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return testFiles(full);
    return name.endsWith('.test.ts') ? [full] : [];
  });
}

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

// Words pick test files by path; options (`--test-name-pattern=…`) go to node's test runner.
const filter = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const runnerOptions = process.argv.slice(2).filter((arg) => arg.startsWith('--'));
const files = testFiles(path.join(root, 'test'))
  .filter((file) => filter.length === 0 || filter.some((f) => file.includes(f)))
  .sort();

const external = process.env.DATABASE_URL;
// A fresh embedded server per run, under the system temp folder rather than the checkout: a
// checkout may sit in a folder the `postgres` OS user cannot enter (the embedded server runs as
// that user when we are root), and runs started at the same time must not share a server.
const dataDir = external ? null : mkdtempSync(path.join(os.tmpdir(), 'parley-test-'));
if (dataDir) chmodSync(dataDir, 0o755);
const template = `parley_test_template_${process.pid}`;
let embedded: EmbeddedDatabase | null = null;
let admin: pg.Client | null = null;
let code = 1;

try {
  embedded = dataDir ? await openEmbeddedDatabase(dataDir, 'cli', logger) : null;
  const adminUrl = external ?? withDatabase(embedded!.url, 'postgres');
  admin = new pg.Client({ connectionString: adminUrl });
  admin.on('error', (error) => console.error('# the admin connection was lost:', error.message));
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${template}`);
  await admin.query(`CREATE DATABASE ${template}`);
  const db = createDb(createPool(withDatabase(adminUrl, template), { max: 1 }));
  await migrateToLatest(db);
  await db.destroy();

  console.log(`# database: ${external ? 'DATABASE_URL' : 'embedded PostgreSQL'}; ${files.length} test files`);
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...runnerOptions, ...files], {
    stdio: 'inherit',
    env: { ...process.env, PARLEY_TEST_ADMIN_URL: adminUrl, PARLEY_TEST_TEMPLATE: template },
  });
  code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
} catch (error) {
  console.error('test setup failed:', error);
} finally {
  await admin?.query(`DROP DATABASE IF EXISTS ${template}`).catch(() => undefined);
  await admin?.end().catch(() => undefined);
  await embedded?.release().catch((error: unknown) => console.error('could not stop the embedded PostgreSQL:', error));
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
process.exit(code);
