// LIKE / ILIKE patterns from user text: the text is matched literally (its % and _ are escaped).
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
