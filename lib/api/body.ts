import type { Context } from 'hono';
import type { z } from 'zod';
import { AppError, badRequest } from '../foundation/errors.ts';

/**
 * Reads a JSON request body under a byte limit. JSON is `application/json` (any parameters) or
 * `application/*+json`. A missing Content-Type is read as JSON, and so is
 * `application/x-www-form-urlencoded`: that is what `curl -d '{…}'` sends when the user forgot
 * `-H 'Content-Type: application/json'`, and no client sends a real form to this API.
 * Anything else is 415. `options.empty` is what an empty body reads as, for routes whose
 * every field is optional (POST /workflows/:name/runs); without it an empty body is invalid JSON.
 */
export async function readJsonBody(c: Context, maxBytes: number, options: { empty?: unknown } = {}): Promise<unknown> {
  const type = c.req.header('content-type');
  if (type !== undefined && type.trim() !== '') {
    const mediaType = type.split(';')[0]!.trim().toLowerCase();
    const json = mediaType === 'application/json' || /^application\/[^/]+\+json$/.test(mediaType);
    if (!json && mediaType !== 'application/x-www-form-urlencoded') {
      throw new AppError(415, 'unsupported_media_type', 'Content-Type must be application/json');
    }
  }
  const tooLarge = () => new AppError(413, 'payload_too_large', `request body must be at most ${maxBytes} bytes`);
  const declared = c.req.header('content-length');
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge();

  // The client hung up or was cut off (SERVER_REQUEST_TIMEOUT_SECONDS) before sending the whole
  // body: its fault, not ours, and no stack in the log per slow client.
  const incomplete = () => badRequest('request body ended before it was complete', 'body_incomplete');
  let bytes: Uint8Array;
  const body = declared !== undefined && /^\d+$/.test(declared) ? undefined : c.req.raw.body;
  if (body === undefined) {
    // A declared length within the limit (checked above; the HTTP parser delivers exactly that
    // many bytes): read it whole. Touching `body` would make @hono/node-server build a web
    // ReadableStream over the socket, the largest cost of a submit after the commit
    // (POST /tasks, 50 connections: 5,640 → 10,820 req/s; bench/README.md, "body without a
    // web stream").
    bytes = new Uint8Array(
      await c.req.raw.arrayBuffer().catch((): never => {
        throw incomplete();
      }),
    );
  } else if (!body) {
    bytes = new Uint8Array(0);
  } else {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read().catch((): never => {
        throw incomplete();
      });
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
    bytes = chunks.length === 1 ? chunks[0]! : concat(chunks, size);
  }
  if (bytes.byteLength === 0 && options.empty !== undefined) return options.empty;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw badRequest('request body is not valid UTF-8', 'invalid_json');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('invalid JSON payload', 'invalid_json');
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Validates with a zod schema; the first issue becomes a 400 whose message names the field. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, code = 'invalid_field'): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw validationError(parsed.error, code);
}

/** A zod error as the API reports it: 400, the first issue's message, naming its field. */
export function validationError(error: z.ZodError, code: string): AppError {
  const issue = error.issues[0]!;
  const field = issue.path.map(String).join('.');
  // Our schemas put the field name in every message; zod's own messages get it prefixed. The
  // name must stand as a word: `id` is not named by "Invalid input".
  const named = new RegExp(`(^|[^\\w.])${field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\w.])`).test(issue.message);
  const message = field && !named ? `${field}: ${issue.message}` : issue.message;
  return badRequest(message, code);
}
