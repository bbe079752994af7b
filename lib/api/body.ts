import type { Context } from 'hono';
import type { z } from 'zod';
import { AppError, badRequest } from '../foundation/errors.ts';
import type { BodyMemory } from './body-memory.ts';

/**
 * Reads a JSON request body under a byte limit, counted against `memory`
 * (MAX_BODY_MEMORY_BYTES, body-memory.ts) until the request is answered. JSON is
 * `application/json` (any parameters) or `application/*+json`. A missing Content-Type is read
 * as JSON, and so is `application/x-www-form-urlencoded`: that is what `curl -d '{…}'` sends
 * when the user forgot `-H 'Content-Type: application/json'`, and no client sends a real form
 * to this API. Anything else is 415. `options.empty` is what an empty body reads as, for routes
 * whose every field is optional (POST /workflows/:name/runs); without it an empty body is
 * invalid JSON.
 */
export async function readJsonBody(c: Context, maxBytes: number, memory: BodyMemory, options: { empty?: unknown } = {}): Promise<unknown> {
  const type = c.req.header('content-type');
  if (type !== undefined && type.trim() !== '') {
    const mediaType = type.split(';')[0]!.trim().toLowerCase();
    const json = mediaType === 'application/json' || /^application\/[^/]+\+json$/.test(mediaType);
    if (!json && mediaType !== 'application/x-www-form-urlencoded') {
      throw new AppError(415, 'unsupported_media_type', 'Content-Type must be application/json');
    }
  }
  const tooLarge = () => new AppError(413, 'payload_too_large', `request body must be at most ${maxBytes} bytes`);
  const header = c.req.header('content-length');
  if (header !== undefined && Number(header) > maxBytes) throw tooLarge();
  const declared = header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
  const request = c.req.raw;
  // A declared body is counted before a byte of it is read, so one that does not fit is
  // refused at once; one sent without a length is counted as it arrives.
  if (declared !== undefined) memory.reserve(request, declared);

  let text: string;
  let empty: boolean;
  if (declared !== undefined && declared <= WHOLE_BODY_BYTES) {
    // A declared length within the limit (checked above; the HTTP parser delivers exactly that
    // many bytes): read it whole. Touching `body` would make @hono/node-server build a web
    // ReadableStream over the socket, the largest cost of a submit after the commit (it nearly
    // halved POST /tasks's rate: bench/README.md, "body without a web stream").
    const bytes = await request.arrayBuffer().catch((): never => {
      throw incomplete();
    });
    empty = bytes.byteLength === 0;
    text = decodeUtf8(new Uint8Array(bytes));
  } else {
    ({ text, empty } = await readText(request.body, maxBytes, tooLarge, declared === undefined ? (bytes) => memory.reserve(request, bytes) : undefined));
  }
  if (empty && options.empty !== undefined) return options.empty;
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('invalid JSON payload', 'invalid_json');
  }
}

/**
 * Bodies up to this size (a batch at the default MAX_BODY_BYTES) are read whole; larger ones
 * as a stream, each chunk decoded as it arrives and dropped. Read whole, a body is held four
 * times before JSON.parse sees it: @hono/node-server keeps every chunk, then their
 * concatenation, then a copy of that as an ArrayBuffer, and the decoded text is the fourth
 * (bench/README.md, "Batch memory"). Up to here those copies cost less than the web stream
 * over the socket does (bench/README.md, "Batch memory": server CPU per 1,000-task batch).
 */
const WHOLE_BODY_BYTES = 1024 * 1024;

// The client hung up or was cut off (SERVER_REQUEST_TIMEOUT_SECONDS) before sending the whole
// body: its fault, not ours, and no stack in the log per slow client.
const incomplete = () => badRequest('request body ended before it was complete', 'body_incomplete');
const notUtf8 = () => badRequest('request body is not valid UTF-8', 'invalid_json');

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw notUtf8();
  }
}

/**
 * The body as text, decoded chunk by chunk (a character split between chunks is carried over
 * by the decoder): what is held is the text so far, not the bytes. `count` is told the size
 * of each chunk before it is kept. `empty`: not a byte came.
 */
async function readText(body: ReadableStream<Uint8Array> | null, maxBytes: number, tooLarge: () => AppError, count?: (bytes: number) => void): Promise<{ text: string; empty: boolean }> {
  if (!body) return { text: '', empty: true };
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const parts: string[] = [];
  let size = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read().catch((): never => {
        throw incomplete();
      });
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) throw tooLarge();
      count?.(value.byteLength);
      parts.push(decodeChunk(decoder, value));
    }
    parts.push(decodeChunk(decoder));
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
  return { text: parts.length === 1 ? parts[0]! : parts.join(''), empty: size === 0 };
}

/** The next piece of text (`chunk` absent: the end of the body, where a cut character is an error). */
function decodeChunk(decoder: TextDecoder, chunk?: Uint8Array): string {
  try {
    return chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode();
  } catch {
    throw notUtf8();
  }
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
