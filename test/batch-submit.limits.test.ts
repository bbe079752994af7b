import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Runtime } from '../local/runtime.ts';
import { serveRuntime } from './support/serve.ts';

/**
 * POST /tasks/batch against the limits of POST /tasks and against MAX_BODY_MEMORY_BYTES, over
 * a real node server on loopback with a real libSQL file: every item is held to the size,
 * title and description limits a POST /tasks body is held to (the item and field named,
 * nothing stored); bodies beyond the memory bound are refused with 503 and Retry-After while
 * those admitted are stored whole, and the bound is given back once they are answered.
 * What the memory actually does is measured by `npm run bench -- --only batch-memory`.
 */

const MiB = 2 ** 20;

interface Answer {
  status: number;
  retryAfter: string | undefined;
  json: Record<string, unknown>;
}

function answer(res: IncomingMessage): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, json: JSON.parse(text) as Record<string, unknown> });
    });
    res.on('error', reject);
  });
}

/** A POST whose body the test writes itself (`req`), answered by `answered`. */
function open(url: string, path: string, headers: Record<string, string | number>): { req: ClientRequest; answered: Promise<Answer> } {
  let req!: ClientRequest;
  // A new connection per request (no agent): concurrent requests are concurrent sockets.
  const answered = new Promise<Answer>((resolve, reject) => {
    req = request(`${url}${path}`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...headers } }, (res) => answer(res).then(resolve, reject));
    req.on('error', reject);
  });
  return { req, answered };
}

function post(url: string, path: string, body: unknown): Promise<Answer> {
  const bytes = Buffer.from(JSON.stringify(body));
  const { req, answered } = open(url, path, { 'content-length': bytes.byteLength });
  req.end(bytes);
  return answered;
}

/** `count` tasks tagged `tag` (in the title), each with a string payload of `payloadBytes` bytes. */
function batch(tag: string, count: number, payloadBytes: number): { tasks: unknown[] } {
  const data = 'p'.repeat(payloadBytes);
  return { tasks: Array.from({ length: count }, (_, i) => ({ title: `${tag} ${i}`, description: 'limits', payload: { data } })) };
}

async function stored(runtime: Runtime, tag: string): Promise<number> {
  return Number((await runtime.driver.all('SELECT count(*) AS n FROM tasks WHERE title LIKE ?', [`${tag} %`]))[0]!.n);
}

describe('POST /tasks/batch holds every item to the limits of POST /tasks', () => {
  it('a 900 KB payload: 413 on POST /tasks, and 413 naming the item and its field inside a batch; nothing stored', async () => {
    const { runtime, url } = await serveRuntime({ processing: false });
    const big = { title: 'big', description: 'too large for POST /tasks', payload: { data: 'x'.repeat(900_000) } };
    const alone = await post(url, '/tasks', big);
    expect(alone.status).toBe(413);
    expect(alone.json.code).toBe('payload_too_large');

    const items = [{ title: 'small 0', description: 'fits' }, { title: 'small 1', description: 'fits' }, big, { title: 'small 3', description: 'fits' }];
    const inBatch = await post(url, '/tasks/batch', { tasks: items });
    expect(inBatch.status).toBe(alone.status);
    expect(inBatch.json.code).toBe('payload_too_large');
    expect(inBatch.json.message).toMatch(/^tasks\[2\]\.payload: /);
    expect(inBatch.json.message).toContain('65536 bytes (MAX_BODY_BYTES)');
    expect(Number((await runtime.driver.all('SELECT count(*) AS n FROM tasks'))[0]!.n)).toBe(0);
  });

  it('an item that POST /tasks takes is taken in a batch too, up to MAX_BODY_BYTES as JSON', async () => {
    const { runtime, url } = await serveRuntime({ processing: false });
    // 65,536 bytes exactly as compact JSON: the largest body POST /tasks accepts by default.
    const room = 65_536 - JSON.stringify({ title: 'edge', description: 'fits exactly', payload: '' }).length;
    // Two-byte characters, so bytes and not characters are what is counted.
    const edge = { title: 'edge', description: 'fits exactly', payload: 'a'.repeat(room % 2) + 'é'.repeat(Math.floor(room / 2)) };
    expect(Buffer.byteLength(JSON.stringify(edge))).toBe(65_536);
    expect((await post(url, '/tasks', edge)).status).toBe(202);
    const accepted = await post(url, '/tasks/batch', { tasks: [edge, { ...edge, idempotency_key: 'edge-key' }] });
    expect(accepted.status).toBe(202);
    // One byte more is refused by both.
    const over = { ...edge, description: 'fits exactly!' };
    expect((await post(url, '/tasks', over)).status).toBe(413);
    expect((await post(url, '/tasks/batch', { tasks: [edge, over] })).json.message).toMatch(/^tasks\[1\]\.payload: /);
    expect(Number((await runtime.driver.all("SELECT count(*) AS n FROM tasks WHERE title = 'edge'"))[0]!.n)).toBe(3);
  });

  it('title and description limits: the same 400 as POST /tasks, naming the item', async () => {
    const { runtime, url } = await serveRuntime({ processing: false });
    const longTitle = { title: 't'.repeat(201), description: 'd' };
    const longDescription = { title: 't', description: 'd'.repeat(10_001) };
    expect((await post(url, '/tasks', longTitle)).json.message).toBe('title must be at most 200 characters');
    expect((await post(url, '/tasks/batch', { tasks: [{ title: 'ok', description: 'd' }, longTitle] })).json).toEqual({ message: 'tasks[1]: title must be at most 200 characters', code: 'invalid_field' });
    expect((await post(url, '/tasks', longDescription)).json.message).toBe('description must be at most 10000 characters');
    expect((await post(url, '/tasks/batch', { tasks: [longDescription] })).json).toEqual({ message: 'tasks[0]: description must be at most 10000 characters', code: 'invalid_field' });
    expect(Number((await runtime.driver.all('SELECT count(*) AS n FROM tasks'))[0]!.n)).toBe(0);
  });
});

describe('MAX_BODY_MEMORY_BYTES bounds the request bodies held at once', () => {
  // Batches may be 16 MiB; bodies held at once 12 MiB: one 8 MiB batch fits, two do not.
  const env = { MAX_BODY_BYTES: String(MiB), MAX_BODY_MEMORY_BYTES: String(12 * MiB) };

  it('three big batches at once: those beyond the bound 503 with Retry-After, the admitted ones stored whole; the bound is given back', async () => {
    const { runtime, url } = await serveRuntime({ processing: false, env });
    const answers = await Promise.all(['a', 'b', 'c'].map((tag) => post(url, '/tasks/batch', batch(tag, 1000, 8 * 1024))));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 202).length).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((s) => s === 202 || s === 503)).toBe(true);
    for (const [i, a] of answers.entries()) {
      const tag = ['a', 'b', 'c'][i]!;
      if (a.status === 202) {
        expect(a.json.count).toBe(1000);
        expect(await stored(runtime, tag)).toBe(1000);
      } else {
        expect(a.json.code).toBe('server_busy');
        expect(a.json.message).toContain('MAX_BODY_MEMORY_BYTES');
        expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
        expect(await stored(runtime, tag)).toBe(0);
      }
    }
    // Once they are answered, the memory is free again: a refused batch sent again is stored.
    const again = await post(url, '/tasks/batch', batch('again', 1000, 8 * 1024));
    expect(again.status).toBe(202);
    expect(await stored(runtime, 'again')).toBe(1000);
  });

  it('while one batch is being received: a declared body that does not fit is 503 at once, a chunked one once it grows past the bound; the first is stored', async () => {
    const { runtime, url } = await serveRuntime({ processing: false, env });
    const first = Buffer.from(JSON.stringify(batch('first', 1000, 8 * 1024)));
    const slow = open(url, '/tasks/batch', { 'content-length': first.byteLength });
    // Half the body now, the rest once the others were refused: its 8 MiB stay reserved meanwhile.
    slow.req.write(first.subarray(0, first.byteLength / 2));
    await new Promise((resolve) => setTimeout(resolve, 200));

    const declared = await post(url, '/tasks/batch', batch('declared', 1000, 8 * 1024));
    expect(declared.status).toBe(503);
    expect(declared.retryAfter).toBeDefined();

    const chunked = open(url, '/tasks/batch', { 'transfer-encoding': 'chunked' });
    const second = Buffer.from(JSON.stringify(batch('chunked', 1000, 8 * 1024)));
    for (let offset = 0; offset < second.byteLength; offset += 256 * 1024) chunked.req.write(second.subarray(offset, offset + 256 * 1024));
    chunked.req.end();
    const refused = await chunked.answered;
    expect(refused.status).toBe(503);
    expect(refused.json.code).toBe('server_busy');
    expect(refused.retryAfter).toBeDefined();

    // A small submit still fits beside the batch being received.
    expect((await post(url, '/tasks', { title: 'small', description: 'fits beside' })).status).toBe(202);

    slow.req.end(first.subarray(first.byteLength / 2));
    expect((await slow.answered).status).toBe(202);
    expect(await stored(runtime, 'first')).toBe(1000);
    expect(await stored(runtime, 'declared')).toBe(0);
    expect(await stored(runtime, 'chunked')).toBe(0);
  });

  it('one body larger than the whole bound is still read when nothing else is held', async () => {
    const { runtime, url } = await serveRuntime({ processing: false, env: { MAX_BODY_BYTES: String(MiB), MAX_BODY_MEMORY_BYTES: String(2 * MiB) } });
    const answer = await post(url, '/tasks/batch', batch('alone', 1000, 8 * 1024));
    expect(answer.status).toBe(202);
    expect(await stored(runtime, 'alone')).toBe(1000);
  });
});
