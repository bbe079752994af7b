import { createRoute, type OpenAPIHono } from '../openapi-hono.ts';
import { AppError, badRequest } from '../../foundation/errors.ts';
import type { HandlerRegistry } from '../../processing/handlers.ts';
import { taskJsonText } from '../../tasks/model.ts';
import type { BatchItem, SubmitResult } from '../../tasks/service.ts';
import { readJsonBody, validate } from '../body.ts';
import type { AppDeps } from '../deps.ts';
import { errorResponses, jsonBody, jsonResponse, registerWithOwnBody, tag } from '../openapi.ts';
import { BatchResultSchema, BatchSubmitBody, BatchTaskItem, submitInput } from '../schemas.ts';

/**
 * `POST /tasks/batch`: up to MAX_BATCH_TASKS tasks stored in one transaction, or none
 * (TaskService.submitMany). Every item is held to what a POST /tasks body is held to: its size
 * as JSON (MAX_BODY_BYTES; 413 naming the item and its largest field), its fields (the same
 * schema: 400 naming the item) and its type's payload check.
 *
 * Memory: a batch body may be 16 × MAX_BODY_BYTES, and each copy of it a handler keeps is
 * that much again (bench/README.md, "Batch memory"). So the body is counted against
 * MAX_BODY_MEMORY_BYTES (lib/api/body-memory.ts) and read as text once; each parsed item is
 * turned into what is stored (its payload as JSON text, serialized once, for the size check
 * and the insert) and dropped from the parsed body at once; the reply is written from the
 * stored text a slice at a time as the client reads it, never parsed back, each task dropped
 * once written.
 */

const batchRoute = createRoute({
  method: 'post',
  path: '/tasks/batch',
  tags: tag('batch'),
  summary: 'Submit up to MAX_BATCH_TASKS tasks at once: all stored in one transaction, or none',
  description:
    'Each item is the body of POST /tasks plus an optional `idempotency_key`, held to the same limits: one invalid item is a 400 naming it ' +
    '(`tasks[3]: title is required`), one larger than MAX_BODY_BYTES as JSON a 413 naming it and its largest field, and nothing is stored. ' +
    'An item whose key was used before with the same request returns that task with `replayed: true`; a key used twice in one batch is a ' +
    '400 naming both items. TASK_MAX_PENDING applies to the whole batch (429, nothing stored). 202 when any item stored a new task, 200 when every ' +
    'item was a replay or was debounced or throttled into an existing task. An item may carry `debounce` or `throttle` as POST /tasks does (its answer then says `debounced` or `throttled`); ' +
    'with TASK_MAX_PENDING such a batch is checked against the backlog before its transaction, counting every such item as new. The body may be up to 16 × MAX_BODY_BYTES; bodies beyond MAX_BODY_MEMORY_BYTES held at once are refused with 503 ' +
    'and Retry-After.',
  request: { body: jsonBody(BatchSubmitBody) },
  responses: { 202: jsonResponse(BatchResultSchema, 'stored, in request order'), 200: jsonResponse(BatchResultSchema, 'no item stored a new task'), ...errorResponses(400, 401, 409, 413, 415, 429, 503) },
});

/** Operation name → route, for functions/functions.ts. */
export const BATCH_ROUTES = { createTasks: batchRoute } as const;

/** A batch body may be this many times MAX_BODY_BYTES: 1 MiB by default, room for 1,000 tasks of 1 KB. */
export const BATCH_BODY_FACTOR = 16;

export function registerBatchRoute(app: OpenAPIHono, { service, handlers, config, bodyMemory }: AppDeps): void {
  registerWithOwnBody(app, batchRoute, async (c) => {
    const raw = await readJsonBody(c, config.maxBodyBytes * BATCH_BODY_FACTOR, bodyMemory);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw badRequest('request body must be a JSON object: {"tasks": [...]}', 'invalid_json');
    }
    const items = (raw as { tasks?: unknown }).tasks;
    if (!Array.isArray(items)) throw badRequest('tasks must be an array of tasks (each the body of POST /tasks)', 'invalid_field');
    if (items.length === 0) throw badRequest('tasks must contain at least one task', 'invalid_field');
    if (items.length > config.maxBatchTasks) {
      throw badRequest(`tasks must contain at most ${config.maxBatchTasks} tasks (MAX_BATCH_TASKS)`, 'batch_too_large');
    }
    await handlers.refreshTypes();
    const batch: BatchItem[] = [];
    for (let i = 0; i < items.length; i++) {
      batch.push(batchItem(items[i], i, config.maxBodyBytes, handlers));
      // Dropped from the parsed body: from here on only its stored form is held.
      items[i] = undefined;
    }
    const results: (SubmitResult | undefined)[] = await service.submitMany(batch);
    const stored = results.some((r) => r && !r.replayed && !r.debounced && !r.throttled);
    let written!: () => void;
    // The body stays counted until its reply is written (or the client went away).
    bodyMemory.keepUntil(c.req.raw, new Promise<void>((resolve) => (written = resolve)));
    return c.body(batchReply(results, written), stored ? 202 : 200, { 'Content-Type': 'application/json' });
  });
}

/**
 * One item, checked in the order POST /tasks checks its body (its size before its fields), as
 * the service takes it.
 */
function batchItem(item: unknown, i: number, maxBytes: number, handlers: Pick<HandlerRegistry, 'has' | 'options'>): BatchItem {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) throw badRequest(`tasks[${i}]: must be an object (the body of POST /tasks)`, 'invalid_field');
  const size = measureItem(item as Record<string, unknown>);
  if (size.bytes > maxBytes) {
    throw new AppError(
      413,
      'payload_too_large',
      `tasks[${i}].${size.largest}: the task is ${size.bytes} bytes as JSON; a task may be at most ${maxBytes} bytes (MAX_BODY_BYTES), as the body of POST /tasks`,
    );
  }
  try {
    const body = validate(BatchTaskItem, item);
    const type = body.type ?? 'simulate';
    if (!handlers.has(type)) throw badRequest(`unknown task type ${JSON.stringify(type)}`, 'unknown_type');
    handlers.options(type).validatePayload?.(body.payload);
    return { input: submitInput(body, type, size.payloadJson), idempotencyKey: body.idempotency_key };
  } catch (error) {
    if (error instanceof AppError) throw new AppError(400, error.code, `tasks[${i}]: ${error.message}`);
    throw error;
  }
}

interface ItemSize {
  /** UTF-8 bytes of the item as compact JSON, without `idempotency_key` (POST /tasks takes it as a header). */
  bytes: number;
  /** The field whose value is largest as JSON: the one to name when the item is too large. */
  largest: string;
  /** The payload's JSON text, when there is a payload. */
  payloadJson: string | undefined;
}

/**
 * An item's size as the body of POST /tasks, summed from each field's JSON, and the payload's
 * JSON text (the text that is stored: serialized once, for this and for the insert). Compact
 * JSON is never larger than what was sent, so a batch never refuses an item that POST /tasks
 * would take.
 */
function measureItem(item: Record<string, unknown>): ItemSize {
  let bytes = 1;
  let largest = '';
  let largestBytes = -1;
  let payloadJson: string | undefined;
  for (const key in item) {
    if (key === 'idempotency_key') continue;
    const value = JSON.stringify(item[key])!;
    if (key === 'payload') payloadJson = value;
    const valueBytes = utf8Length(value);
    // `{` or `,`, then `"key":value`; the closing `}` is the 1 that `bytes` starts from.
    bytes += 1 + utf8Length(JSON.stringify(key)) + 1 + valueBytes;
    if (valueBytes > largestBytes) [largest, largestBytes] = [key, valueBytes];
  }
  return { bytes: Math.max(bytes, 2), largest, payloadJson };
}

/** UTF-8 bytes of `text` (JSON.stringify's output: no lone surrogates), without encoding it. */
function utf8Length(text: string): number {
  if (!/[^\x00-\x7f]/.test(text)) return text.length;
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // 2 bytes below U+0800, 3 above; a surrogate pair (2 units) is 4.
    if (code >= 0x80) bytes += code < 0x800 || (code >= 0xd800 && code <= 0xdfff) ? 1 : 2;
  }
  return bytes;
}

/** Characters of JSON per piece of the reply. */
const REPLY_PIECE_CHARS = 64 * 1024;

/**
 * `{"count": n, "tasks": [task + "replayed", …]}`, the same JSON c.json would send, written a
 * piece at a time as the client takes it (the stream is pulled), each task dropped once
 * written; `done` once the last piece was taken or the client went away.
 */
function batchReply(results: (SubmitResult | undefined)[], done: () => void): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let next = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        let text = next === 0 ? `{"count":${results.length},"tasks":[` : '';
        while (text.length < REPLY_PIECE_CHARS && next < results.length) {
          const { task, replayed, debounced, throttled } = results[next]!;
          results[next] = undefined;
          const flags = `,"replayed":${replayed}${debounced === undefined ? '' : `,"debounced":${debounced}`}${throttled === undefined ? '' : `,"throttled":${throttled}`}`;
          text += `${next > 0 ? ',' : ''}${taskJsonText(task, flags)}`;
          next++;
        }
        if (next === results.length) {
          controller.enqueue(encoder.encode(`${text}]}`));
          controller.close();
          done();
        } else {
          controller.enqueue(encoder.encode(text));
        }
      },
      cancel() {
        results.fill(undefined);
        done();
      },
    },
    { highWaterMark: 0 },
  );
}
