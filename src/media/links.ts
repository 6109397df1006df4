// The links Parley hands out for media: short-lived ones for files Meta holds (the proxy's
// media.get), longer ones for files Parley stored (inbound media on messages). Both point at
// the one download route, which needs no API key: the signed token is the credential.
import type { FastifyRequest } from 'fastify';
import type { MediaLinkSigner, MetaMediaGrant } from './link-signer.ts';

export const MEDIA_DOWNLOAD_PATH = '/meta/whatsapp/media_download';
/** A link to a file at Meta lives 4 minutes, less than the 5 Meta's own URL does. */
export const META_LINK_SECONDS = 240;
/**
 * A stored file's link is valid 12 to 24 hours: its expiry is rounded to a 12-hour boundary, so
 * that the same message reads the same within a window (stable bodies, caches and ETags).
 */
const STORED_WINDOW_MS = 12 * 60 * 60 * 1000;

/** Builds a stored file's link for the project of one request. */
export type StoredMediaLink = (fileId: string) => string;

export class MediaLinks {
  constructor(
    private readonly signer: MediaLinkSigner,
    /** PARLEY_PUBLIC_URL; null: from each request's Host. */
    private readonly publicUrl: string | null,
    private readonly now: () => Date = () => new Date(),
  ) {}

  base(request: FastifyRequest): string {
    return this.publicUrl ?? `${request.protocol}://${request.host}`;
  }

  /** `download_url` and its expiry for a media object Meta answered. */
  forMetaMedia(base: string, grant: Omit<MetaMediaGrant, 'kind'>): { download_url: string; download_url_expires_at: string } {
    const { token, expiresAt } = this.signer.sign({ kind: 'meta', ...grant }, { ttlSeconds: META_LINK_SECONDS });
    return { download_url: `${base}${MEDIA_DOWNLOAD_PATH}?token=${token}`, download_url_expires_at: expiresAt.toISOString() };
  }

  /** Links to the stored files of `projectId`, as the answer to `request` shows them. */
  storedFor(request: FastifyRequest, projectId: string): StoredMediaLink {
    const base = this.base(request);
    const expiresAt = new Date((Math.floor(this.now().getTime() / STORED_WINDOW_MS) + 2) * STORED_WINDOW_MS);
    return (fileId) => `${base}${MEDIA_DOWNLOAD_PATH}?token=${this.signer.sign({ kind: 'stored', projectId, fileId }, { expiresAt }).token}`;
  }
}
