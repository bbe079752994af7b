import { OpenAPIHono } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { handleErrors } from '../lib/api/error-handler.ts';
import { readJsonBody, validate, validationError } from '../lib/api/body.ts';
import { BodyMemory } from '../lib/api/body-memory.ts';
import { AppError } from '../lib/foundation/errors.ts';
import { createLogger } from '../lib/foundation/log.ts';

/**
 * Reading a JSON body (lib/api/body.ts) through a real Hono app, with real Request objects:
 * which Content-Types are JSON, the byte limit (declared and streamed), bad bytes and bad
 * JSON, and validation messages that name the field.
 */

const LIMIT = 64;

function app(): OpenAPIHono {
  const app = new OpenAPIHono();
  handleErrors(app, createLogger('silent'));
  const memory = new BodyMemory(16 * 1024 * 1024);
  app.use(memory.releaseAfterAnswer);
  app.post('/echo', async (c) => c.json({ body: await readJsonBody(c, LIMIT, memory) }));
  app.post('/large', async (c) => c.json({ body: await readJsonBody(c, 4 * 1024 * 1024, memory) }));
  const Input = z.object({
    title: z.string({ error: 'title must be a string' }),
    count: z.number().int().optional(),
    nested: z.object({ flag: z.boolean() }).optional(),
  });
  app.post('/validate', async (c) => c.json(validate(Input, await readJsonBody(c, 1024, memory))));
  return app;
}

async function post(init: RequestInit & { path?: string } = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const request = new Request(`http://localhost${init.path ?? '/echo'}`, { method: 'POST', ...init });
  const response = await app().request(request);
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** A body that arrives in chunks, with no Content-Length (like chunked transfer encoding). */
function streamed(...chunks: string[]): { body: ReadableStream<Uint8Array>; duplex: 'half' } {
  const encoder = new TextEncoder();
  return streamedBytes(...chunks.map((chunk) => encoder.encode(chunk)));
}

function streamedBytes(...chunks: Uint8Array[]): { body: ReadableStream<Uint8Array>; duplex: 'half' } {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  return { body, duplex: 'half' };
}

describe('readJsonBody', () => {
  it('reads application/json, with parameters and in any case', async () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON']) {
      expect(await post({ headers: { 'content-type': type }, body: '{"a":1}' }), type).toEqual({ status: 200, json: { body: { a: 1 } } });
    }
  });

  it('reads application/*+json', async () => {
    expect(await post({ headers: { 'content-type': 'application/merge-patch+json' }, body: '[1,"x"]' })).toEqual({ status: 200, json: { body: [1, 'x'] } });
  });

  it('reads a body without Content-Type, or with a form Content-Type, as JSON (curl -d without -H)', async () => {
    const request = new Request('http://localhost/echo', { method: 'POST', body: new TextEncoder().encode('{"b":true}') });
    expect(request.headers.get('content-type')).toBeNull();
    const response = await app().request(request);
    expect({ status: response.status, json: await response.json() }).toEqual({ status: 200, json: { body: { b: true } } });
    expect(await post({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '{"c":"d"}' })).toEqual({ status: 200, json: { body: { c: 'd' } } });
  });

  it('refuses other media types with 415', async () => {
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/xml']) {
      expect(await post({ headers: { 'content-type': type }, body: '{"a":1}' }), type).toEqual({
        status: 415,
        json: { code: 'unsupported_media_type', message: 'Content-Type must be application/json' },
      });
    }
  });

  it('refuses a declared Content-Length over the limit with 413, and reads one within it', async () => {
    const big = JSON.stringify({ text: 'x'.repeat(LIMIT) });
    const over = new Request('http://localhost/echo', { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(big.length) }, body: big });
    expect(over.headers.get('content-length')).toBe(String(big.length));
    const response = await app().request(over);
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ code: 'payload_too_large', message: `request body must be at most ${LIMIT} bytes` });

    const fits = JSON.stringify({ text: 'x'.repeat(LIMIT - 20) });
    expect(fits.length).toBeLessThanOrEqual(LIMIT);
    expect(await post({ headers: { 'content-type': 'application/json', 'content-length': String(fits.length) }, body: fits })).toEqual({
      status: 200,
      json: { body: JSON.parse(fits) },
    });
  });

  it('refuses a streamed body without Content-Length once it passes the limit, and reads one at the limit', async () => {
    const half = 'x'.repeat(40);
    const over = await post({ headers: { 'content-type': 'application/json' }, ...streamed(`{"a":"${half}`, `${half}"}`) });
    expect(over).toEqual({ status: 413, json: { code: 'payload_too_large', message: `request body must be at most ${LIMIT} bytes` } });

    const exact = `{"a":"${'y'.repeat(LIMIT - 8)}"}`;
    expect(exact.length).toBe(LIMIT);
    expect(await post({ headers: { 'content-type': 'application/json' }, ...streamed(exact.slice(0, 10), exact.slice(10)) })).toEqual({
      status: 200,
      json: { body: JSON.parse(exact) },
    });
  });

  it('counts bytes, not characters: multi-byte text over the limit is 413', async () => {
    const text = `"${'é'.repeat(40)}"`; // 42 characters, 82 bytes
    expect(text.length).toBeLessThan(LIMIT);
    expect((await post({ headers: { 'content-type': 'application/json' }, ...streamed(text) })).status).toBe(413);
  });

  it('refuses invalid UTF-8 with 400 invalid_json', async () => {
    const bytes = new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]); // {"a":"<ff fe>"}
    expect(await post({ headers: { 'content-type': 'application/json' }, body: bytes })).toEqual({
      status: 400,
      json: { code: 'invalid_json', message: 'request body is not valid UTF-8' },
    });
  });

  it('reads a body over 1 MiB as a stream, declared or not: a character split between chunks is read whole', async () => {
    const value = { text: `${'a'.repeat(700_000)}é${'b'.repeat(700_000)}` };
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    const cut = bytes.indexOf(0xc3) + 1; // between the two bytes of é
    for (const headers of [{}, { 'content-length': String(bytes.byteLength) }] as Record<string, string>[]) {
      const answer = await post({ path: '/large', headers: { 'content-type': 'application/json', ...headers }, ...streamedBytes(bytes.subarray(0, cut), bytes.subarray(cut)) });
      expect(answer, JSON.stringify(headers)).toEqual({ status: 200, json: { body: value } });
    }
  });

  it('refuses invalid UTF-8 in a later chunk, and a body cut inside a character, with 400', async () => {
    const start = new TextEncoder().encode(`{"a":"${'x'.repeat(1_100_000)}`);
    const bad = await post({ path: '/large', headers: { 'content-type': 'application/json' }, ...streamedBytes(start, new Uint8Array([0xff, 0x22, 0x7d])) });
    expect(bad).toEqual({ status: 400, json: { code: 'invalid_json', message: 'request body is not valid UTF-8' } });
    const cut = await post({ path: '/large', headers: { 'content-type': 'application/json' }, ...streamedBytes(start, new Uint8Array([0x22, 0x7d, 0xc3])) });
    expect(cut).toEqual({ status: 400, json: { code: 'invalid_json', message: 'request body is not valid UTF-8' } });
  });

  it('refuses invalid JSON, and an empty body, with 400 invalid_json', async () => {
    for (const body of ['{"a":', "{'a':1}", '{"a":1} trailing', '']) {
      expect(await post({ headers: { 'content-type': 'application/json' }, body }), JSON.stringify(body)).toEqual({
        status: 400,
        json: { code: 'invalid_json', message: 'invalid JSON payload' },
      });
    }
  });
});

describe('BodyMemory (MAX_BODY_MEMORY_BYTES)', () => {
  /** An app whose route holds each body until `release()`; `entered` resolves once a body was read. */
  function holdingApp(limit: number) {
    const memory = new BodyMemory(limit);
    const app = new OpenAPIHono();
    handleErrors(app, createLogger('silent'));
    app.use(memory.releaseAfterAnswer);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const read = new Promise<void>((resolve) => (entered = resolve));
    app.post('/hold', async (c) => {
      const body = await readJsonBody(c, 1024 * 1024, memory);
      entered();
      await gate;
      return c.json({ body });
    });
    const send = (body: string, headers: Record<string, string> = { 'content-length': String(body.length) }) =>
      app.request(new Request('http://localhost/hold', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }));
    return { memory, send, release, read };
  }

  it('holds a body until it is answered; one that does not fit beside it is 503 with Retry-After, declared or not', async () => {
    const { memory, send, release, read } = holdingApp(100);
    const body = JSON.stringify({ a: 'x'.repeat(50) });
    const first = send(body);
    await read;
    expect(memory.held).toBe(body.length);
    const second = await send(body);
    expect(second.status).toBe(503);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(await second.json()).toEqual({ code: 'server_busy', message: 'too many request bodies are being handled at once (MAX_BODY_MEMORY_BYTES=100); send it again shortly' });
    const chunked = await send(body, {}); // no Content-Length: counted as it arrives
    expect(chunked.status).toBe(503);
    expect(memory.held).toBe(body.length);
    release();
    expect((await first).status).toBe(200);
    expect(memory.held).toBe(0);
    expect((await send(body)).status).toBe(200);
    expect(memory.held).toBe(0);
  });

  it('keepUntil: a body stays counted until its reply is written; afterLargeBodies once nothing is held after 8 MiB were', async () => {
    const MiB = 1024 * 1024;
    let collections = 0;
    const memory = new BodyMemory(64 * MiB, { afterLargeBodies: () => collections++ });
    const [a, b, c] = ['a', 'b', 'c'].map((name) => new Request(`http://localhost/${name}`, { method: 'POST' }));
    memory.reserve(a!, 5 * MiB);
    memory.reserve(b!, 4 * MiB);
    let written!: () => void;
    memory.keepUntil(a!, new Promise<void>((resolve) => (written = resolve)));
    memory.release(b!);
    expect(memory.held).toBe(5 * MiB);
    expect(collections).toBe(0);
    written();
    await Promise.resolve();
    expect(memory.held).toBe(0);
    expect(collections).toBe(1);
    // Small bodies afterwards are not worth a collection.
    memory.reserve(c!, MiB);
    memory.release(c!);
    expect(collections).toBe(1);
  });

  it('reads one body larger than the bound when it is the only one held', async () => {
    const { memory, send, release } = holdingApp(10);
    release();
    const body = JSON.stringify({ a: 'x'.repeat(50) });
    expect((await send(body)).status).toBe(200);
    expect((await send(body, {})).status).toBe(200);
    expect(memory.held).toBe(0);
  });
});

describe('validate and validationError', () => {
  const validateBody = (body: unknown) => post({ path: '/validate', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('returns the parsed value when it is valid', async () => {
    expect(await validateBody({ title: 't', count: 2, extra: 'dropped' })).toEqual({ status: 200, json: { title: 't', count: 2 } });
  });

  it('uses a message that already names the field as it is', async () => {
    expect(await validateBody({ title: 5 })).toEqual({ status: 400, json: { code: 'invalid_field', message: 'title must be a string' } });
  });

  it("prefixes zod's own messages with the field's path", async () => {
    const count = await validateBody({ title: 't', count: 1.5 });
    expect(count.status).toBe(400);
    expect(count.json.code).toBe('invalid_field');
    expect(count.json.message).toMatch(/^count: /);
    const nested = await validateBody({ title: 't', nested: { flag: 'yes' } });
    expect(nested.json.message).toMatch(/^nested\.flag: .*boolean/);
  });

  it('reports the first issue only, with the code asked for', () => {
    const parsed = z.object({ alpha: z.string(), beta: z.string() }).safeParse({});
    expect(parsed.success).toBe(false);
    const error = validationError(parsed.error!, 'invalid_query');
    expect(error).toBeInstanceOf(AppError);
    expect(error.status).toBe(400);
    expect(error.code).toBe('invalid_query');
    expect(error.message).toMatch(/^alpha: /);
    expect(error.message).not.toContain('beta');
    expect(() => validate(z.string(), 1, 'bad_thing')).toThrow(expect.objectContaining({ code: 'bad_thing', status: 400 }));
  });
});

describe('validationError names a field only by the whole word', () => {
  it('prefixes zod messages that merely contain the field name inside another word', () => {
    const parsed = z.object({ id: z.string() }).safeParse({ id: 1 });
    expect(parsed.success).toBe(false);
    expect(validationError(parsed.error!, 'invalid_field').message).toMatch(/^id: Invalid input/);
    const named = z.object({ title: z.string({ error: 'title is required' }) }).safeParse({});
    expect(validationError(named.error!, 'invalid_field').message).toBe('title is required');
  });
});
