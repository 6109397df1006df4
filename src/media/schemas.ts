// Wire schemas of POST /whatsapp/media: ingest a file from a public URL and upload it to Meta.
import { Type, type Static } from 'typebox';
import { authErrors, errorResponse } from '../http/errors.ts';
import { success } from '../http/openapi.ts';

export const DELIVERIES = ['meta_media', 'meta_resumable_asset'] as const;

export const MediaIngestBody = Type.Object(
  {
    media_ingest: Type.Object(
      {
        phone_number_id: Type.String({ minLength: 1, description: "Meta's id of the connected number the media is for" }),
        source: Type.String({ minLength: 1, maxLength: 4096, description: 'Public http(s) URL Parley downloads the file from' }),
        delivery: Type.Optional(Type.String({ enum: [...DELIVERIES], default: 'meta_media', description: 'meta_media: a media id for sending (Meta keeps it 30 days)' })),
        filename: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: "The file's name; else taken from the source" })),
        mime_type: Type.Optional(Type.String({ minLength: 3, maxLength: 255, description: 'The MIME type; else the one the source answers with' })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, examples: [{ media_ingest: { phone_number_id: '106540352242922', source: 'https://cdn.example.com/invoice.pdf', filename: 'invoice.pdf' } }] },
);
export type MediaIngestBody = Static<typeof MediaIngestBody>;

const MediaIngestData = Type.Object({
  ingest_id: Type.String({ format: 'uuid', description: 'Id of this ingest, for your logs' }),
  target: Type.Object({
    kind: Type.String({ enum: [...DELIVERIES] }),
    media_id: Type.Optional(Type.String({ description: "Meta's media id, to send the file with" })),
    handle: Type.Optional(Type.String()),
  }),
  resource: Type.Object({
    filename: Type.String(),
    mime_type: Type.String(),
    size_bytes: Type.Integer({ minimum: 0 }),
    sha256: Type.String({ description: 'SHA-256 of the bytes uploaded, hex' }),
    source_url: Type.String({ format: 'uri' }),
  }),
});
export type MediaIngestData = Static<typeof MediaIngestData>;

const EXAMPLE = {
  data: {
    ingest_id: '8a9b0c1d-2e3f-4a5b-8c7d-8e9f0a1b2c3d',
    target: { kind: 'meta_media', media_id: '1234567890123456' },
    resource: { filename: 'invoice.pdf', mime_type: 'application/pdf', size_bytes: 48213, sha256: '69da8b7d9c0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a', source_url: 'https://cdn.example.com/invoice.pdf' },
  },
};

export const ingestMediaSchema = {
  tags: ['Media'],
  operationId: 'uploadWhatsappMedia',
  summary: 'Upload media from a URL',
  description:
    'Downloads the file at `source` (public addresses only) and uploads it to Meta for the number; send it with the returned `media_id`. ' +
    'Limits: images 5 MB, audio and video 16 MB, documents 100 MB.',
  body: MediaIngestBody,
  response: {
    200: success(Type.Object({ data: MediaIngestData }), 'The file was uploaded to Meta', { example: EXAMPLE }),
    400: errorResponse('The source URL or the file type is not usable'),
    403: errorResponse('The source resolves to a private or internal address'),
    404: errorResponse('No such connected number in this project'),
    413: errorResponse('The file is larger than its type allows'),
    422: errorResponse('The body does not match the schema'),
    502: errorResponse('Meta refused the upload or could not be reached'),
    ...authErrors,
  },
};
