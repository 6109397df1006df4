// The media fields of a message's `kapso` block, from the stored file joined to the message:
// `media_url` (a Parley link serving the stored bytes) and `media_data` (url, filename,
// content_type, byte_size). A media message whose file is not fetched yet has neither.
import { Type } from 'typebox';
import type { StoredMediaLink } from './links.ts';

/** The media_files columns a message read joins in (null: nothing stored). */
export interface MessageMediaColumns {
  type: string;
  payload: unknown;
  media_file_id: string | null;
  media_mime_type: string | null;
  media_filename: string | null;
  media_byte_size: number | null;
}

/** Schema properties of the fields, for the message schema's `kapso` block. */
export const MessageMediaProperties = {
  media_url: Type.Optional(Type.String({ format: 'uri', description: 'Link to the stored file (no API key needed; valid at least 12 hours)' })),
  media_data: Type.Optional(
    Type.Object(
      {
        url: Type.Optional(Type.String({ format: 'uri', description: 'The same link as media_url' })),
        filename: Type.String({ description: "The file's name: the sender's for documents, else made from the media id" }),
        content_type: Type.String({ description: 'MIME type, as Meta gave it' }),
        byte_size: Type.Integer({ minimum: 0 }),
      },
      { description: 'The stored file, once Parley has fetched it from Meta' },
    ),
  ),
};

const EXTENSIONS: Record<string, string> = {
  'image/jpeg': 'jpg', 'image/png': 'png', 'image/webp': 'webp', 'audio/ogg': 'ogg', 'audio/mpeg': 'mp3', 'audio/mp4': 'm4a',
  'audio/aac': 'aac', 'audio/amr': 'amr', 'video/mp4': 'mp4', 'video/3gpp': '3gp', 'application/pdf': 'pdf', 'text/plain': 'txt',
};

function fallbackName(row: MessageMediaColumns): string {
  const media = (row.payload as Record<string, { id?: unknown } | undefined> | null)?.[row.type];
  const stem = typeof media?.id === 'string' ? `${row.type}-${media.id}` : row.type;
  const ext = EXTENSIONS[(row.media_mime_type ?? '').split(';')[0]!.trim()];
  return ext ? `${stem}.${ext}` : stem;
}

/** `{media_url, media_data}` when the file is stored; `{}` otherwise. Without `link`, no URLs. */
export function messageMediaFields(row: MessageMediaColumns, link: StoredMediaLink | undefined): Record<string, unknown> {
  if (row.media_file_id === null || row.media_file_id === undefined) return {};
  const url = link?.(row.media_file_id);
  const data = {
    ...(url ? { url } : {}),
    filename: row.media_filename ?? fallbackName(row),
    content_type: row.media_mime_type ?? 'application/octet-stream',
    byte_size: Number(row.media_byte_size ?? 0),
  };
  return url ? { media_url: url, media_data: data } : { media_data: data };
}
