// API keys: creation, listing, revocation and the per-request check.
//
// A key is `prl_<prefix>_<secret>`. Only the prefix is stored in clear (to find the row and to
// name the key in `keys list`); the whole key is stored as SHA-256, which suffices for
// 32 random bytes, and compared in constant time.
//
// Valid keys are cached per node for a few seconds so that authentication costs no query on the
// hot path. Revocation sends a NOTIFY that every node listens for and drops the key at once;
// the short TTL bounds the damage if a node's listening connection is down.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import * as repo from './repo.ts';

export const KEY_REVOKED_CHANNEL = 'parley_api_key_revoked';
const KEY_PATTERN = /^prl_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{43})$/;
const CACHE_TTL_MS = 5_000;

export interface AuthenticatedKey {
  /** The key's row id and name, for the API log. */
  keyId: string;
  keyName: string | null;
  keyPrefix: string;
  projectId: string;
  /** null: the server's default; 0: unlimited. */
  rateLimit: number | null;
}

function hashKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

function newKey(): { key: string; prefix: string } {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(8);
  const prefix = Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
  return { key: `prl_${prefix}_${randomBytes(32).toString('base64url')}`, prefix };
}

export interface NewKeyOptions {
  /** Requests per minute; null: the server's default; 0: unlimited. */
  rateLimit?: number | null;
  /** What the key is for ("CI bot"); shown by `keys list` and in the API log. */
  name?: string | null;
}

/** The longest key name; it is copied into every API log row the key makes. */
export const MAX_KEY_NAME_LENGTH = 100;

export async function createKey(db: Kysely<Database>, projectName: string, options: NewKeyOptions = {}) {
  const name = options.name?.trim() || null;
  if (name !== null && name.length > MAX_KEY_NAME_LENGTH) throw new RangeError(`a key name is at most ${MAX_KEY_NAME_LENGTH} characters`);
  return db.transaction().execute(async (tx) => {
    const project = await repo.findOrCreateProject(tx, projectName);
    const { key, prefix } = newKey();
    const id = await repo.insertKey(tx, { projectId: project.id, prefix, hash: hashKey(key), rateLimit: options.rateLimit ?? null, name });
    return { key, prefix, id, name, project };
  });
}

export const listKeys = (db: Kysely<Database>) => repo.listKeys(db);

export async function revokeKey(db: Kysely<Database>, prefix: string): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const revoked = await repo.revokeKey(tx, prefix);
    // Delivered to every listening node when this transaction commits.
    if (revoked > 0) await sql`SELECT pg_notify(${KEY_REVOKED_CHANNEL}, ${prefix})`.execute(tx);
    return revoked > 0;
  });
}

/**
 * On an empty database: create the default project and its first key (returned once). The
 * server calls it only once it listens, so that a start that fails cannot create a key that
 * nobody was shown.
 */
export async function bootstrapDefaultProject(db: Kysely<Database>): Promise<string | null> {
  if ((await repo.countProjects(db)) > 0) return null;
  const { key } = await createKey(db, 'default');
  return key;
}

export async function hasActiveKey(db: Kysely<Database>): Promise<boolean> {
  return (await repo.countActiveKeys(db)) > 0;
}

export class KeyAuthenticator {
  private readonly cache = new Map<string, { auth: AuthenticatedKey | null; hash: Buffer; expires: number }>();
  /** Bumped by every revocation notice: a lookup that was pending meanwhile must not cache its (stale) row. */
  private generation = 0;

  constructor(private readonly db: Kysely<Database>, private readonly now: () => number = Date.now) {}

  async authenticate(presented: string | undefined): Promise<AuthenticatedKey | null> {
    if (!presented) return null;
    const match = KEY_PATTERN.exec(presented);
    if (!match) return null;
    const prefix = match[1]!;
    const hash = hashKey(presented);
    const cached = this.cache.get(prefix);
    if (cached && cached.expires > this.now()) {
      return cached.auth !== null && timingSafeEqual(cached.hash, hash) ? cached.auth : null;
    }
    const generation = this.generation;
    const row = await repo.findKeyByPrefix(this.db, prefix);
    // Cached whatever the presented secret: guesses at a key, or keys that do not exist or were
    // revoked, are then answered from memory instead of costing a query each.
    const valid = row !== undefined && row.revoked_at === null;
    const entry = {
      auth: valid ? { keyId: row.id, keyName: row.name, keyPrefix: prefix, projectId: row.project_id, rateLimit: row.rate_limit_per_minute } : null,
      hash: valid ? row.key_hash : Buffer.alloc(hash.length),
      expires: this.now() + CACHE_TTL_MS,
    };
    if (generation === this.generation) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(prefix, entry);
    }
    return entry.auth !== null && entry.hash.length === hash.length && timingSafeEqual(entry.hash, hash) ? entry.auth : null;
  }

  forget(prefix: string): void {
    this.generation += 1;
    this.cache.delete(prefix);
  }

  /** When the revocation channel cannot be trusted (reconnecting), trust nothing cached. */
  forgetAll(): void {
    this.generation += 1;
    this.cache.clear();
  }
}
