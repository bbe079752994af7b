import * as z from 'zod';
import '../foundation/zod-openapi.ts';
import { badRequest } from '../foundation/errors.ts';
import type { DestinationGuard } from './guard.ts';

/**
 * The payload of an `http` task: what to send where. Validated at submit (400 naming the
 * field, `payload.url: …`) and parsed again before each attempt, with the same schema.
 */

export const httpMethods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * Headers a task may not set: hop-by-hop ones (RFC 9110 §7.6.1) and `host` belong to the
 * connection, `content-length` is computed, and the `webhook-*` headers carry the signature.
 */
const FORBIDDEN_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_URL_LENGTH = 4096;

export interface HttpPayload {
  url: string;
  method: (typeof httpMethods)[number];
  headers: Record<string, string>;
  /** A string is sent as is; anything else as JSON. Undefined: no body. */
  body?: unknown;
  timeout_seconds: number;
  callback_url?: string;
  failure_callback_url?: string;
}

export const httpUrlField = z
  .string({ error: 'must be a URL string' })
  .max(MAX_URL_LENGTH, { error: `must be at most ${MAX_URL_LENGTH} characters` })
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an absolute http or https URL' });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must use http or https' });
    else if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'must not contain credentials (send them in headers)' });
  });

const headersField = z
  .record(z.string(), z.string({ error: 'header values must be strings' }), { error: 'must be an object of header names to strings' })
  .superRefine((headers, ctx) => {
    for (const [name, value] of Object.entries(headers)) {
      if (!TOKEN.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'is not a valid header name' });
      else if (FORBIDDEN_HEADERS.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: [name], message: 'may not be set (hop-by-hop, host, length or signature header)' });
      else if (/[\r\n\0]/.test(value)) ctx.addIssue({ code: 'custom', path: [name], message: 'must not contain CR, LF or NUL' });
    }
  });

/** The schema, with `timeout_seconds` bounded by TASK_TIMEOUT_SECONDS. */
export function httpPayloadSchema(maxTimeoutSeconds: number) {
  return z
    .object(
      {
        url: httpUrlField.openapi({ description: 'http or https; the SSRF guard applies', example: 'https://api.example.com/hooks/paid' }),
        method: z
          .string({ error: 'must be a string' })
          .transform((m) => m.toUpperCase())
          .pipe(z.enum(httpMethods, { error: `must be one of ${httpMethods.join(', ')}` }))
          .default('POST')
          .openapi({ description: 'Default POST.' }),
        headers: headersField.default({}).openapi({ description: 'Sent as is; no hop-by-hop headers, host or content-length.' }),
        body: z.unknown().optional().openapi({ description: 'A string is sent as is; any other JSON value as JSON with content-type application/json.' }),
        timeout_seconds: z
          .number({ error: 'must be a number of seconds' })
          .positive({ error: 'must be positive' })
          .max(maxTimeoutSeconds, { error: `must be at most TASK_TIMEOUT_SECONDS (${maxTimeoutSeconds})` })
          .default(Math.min(30, maxTimeoutSeconds))
          .openapi({ description: 'Per attempt; default 30, at most TASK_TIMEOUT_SECONDS.' }),
        callback_url: httpUrlField.optional().openapi({ description: 'Receives the finished task as JSON (an `http` task) when this one completes.' }),
        failure_callback_url: httpUrlField
          .optional()
          .openapi({ description: 'Receives the finished task as JSON (an `http` task) when this one fails for good.' }),
      },
      { error: 'must be an object (see HttpPayload)' },
    )
    .strict()
    .superRefine((payload, ctx) => {
      if ((payload.method === 'GET' || payload.method === 'HEAD') && payload.body !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['body'], message: `must be absent for ${payload.method}` });
      }
    });
}

/** For GET /openapi.json: the shape with the default bound. */
export const HttpPayloadDoc = httpPayloadSchema(300).openapi('HttpPayload', {
  description: 'The payload of a task of type `http` (docs/http-tasks.md).',
});

/**
 * Parses a payload; throws a 400 AppError naming the field (`payload.headers.Host: …`), also
 * when a URL's literal host is refused by the guard.
 */
export function parseHttpPayload(payload: unknown, schema: ReturnType<typeof httpPayloadSchema>, guard: DestinationGuard): HttpPayload {
  const parsed = schema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = ['payload', ...issue.path.map(String)].join('.');
    const message = issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}` : issue.message;
    throw badRequest(`${field}: ${message}`, 'invalid_field');
  }
  const value = parsed.data as HttpPayload;
  for (const field of ['url', 'callback_url', 'failure_callback_url'] as const) {
    const url = value[field];
    if (url === undefined) continue;
    const refusal = guard.checkHost(new URL(url).hostname);
    if (refusal) throw badRequest(`payload.${field}: ${refusal}`, 'destination_refused');
  }
  return value;
}
