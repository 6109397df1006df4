// Strong ETags for single resources: the resource id and its version counter, so that a
// contact erased and created again never reuses an old tag.
export function etagFor(id: string, version: number): string {
  return `"${id}.${version}"`;
}

function tags(header: string): string[] {
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .filter(Boolean);
}

export interface EntityTag {
  id: string;
  version: number;
}

/**
 * The resource states an `If-Match` header accepts: null when there is no condition (absent
 * header or `*`); otherwise the parsed tags (possibly none, when no tag is one of ours).
 */
export function parseIfMatch(header: string | undefined): EntityTag[] | null {
  if (header === undefined) return null;
  const list = tags(header);
  if (list.includes('*')) return null;
  const parsed: EntityTag[] = [];
  // If-Match compares strongly (RFC 9110 §13.1.1): a weak tag never matches.
  for (const tag of header.split(',').map((t) => t.trim())) {
    const match = /^"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(\d{1,9})"$/i.exec(tag);
    if (match) parsed.push({ id: match[1]!.toLowerCase(), version: Number(match[2]) });
  }
  return parsed;
}

/** Whether `If-None-Match` names the current tag (GET then answers 304). */
export function noneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const list = tags(header);
  return list.includes('*') || list.includes(etag);
}
