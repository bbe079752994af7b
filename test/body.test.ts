import { OpenAPIHono } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { handleErrors } from '../lib/api/error-handler.ts';
import { readJsonBody, validate, validationError } from '../lib/api/body.ts';
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
  app.post('/echo', async (c) => c.json({ body: await readJsonBody(c, LIMIT) }));
  const Input = z.object({
    title: z.string({ error: 'title must be a string' }),
    count: z.number().int().optional(),
    nested: z.object({ flag: z.boolean() }).optional(),
  });
  app.post('/validate', async (c) => c.json(validate(Input, await readJsonBody(c, 1024))));
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
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
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

  it('refuses invalid JSON, and an empty body, with 400 invalid_json', async () => {
    for (const body of ['{"a":', "{'a':1}", '{"a":1} trailing', '']) {
      expect(await post({ headers: { 'content-type': 'application/json' }, body }), JSON.stringify(body)).toEqual({
        status: 400,
        json: { code: 'invalid_json', message: 'invalid JSON payload' },
      });
    }
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
