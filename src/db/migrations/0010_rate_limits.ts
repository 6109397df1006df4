// The per-key rate limit counted for the whole cluster: one row per (key prefix, minute since the
// epoch) with the tokens handed to nodes so far (src/http/rate-limit-repo.ts).
//
// UNLOGGED: the rows are rewritten many times a minute and are worth nothing after a crash
// (the worst case is one minute counted afresh), so they skip the WAL. A fill factor of 50
// leaves room on each page for the updates to stay HOT (no index column changes).
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE UNLOGGED TABLE rate_limit_windows (
      key_prefix text NOT NULL,
      window_minute integer NOT NULL,
      taken integer NOT NULL,
      last_grant integer NOT NULL,
      PRIMARY KEY (key_prefix, window_minute)
    ) WITH (fillfactor = 50)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS rate_limit_windows`.execute(db);
}
