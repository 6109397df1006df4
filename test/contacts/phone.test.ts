// Unit tests of src/contacts/phone.ts: written phone numbers → WhatsApp IDs, and the Brazilian
// ninth-digit variant.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { brazilianVariant, normalisePhone } from '../../src/contacts/phone.ts';

test('normalisePhone: common written forms with a country code become E.164 digits', () => {
  const cases: [string, string][] = [
    ['15551234567', '15551234567'],
    ['+15551234567', '15551234567'],
    ['+1 555-123-4567', '15551234567'],
    ['+1 (555) 123-4567', '15551234567'],
    ['1 (555) 123-4567', '15551234567'],
    ['1.555.123.4567', '15551234567'],
    ['+1/555/123/4567', '15551234567'],
    ['  +1 555 123 4567\t', '15551234567'],
    ['0015551234567', '15551234567'],
    ['00 44 20 7946 0958', '442079460958'],
    ['+44 20 7946 0958', '442079460958'],
    ['+55 11 98765-4321', '5511987654321'],
    ['551187654321', '551187654321'],
    ['+91 98765 43210', '919876543210'],
  ];
  for (const [input, expected] of cases) assert.equal(normalisePhone(input), expected, JSON.stringify(input));
});

test('normalisePhone: Meta test numbers (+1 555 …) are possible, so accepted, though not valid', () => {
  assert.equal(normalisePhone('+1 555 010 0001'), '15550100001');
  assert.equal(normalisePhone('15550000000'), '15550000000');
});

test('normalisePhone: what cannot be a phone number with a country code is null', () => {
  const rejected = [
    '',
    '   ',
    '(555) 123-4567',
    'abc',
    '+1 555 CALL NOW',
    '15551234567x',
    '+1 555 123 4567 ext 2',
    '++15551234567',
    '+0015551234567',
    '12345',
    '+1 555 123 456',
    '1'.repeat(16),
    `+1${' '.repeat(40)}5551234567`,
    'US.13491208655302741918',
    'US.ENT.506847293015824',
    '123e4567-e89b-12d3-a456-426614174000',
    '\u0000',
    '+1\u00005551234567',
    '+１５５５１２３４５６７',
    '%2B15551234567',
  ];
  for (const input of rejected) assert.equal(normalisePhone(input), null, JSON.stringify(input));
});

test('brazilianVariant: adds or removes the mobile ninth digit, only for Brazilian mobiles', () => {
  assert.equal(brazilianVariant('5511987654321'), '551187654321');
  assert.equal(brazilianVariant('551187654321'), '5511987654321');
  assert.equal(brazilianVariant('5521999998888'), '552199998888');
  assert.equal(brazilianVariant('552199998888'), '5521999998888');
  for (const notOne of ['551133334444', '5511933334444', '15551234567', '', '55119876543210', '55118765432', '4411987654321', '5511a87654321']) {
    assert.equal(brazilianVariant(notOne), null, notOne);
  }
});

// ---- properties ---------------------------------------------------------------------------------

const COUNTRY_CODES = ['1', '7', '20', '27', '33', '34', '44', '49', '52', '54', '55', '61', '81', '86', '91', '234', '351', '380', '971', '998'];
const SEPARATORS = [' ', '-', '.', '/', '  ', ' - '];

/** Digits with a country code, sometimes possible numbers and sometimes not. */
const phoneDigits = fc.tuple(fc.constantFrom(...COUNTRY_CODES), fc.stringMatching(/^[0-9]{4,13}$/)).map(([cc, rest]) => cc + rest);

/** The same digits written with random separators and optional brackets around one group. */
const written = phoneDigits.chain((digits) =>
  fc.tuple(fc.array(fc.constantFrom(...SEPARATORS), { minLength: digits.length, maxLength: digits.length }), fc.array(fc.boolean(), { minLength: digits.length, maxLength: digits.length })).map(([seps, cuts]) => {
    let text = '+';
    for (let i = 0; i < digits.length; i++) text += digits.charAt(i) + (cuts[i] === true && i < digits.length - 1 ? (seps[i] ?? '') : '');
    return { digits, text };
  }),
);

/** Numbers with zeros after the country code: libphonenumber strips a national prefix there. */
const trunkZeros = fc.tuple(fc.constantFrom(...COUNTRY_CODES), fc.stringMatching(/^0{1,4}[0-9]{1,10}$/), fc.boolean()).map(([cc, rest, plus]) => `${plus ? '+' : ''}${cc}${rest}`);

const anyText = fc.oneof(
  trunkZeros,
  fc.string({ maxLength: 50 }),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.stringMatching(/^[+0-9 ().\-/]{0,45}$/),
  written.map((w) => w.text),
  phoneDigits,
);

test('property: normalisePhone returns null or 7–15 digits, and is idempotent on its output', () => {
  fc.assert(
    fc.property(anyText, (input) => {
      const result = normalisePhone(input);
      if (result === null) return;
      assert.match(result, /^[1-9]\d{6,14}$/, `${JSON.stringify(input)} → ${result}`);
      assert.equal(normalisePhone(result), result, `not idempotent on ${result}`);
      assert.equal(normalisePhone(`+${result}`), result, `+${result}`);
    }),
    { numRuns: 3000 },
  );
});

test('property: separators do not change the number', () => {
  fc.assert(
    fc.property(written, ({ digits, text }) => {
      // Inputs over 40 characters are refused whatever they hold (a test above): not this property's concern.
      fc.pre(text.length <= 40);
      assert.equal(normalisePhone(text), normalisePhone(`+${digits}`), text);
      assert.equal(normalisePhone(text.slice(1)), normalisePhone(digits), text.slice(1));
    }),
    { numRuns: 2000 },
  );
});

test('property: some random numbers are accepted (the properties above are not vacuous)', () => {
  const samples = fc.sample(written, { numRuns: 500, seed: 42 });
  const accepted = samples.filter(({ text }) => normalisePhone(text) !== null).length;
  assert.ok(accepted > 50, `only ${accepted} of 500 accepted`);
});

test('property: brazilianVariant is its own inverse and keeps the area code', () => {
  const brazil = fc.tuple(fc.stringMatching(/^[1-9][0-9]$/), fc.boolean(), fc.stringMatching(/^[0-9]{8}$/)).map(([area, nine, rest]) => `55${area}${nine ? '9' : ''}${rest}`);
  fc.assert(
    fc.property(fc.oneof(brazil, phoneDigits, fc.stringMatching(/^[0-9]{0,16}$/)), (waId) => {
      const variant = brazilianVariant(waId);
      if (variant === null) return;
      assert.equal(brazilianVariant(variant), waId, `${waId} → ${variant} → back`);
      assert.equal(Math.abs(variant.length - waId.length), 1);
      assert.equal(variant.slice(0, 4), waId.slice(0, 4), 'same country and area code');
      assert.match(variant, /^55\d{10,11}$/);
    }),
    { numRuns: 3000 },
  );
});
