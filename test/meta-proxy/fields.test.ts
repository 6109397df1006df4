// The `fields` parameter as a pure function: which kapso keys a value selects, and which values
// are refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetaError } from '../../src/meta-proxy/errors.ts';
import { type KapsoSelection, parseFields, selectKapso } from '../../src/meta-proxy/fields.ts';

const keys = (selection: KapsoSelection) => (selection.kind === 'only' ? [...selection.keys].sort() : selection.kind);

test('absent, empty, bare kapso and kapso(default) select the default block', () => {
  for (const raw of [undefined, '', '  ', 'kapso', 'kapso(default)', 'kapso( default )', 'kapso(status,default)', 'id,type', 'kapso(), kapso(default)']) {
    assert.equal(keys(parseFields(raw)), 'default', String(raw));
  }
});

test('kapso() selects nothing; names select only themselves, across several kapso entries', () => {
  assert.equal(keys(parseFields('kapso()')), 'none');
  assert.equal(keys(parseFields('id,kapso( ),type')), 'none');
  assert.deepEqual(keys(parseFields('kapso(status,direction)')), ['direction', 'status']);
  assert.deepEqual(keys(parseFields(' kapso( status , status ) ')), ['status']);
  assert.deepEqual(keys(parseFields('kapso(status),kapso(content)')), ['content', 'status']);
  assert.deepEqual(keys(parseFields('kapso(),kapso(content)')), ['content']);
});

test("Meta's own syntax around kapso(…) is accepted and left alone", () => {
  assert.deepEqual(keys(parseFields('id,text{body},contacts.limit(2){name},kapso(status)')), ['status']);
  assert.equal(keys(parseFields('name,components{type,text},status')), 'default');
});

test('malformed values are refused with a 400 that names fields', () => {
  for (const raw of ['kapso(', 'kapso)', 'kapso(a))', 'kapso(a b)', 'kapso(a.b)', 'kapso{a}', 'kapso(a(b))', 'a,,b', ',', 'a,', 'id type', '(x)', '9lives', 'kapso(1a)', 'x'.repeat(2001)]) {
    assert.throws(
      () => parseFields(raw),
      (error: unknown) => error instanceof MetaError && error.status === 400 && error.code === 100 && error.message.startsWith('fields is malformed'),
      raw,
    );
  }
});

test('selectKapso cuts the block and leaves the rest of the item', () => {
  const item = { id: 'x', kapso: { direction: 'inbound', status: 'read', content: null } };
  assert.equal(selectKapso(item, { kind: 'default' }), item);
  assert.deepEqual(selectKapso(item, { kind: 'none' }), { id: 'x' });
  assert.deepEqual(selectKapso(item, { kind: 'only', keys: new Set(['content', 'missing']) }), { id: 'x', kapso: { content: null } });
  assert.deepEqual(item.kapso, { direction: 'inbound', status: 'read', content: null }, 'the item itself is not changed');
  assert.deepEqual(selectKapso({ id: 'y' } as { id: string; kapso?: unknown }, { kind: 'none' }), { id: 'y' });
});
