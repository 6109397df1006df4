// Phone numbers as people write them → WhatsApp IDs (E.164 digits, no `+`).
//
// A number is accepted when it is *possible* for its country code (length rules), not only when
// it is *valid* in the numbering plan: Meta's test numbers (+1 555 …) are possible, not valid.
import { parsePhoneNumberFromString } from 'libphonenumber-js';

/** Returns E.164 digits, or null when the text cannot be a phone number. */
export function normalisePhone(input: string): string | null {
  const trimmed = input.trim();
  if (trimmed.length === 0 || trimmed.length > 40) return null;
  // Only digits and the usual separators; letters mean it is something else.
  if (!/^\+?[\d\s().\-/]+$/.test(trimmed)) return null;
  const international = trimmed.startsWith('+');
  // "(555) 123-4567" is a national form: a number that opens with an area code in brackets has
  // no country code ("1 (555) 123-4567" has one).
  if (!international && trimmed.startsWith('(')) return null;
  let digits = trimmed.replace(/\D/g, '');
  // Without a `+`, the number is read as international anyway (a WhatsApp ID has no `+`);
  // a leading 00 is the international call prefix used in most of the world.
  if (!international && digits.startsWith('00')) digits = digits.slice(2);
  if (digits.length < 7 || digits.length > 15) return null;
  const parsed = parsePhoneNumberFromString(`+${digits}`);
  if (!parsed || !parsed.countryCallingCode || !parsed.isPossible()) return null;
  // libphonenumber drops a national prefix written after the country code (+44 0 20 …). The
  // result must read back as itself (+86 0 0000 0000 would lose another digit on every reading,
  // +49 0 0000 would end up too short), or a WhatsApp ID would not find its own contact.
  const waId = parsed.number.slice(1);
  if (waId === digits) return waId; // read back unchanged: parsing is deterministic
  const again = parsePhoneNumberFromString(parsed.number);
  if (waId.length < 7 || !again || again.number !== parsed.number || !again.isPossible()) return null;
  return waId;
}

/**
 * Brazil added a leading 9 to mobile numbers; WhatsApp IDs exist in both forms. For a Brazilian
 * mobile number, the other form, or null when the number is not one.
 */
export function brazilianVariant(waId: string): string | null {
  const withNine = /^55(\d{2})9([6-9]\d{7})$/.exec(waId);
  if (withNine) return `55${withNine[1]}${withNine[2]}`;
  const withoutNine = /^55(\d{2})([6-9]\d{7})$/.exec(waId);
  if (withoutNine) return `55${withoutNine[1]}9${withoutNine[2]}`;
  return null;
}

/**
 * The WhatsApp IDs a number written in any common form may be stored as: its E.164 digits and,
 * for a Brazilian mobile number, the other form. null when the text cannot be a phone number.
 */
export function storedFormsOf(input: string): string[] | null {
  const waId = normalisePhone(input);
  if (waId === null) return null;
  const variant = brazilianVariant(waId);
  return variant === null ? [waId] : [waId, variant];
}
