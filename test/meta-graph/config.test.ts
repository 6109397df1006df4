// The Graph API settings: defaults, a tolerated trailing slash, and a clear refusal of values
// that cannot work.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { endpointLabel } from '../../src/meta-graph/client.ts';

test('PARLEY_META_GRAPH_URL defaults to Meta and loses a trailing slash', () => {
  assert.equal(loadConfig({}).metaGraphUrl, 'https://graph.facebook.com');
  assert.equal(loadConfig({ PARLEY_META_GRAPH_URL: 'http://127.0.0.1:4010/' }).metaGraphUrl, 'http://127.0.0.1:4010');
  assert.equal(loadConfig({ PARLEY_META_GRAPH_URL: 'http://127.0.0.1:4010/graph//' }).metaGraphUrl, 'http://127.0.0.1:4010/graph');
});

test('a Graph URL that is not http(s), or carries a query, stops the start naming the setting', () => {
  for (const value of ['graph.facebook.com', 'ftp://graph.facebook.com', 'https://graph.facebook.com/?x=1']) {
    assert.throws(() => loadConfig({ PARLEY_META_GRAPH_URL: value }), (error: unknown) => error instanceof ConfigError && /PARLEY_META_GRAPH_URL/.test(error.message));
  }
});

test('PARLEY_META_TIMEOUT_MS and PARLEY_PUBLIC_URL', () => {
  assert.equal(loadConfig({}).metaTimeoutMs, 15_000);
  assert.equal(loadConfig({ PARLEY_META_TIMEOUT_MS: '2500' }).metaTimeoutMs, 2500);
  assert.throws(() => loadConfig({ PARLEY_META_TIMEOUT_MS: '0' }), /PARLEY_META_TIMEOUT_MS/);
  assert.equal(loadConfig({}).publicUrl, null);
  assert.equal(loadConfig({ PARLEY_PUBLIC_URL: 'https://wa.example.com/' }).publicUrl, 'https://wa.example.com');
  assert.throws(() => loadConfig({ PARLEY_PUBLIC_URL: 'wa.example.com' }), /PARLEY_PUBLIC_URL/);
});

test('metric labels keep edge names and hide ids', () => {
  assert.equal(endpointLabel('106540352242922/messages'), '{id}/messages');
  assert.equal(endpointLabel('102290129340398/message_templates'), '{id}/message_templates');
  assert.equal(endpointLabel('1234567890'), '{id}');
  assert.equal(endpointLabel(''), '/');
});
