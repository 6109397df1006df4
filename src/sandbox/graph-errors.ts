// Errors as the Graph API writes them. Clients (Parley's proxy, Kapso's SDK) read `code`,
// `error_subcode`, `type` and `error_data.details`, so the stand-in answers in exactly this shape.
import { randomBytes } from 'node:crypto';

export interface GraphErrorBody {
  error: {
    message: string;
    type: string;
    code: number;
    error_subcode?: number;
    error_data?: { messaging_product: 'whatsapp'; details: string };
    fbtrace_id: string;
  };
}

export function fbtraceId(): string {
  return `A${randomBytes(16).toString('base64url').slice(0, 22)}`;
}

export class GraphError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: number,
    readonly options: { subcode?: number; details?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
  }

  body(): GraphErrorBody {
    return {
      error: {
        message: this.message,
        type: this.type,
        code: this.code,
        ...(this.options.subcode === undefined ? {} : { error_subcode: this.options.subcode }),
        ...(this.options.details === undefined ? {} : { error_data: { messaging_product: 'whatsapp' as const, details: this.options.details } }),
        fbtrace_id: fbtraceId(),
      },
    };
  }
}

export const missingToken = () => new GraphError(401, 'An access token is required to request this resource.', 'OAuthException', 190);
export const wrongToken = () => new GraphError(401, 'Error validating access token: the token does not belong to this object or has expired.', 'OAuthException', 190);

/** The WhatsApp APIs report bad parameters as code 100 with the reason in error_data.details. */
export const invalidParameter = (details: string) => new GraphError(400, '(#100) Invalid parameter', 'OAuthException', 100, { details });

/** What Meta answers for an id it does not know, or a path it does not serve. */
export function unsupported(method: string, id: string): GraphError {
  return new GraphError(
    400,
    `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
    'GraphMethodException',
    100,
    { subcode: 33 },
  );
}
