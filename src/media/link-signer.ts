// Short-lived, signed tokens for Parley's media download links. A link is fetched by clients
// that send no credentials (Kapso's SDK attaches keys only to its own hosts), so the token
// itself says what may be downloaded, for which project, until when. HMAC-SHA256 with a key
// derived from the server's secret: every node that shares the secret verifies every node's links.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** A file Meta holds: the number whose token fetches it, Meta's media id and (when known) its url. */
export interface MetaMediaGrant {
  kind: 'meta';
  projectId: string;
  phoneNumberId: string;
  mediaId: string;
  /** Meta's file URL; without it the media object is fetched again to learn it. */
  url: string | null;
}

/** A file Parley stored (inbound media): its media_files id. */
export interface StoredMediaGrant {
  kind: 'stored';
  projectId: string;
  fileId: string;
}

export type MediaGrant = MetaMediaGrant | StoredMediaGrant;

interface Claims {
  k: 'm' | 's';
  p: string;
  n?: string;
  m?: string;
  u?: string;
  f?: string;
  /** Expiry in Unix seconds. */
  e: number;
}

export class MediaLinkSigner {
  constructor(
    private readonly key: Buffer,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** A token for the grant, valid for `ttlSeconds` from now, or until `expiresAt` when given. */
  sign(grant: MediaGrant, expiry: { ttlSeconds: number } | { expiresAt: Date }): { token: string; expiresAt: Date } {
    const expiresAt = 'expiresAt' in expiry ? expiry.expiresAt : new Date(this.now().getTime() + expiry.ttlSeconds * 1000);
    const e = Math.floor(expiresAt.getTime() / 1000);
    const claims: Claims =
      grant.kind === 'meta'
        ? { k: 'm', p: grant.projectId, n: grant.phoneNumberId, m: grant.mediaId, ...(grant.url ? { u: grant.url } : {}), e }
        : { k: 's', p: grant.projectId, f: grant.fileId, e };
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return { token: `${body}.${this.mac(body)}`, expiresAt: new Date(e * 1000) };
  }

  /** The grant of a token that this key signed and that has not expired; null otherwise. */
  verify(token: string): MediaGrant | null {
    const dot = token.indexOf('.');
    if (dot <= 0 || token.length > 8192) return null;
    const body = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.mac(body), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    let claims: Claims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Claims;
    } catch {
      return null;
    }
    if (typeof claims.e !== 'number' || claims.e * 1000 <= this.now().getTime() || typeof claims.p !== 'string') return null;
    if (claims.k === 'm' && typeof claims.n === 'string' && typeof claims.m === 'string') {
      return { kind: 'meta', projectId: claims.p, phoneNumberId: claims.n, mediaId: claims.m, url: typeof claims.u === 'string' ? claims.u : null };
    }
    if (claims.k === 's' && typeof claims.f === 'string') return { kind: 'stored', projectId: claims.p, fileId: claims.f };
    return null;
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}

/** What the media download route and its links need to know of the server. */
export const MEDIA_LINK_KEY_PURPOSE = 'media download links';
