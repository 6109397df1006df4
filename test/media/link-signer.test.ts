// The download link tokens on their own: what a token grants, when it stops working, and that
// only the key that signed it (derived from the server secret) accepts it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { MediaLinkSigner } from '../../src/media/link-signer.ts';
import { TokenCipher } from '../../src/phone-numbers/token-cipher.ts';

const grant = { kind: 'meta' as const, projectId: 'p1', phoneNumberId: '123', mediaId: '456', url: 'https://lookaside.example/x?mid=456' };

test('a token carries its grant until it expires, by the injected clock', () => {
  let now = new Date('2026-12-07T12:00:00Z');
  const signer = new MediaLinkSigner(randomBytes(32), () => now);
  const { token, expiresAt } = signer.sign(grant, { ttlSeconds: 240 });
  assert.equal(expiresAt.toISOString(), '2026-12-07T12:04:00.000Z');
  assert.deepEqual(signer.verify(token), grant);
  now = new Date('2026-12-07T12:03:59Z');
  assert.deepEqual(signer.verify(token), grant);
  now = new Date('2026-12-07T12:04:00Z');
  assert.equal(signer.verify(token), null);
});

test('stored-file grants round-trip; any changed byte or another key is refused', () => {
  const key = randomBytes(32);
  const signer = new MediaLinkSigner(key);
  const stored = { kind: 'stored' as const, projectId: 'p1', fileId: 'f1' };
  const { token } = signer.sign(stored, { ttlSeconds: 60 });
  assert.deepEqual(signer.verify(token), stored);
  assert.equal(new MediaLinkSigner(randomBytes(32)).verify(token), null);
  for (let i = 0; i < token.length; i += 7) {
    const flipped = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
    if (flipped !== token) assert.equal(signer.verify(flipped), null, `changed at ${i}`);
  }
  assert.equal(signer.verify(''), null);
  assert.equal(signer.verify('.'), null);
  assert.equal(signer.verify('abc'), null);
});

test('the derived key differs by purpose and from the secret itself', () => {
  const secret = randomBytes(32);
  const cipher = new TokenCipher(secret);
  const links = cipher.deriveKey('media download links');
  assert.equal(links.length, 32);
  assert.notDeepEqual(links, secret);
  assert.notDeepEqual(links, cipher.deriveKey('something else'));
  assert.deepEqual(links, new TokenCipher(secret).deriveKey('media download links'), 'every node with the secret derives the same key');
});
