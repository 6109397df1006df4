// `npm test`: prepares one PostgreSQL (the embedded one, or DATABASE_URL when set), migrates a
// template database once, then runs every test file with node:test. Each file clones the
// template into a database of its own (test/helpers/db.ts), so files run in parallel.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { createDb, createPool } from '../src/db/connection.ts';
import { openEmbeddedDatabase } from '../src/db/embedded.ts';
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

const filter = process.argv.slice(2);
const files = testFiles(path.join(root, 'test'))
  .filter((file) => filter.length === 0 || filter.some((f) => file.includes(f)))
  .sort();

const external = process.env.DATABASE_URL;
const embedded = external ? null : await openEmbeddedDatabase(path.join(root, '.test-data'), 'cli', logger);
const adminUrl = external ?? withDatabase(embedded!.url, 'postgres');
const template = `parley_test_template_${process.pid}`;

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${template}`);
await admin.query(`CREATE DATABASE ${template}`);
const pool = createPool(withDatabase(adminUrl, template), { max: 1 });
const db = createDb(pool);
await migrateToLatest(db);
await db.destroy();

console.log(`# database: ${external ? 'DATABASE_URL' : 'embedded PostgreSQL'}; ${files.length} test files`);
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
  env: { ...process.env, PARLEY_TEST_ADMIN_URL: adminUrl, PARLEY_TEST_TEMPLATE: template },
});
const code: number = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));

await admin.query(`DROP DATABASE IF EXISTS ${template}`).catch(() => undefined);
await admin.end();
await embedded?.release();
process.exit(code);
