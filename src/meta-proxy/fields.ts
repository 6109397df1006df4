// The `fields` query parameter of the locally served proxy routes. Meta's field syntax is a comma
// list of names, each optionally followed by a nested selection (`a{b,c}`) or modifiers
// (`a.limit(5)`); Kapso adds `kapso(…)`, which chooses the keys of the item's `kapso` block:
//   absent, `kapso` or `kapso(default)` → the whole block; `kapso()` → no block; `kapso(a,b)` →
//   only those keys (names Parley does not have are simply not there).
// Meta's own names leave the item as it is: Parley serves its items whole, and the SDK asks for
// them only together with `kapso(…)`.
import { invalidParameter } from './errors.ts';

export type KapsoSelection = { kind: 'default' } | { kind: 'none' } | { kind: 'only'; keys: ReadonlySet<string> };

export const DEFAULT_SELECTION: KapsoSelection = { kind: 'default' };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
const LIMIT = 2000;

const malformed = (reason: string) => invalidParameter(`fields is malformed: ${reason}`);

/** Splits at the commas outside any brackets; refuses unbalanced brackets. */
function splitTopLevel(text: string): string[] {
  const items: string[] = [];
  const open: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '(' || ch === '{') open.push(ch);
    else if (ch === ')' || ch === '}') {
      if (open.pop() !== (ch === ')' ? '(' : '{')) throw malformed(`unexpected "${ch}" at position ${i + 1}`);
    } else if (ch === ',' && open.length === 0) {
      items.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (open.length > 0) throw malformed(`"${open.at(-1)}" is never closed`);
  items.push(text.slice(start));
  return items;
}

/** The keys inside `kapso(…)`: null for `default`, an empty set for `kapso()`. */
function kapsoKeys(rest: string): Set<string> | null {
  if (rest === '') return null;
  if (!rest.startsWith('(') || !rest.endsWith(')')) throw malformed(`kapso must be followed by a list in brackets, as in kapso(direction,status)`);
  const inner = rest.slice(1, -1);
  if (/[(){}]/.test(inner)) throw malformed('kapso(…) takes plain names');
  if (inner.trim() === '') return new Set();
  const keys = new Set<string>();
  for (const part of inner.split(',')) {
    const key = part.trim();
    if (key === 'default') return null;
    if (!NAME.test(key) || NAME.exec(key)![0] !== key) throw malformed(`"${key}" in kapso(…) is not a field name`);
    keys.add(key);
  }
  return keys;
}

export function parseFields(raw: string | undefined): KapsoSelection {
  if (raw === undefined || raw.trim() === '') return DEFAULT_SELECTION;
  if (raw.length > LIMIT) throw malformed(`longer than ${LIMIT} characters`);
  let sawKapso = false;
  let keys: Set<string> | null = new Set();
  for (const entry of splitTopLevel(raw)) {
    const item = entry.trim();
    if (item === '') throw malformed('an entry between commas is empty');
    const name = NAME.exec(item)?.[0];
    if (name === undefined) throw malformed(`"${item}" does not start with a field name`);
    const rest = item.slice(name.length).trim();
    if (name === 'kapso') {
      sawKapso = true;
      const chosen = kapsoKeys(rest);
      if (chosen === null) keys = null;
      else if (keys !== null) for (const key of chosen) keys.add(key);
    } else if (rest !== '' && !/^[{.(]/.test(rest)) {
      throw malformed(`"${item}" is not a field name, a nested selection or a modifier`);
    }
  }
  if (!sawKapso || keys === null) return DEFAULT_SELECTION;
  return keys.size === 0 ? { kind: 'none' } : { kind: 'only', keys };
}

/** The item with its `kapso` block cut to the selection (the item itself for the default). */
export function selectKapso<T extends { kapso?: unknown }>(item: T, selection: KapsoSelection): T {
  if (selection.kind === 'default') return item;
  const { kapso, ...rest } = item;
  if (selection.kind === 'none' || kapso === null || typeof kapso !== 'object') return rest as T;
  const block = kapso as Record<string, unknown>;
  const picked: Record<string, unknown> = {};
  for (const key of selection.keys) if (Object.hasOwn(block, key)) picked[key] = block[key];
  return { ...rest, kapso: picked } as T;
}
