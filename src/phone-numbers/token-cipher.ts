// Access tokens at rest: AES-256-GCM with the server's secret key. A sealed token is
// version byte · 12-byte nonce · 16-byte tag · ciphertext. Tokens never leave this module in
// clear except to the code that calls Meta.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

const VERSION = 1;

export class TokenCipher {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the secret key must be 32 bytes');
  }

  seal(plain: string): Buffer {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), nonce, cipher.getAuthTag(), body]);
  }

  open(sealed: Buffer): string {
    if (sealed[0] !== VERSION) throw new Error('unknown sealed token version');
    const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(1, 13));
    decipher.setAuthTag(sealed.subarray(13, 29));
    return Buffer.concat([decipher.update(sealed.subarray(29)), decipher.final()]).toString('utf8');
  }

  /**
   * A key of its own for another use of the secret (signing media download links), derived so
   * that neither use can stand in for the other and the secret itself never leaves this class.
   */
  deriveKey(purpose: string): Buffer {
    return createHmac('sha256', this.key).update(`parley derived key: ${purpose}`).digest();
  }

  /** A value that identifies the key without revealing it, to detect nodes with different keys. */
  fingerprint(): string {
    return createHmac('sha256', this.key).update('parley secret key check').digest('hex');
  }
}

/** The configured key, or one generated once into the data directory (embedded setups). */
export function loadOrCreateSecretKey(configured: Buffer | null, dataDir: string): { key: Buffer; generated: boolean } {
  if (configured) return { key: configured, generated: false };
  const file = path.join(dataDir, 'secret.key');
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${file} does not hold a 32-byte hex key`);
    return { key: Buffer.from(text, 'hex'), generated: false };
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  fs.writeFileSync(file, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  return { key, generated: true };
}

/**
 * Records the key's fingerprint on first use and refuses a different key later: a node started
 * with another key could not read the tokens the others wrote.
 */
export async function checkSecretKey(db: Kysely<Database>, cipher: TokenCipher): Promise<void> {
  const fingerprint = cipher.fingerprint();
  await db.insertInto('settings').values({ key: 'secret_key_fingerprint', value: fingerprint }).onConflict((oc) => oc.column('key').doNothing()).execute();
  const stored = await db.selectFrom('settings').select('value').where('key', '=', 'secret_key_fingerprint').executeTakeFirstOrThrow();
  if (stored.value !== fingerprint) {
    throw new Error('PARLEY_SECRET_KEY differs from the key this database was first used with; every node must use the same key');
  }
}
