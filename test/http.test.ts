import { describe, expect, it } from 'vitest';
import { STATUSES } from '../lib/tasks/states.ts';
import { jsonRequest, startRuntime } from './helpers.ts';

/** The HTTP contract through the app (no socket): every success and error case of the API. */

async function setup(env: Record<string, string> = {}) {
  // Processing off: these tests look at what the API stores, not at workers.
  const runtime = await startRuntime({ env, processing: false });
  const request = jsonRequest(runtime.app);
  const submit = (json: unknown, headers: Record<string, string> = {}) => request('/tasks', { method: 'POST', json, headers });
  return { runtime, request, submit };
}

async function expectError(response: Response, status: number, message: string | RegExp) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await response.json()) as { message: string; code: string };
  if (typeof message === 'string') expect(body.message).toBe(message);
  else expect(body.message).toMatch(message);
  expect(typeof body.code).toBe('string');
  expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  return body;
}

const taskFields = [
  'id', 'title', 'description', 'status', 'version', 'type', 'payload', 'priority', 'run_at', 'attempts', 'max_attempts',
  'lease_expires_at', 'locked_by', 'last_error', 'result', 'progress', 'idempotency_key', 'debounce_key', 'flow_control', 'created_at', 'started_at', 'completed_at', 'updated_at', 'held_back',
];

describe('POST /tasks', () => {
  it('stores the task and answers 202 with every field (the seed shape, extended)', async () => {
    const { runtime, submit } = await setup();
    const response = await submit({ title: 'resize', description: 'avatar 42' });
    expect(response.status).toBe(202);
    const task = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(task).sort()).toEqual([...taskFields].sort());
    expect(task).toMatchObject({ title: 'resize', description: 'avatar 42', status: 'pending', version: 1, type: 'simulate', priority: 0, attempts: 0, max_attempts: 3 });
    expect(task.started_at).toBeNull();
    expect(task.completed_at).toBeNull();
    expect(task.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const stored = await runtime.repo.get(Number(task.id));
    expect(stored?.title).toBe('resize');
  });

  it('stores title and description exactly as sent, NUL and astral characters included', async () => {
    const { submit, request } = await setup();
    const title = 'a\u0000b 😀 \u202e ünï';
    const description = '  leading and trailing spaces kept  \n';
    const created = (await (await submit({ title, description })).json()) as { id: string };
    const fetched = (await (await request(`/tasks/${created.id}`)).json()) as { title: string; description: string };
    expect(fetched.title).toBe(title);
    expect(fetched.description).toBe(description);
  });

  it('accepts type, payload, priority, delay_seconds, run_at and max_attempts', async () => {
    const { submit } = await setup();
    const runAt = new Date(Date.now() + 3_600_000).toISOString();
    const a = (await (await submit({ title: 't', description: 'd', payload: { n: [1, 'x', null] }, priority: 7, run_at: runAt, max_attempts: 5 })).json()) as Record<string, unknown>;
    expect(a).toMatchObject({ payload: { n: [1, 'x', null] }, priority: 7, run_at: runAt, max_attempts: 5 });
    const before = Date.now();
    const b = (await (await submit({ title: 't', description: 'd', delay_seconds: 2 })).json()) as { run_at: string };
    expect(Date.parse(b.run_at)).toBeGreaterThanOrEqual(before + 2000);
  });

  it.each([
    [{ description: 'd' }, 'title is required'],
    [{ title: '', description: 'd' }, 'title is required'],
    [{ title: '   \n\t', description: 'd' }, 'title is required'],
    [{ title: null, description: 'd' }, 'title is required'],
    [{ title: 't' }, 'description is required'],
    [{ title: 't', description: '' }, 'description is required'],
    [{ title: 42, description: 'd' }, 'title must be a string'],
    [{ title: 'x'.repeat(201), description: 'd' }, 'title must be at most 200 characters'],
    [{ title: 't', description: 'x'.repeat(10_001) }, 'description must be at most 10000 characters'],
    [{ title: 't', description: 'd', type: 'nope' }, 'unknown task type "nope"'],
    [{ title: 't', description: 'd', type: '__proto__' }, 'unknown task type "__proto__"'],
    [{ title: 't', description: 'd', type: 'constructor' }, 'unknown task type "constructor"'],
    [{ title: 't', description: 'd', priority: 1.5 }, /^priority must be an integer/],
    [{ title: 't', description: 'd', priority: '1' }, /^priority must be an integer/],
    [{ title: 't', description: 'd', max_attempts: 0 }, /^max_attempts must be an integer/],
    [{ title: 't', description: 'd', delay_seconds: -1 }, 'delay_seconds must not be negative'],
    [{ title: 't', description: 'd', run_at: 'tomorrow' }, /^run_at must be an ISO-8601/],
    [{ title: 't', description: 'd', run_at: new Date().toISOString(), delay_seconds: 1 }, 'use either run_at or delay_seconds, not both'],
    [[1, 2], 'request body must be a JSON object'],
    [null, 'request body must be a JSON object'],
    ['just a string', 'request body must be a JSON object'],
  ])('rejects %j with 400 and stores nothing', async (body, message) => {
    const { runtime, submit } = await setup();
    await expectError(await submit(body), 400, message);
    expect((await runtime.repo.stats()).total).toBe(0);
  });

  it('keeps 200 code points in a title even when they are astral (not UTF-16 units)', async () => {
    const { submit } = await setup();
    expect((await submit({ title: '😀'.repeat(200), description: 'd' })).status).toBe(202);
  });

  it('rejects lone surrogates with 400', async () => {
    const { request } = await setup();
    const response = await request('/tasks', { method: 'POST', body: '{"title":"\\ud800","description":"d"}', headers: { 'content-type': 'application/json' } });
    await expectError(response, 400, /title must be valid Unicode/);
  });

  it('answers 400 "invalid JSON payload" for malformed or empty bodies', async () => {
    const { request } = await setup();
    for (const body of ['{', '', '{"title": "a",}', 'nan']) {
      await expectError(await request('/tasks', { method: 'POST', body, headers: { 'content-type': 'application/json' } }), 400, 'invalid JSON payload');
    }
  });

  it('reads a missing Content-Type (and curl -d\'s form type) as JSON; JSON variants are accepted', async () => {
    const { request } = await setup();
    const body = JSON.stringify({ title: 't', description: 'd' });
    expect((await request('/tasks', { method: 'POST', body: new TextEncoder().encode(body) })).status).toBe(202);
    for (const type of ['application/json; charset=utf-8', 'application/vnd.api+json', 'APPLICATION/JSON', 'application/x-www-form-urlencoded']) {
      expect((await request('/tasks', { method: 'POST', body, headers: { 'content-type': type } })).status).toBe(202);
    }
  });

  it('answers 415 for a body that is not JSON', async () => {
    const { runtime, request } = await setup();
    for (const type of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x']) {
      await expectError(await request('/tasks', { method: 'POST', body: '{"title":"t","description":"d"}', headers: { 'content-type': type } }), 415, 'Content-Type must be application/json');
    }
    expect((await runtime.repo.stats()).total).toBe(0);
  });

  it('answers 413 for a body over MAX_BODY_BYTES, declared or streamed', async () => {
    const { runtime, request } = await setup({ MAX_BODY_BYTES: '1024' });
    const big = JSON.stringify({ title: 't', description: 'x'.repeat(2000) });
    await expectError(await request('/tasks', { method: 'POST', body: big, headers: { 'content-type': 'application/json' } }), 413, 'request body must be at most 1024 bytes');
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const streamed = await request('/tasks', { method: 'POST', body: stream, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit);
    await expectError(streamed, 413, 'request body must be at most 1024 bytes');
    expect((await runtime.repo.stats()).total).toBe(0);
  });
});

describe('GET /tasks/:id', () => {
  it('answers 404 "task not found" for an unknown id', async () => {
    const { request } = await setup();
    await expectError(await request('/tasks/nope'), 404, 'task not found');
    await expectError(await request('/tasks/01a21cfd-12f4-765c-8eeb-05903b8e2d7b'), 404, 'task not found');
  });
});

describe('GET /tasks', () => {
  it('lists newest first with count === tasks.length and pages with an opaque cursor', async () => {
    const { submit, request } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(((await (await submit({ title: `t${i}`, description: 'd' })).json()) as { id: string }).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/tasks?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = (await (await request(url)).json()) as { count: number; tasks: { id: string }[]; next_cursor: string | null };
      expect(page.count).toBe(page.tasks.length);
      seen.push(...page.tasks.map((t) => t.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
  });

  it('filters by status and type', async () => {
    const { runtime, submit, request } = await setup();
    const a = (await (await submit({ title: 'a', description: 'd' })).json()) as { id: string };
    await submit({ title: 'b', description: 'd' });
    await runtime.service.cancel(a.id);
    const cancelled = (await (await request('/tasks?status=cancelled')).json()) as { count: number; tasks: { id: string }[] };
    expect(cancelled.tasks.map((t) => t.id)).toEqual([a.id]);
    const byType = (await (await request('/tasks?type=simulate&status=pending')).json()) as { count: number };
    expect(byType.count).toBe(1);
    expect(((await (await request('/tasks?type=other')).json()) as { count: number }).count).toBe(0);
  });

  it.each([
    ['limit=0', 'limit must be positive'],
    ['limit=-5', 'limit must be positive'],
    ['limit=abc', 'limit must be positive'],
    ['limit=1.5', 'limit must be positive'],
    ['limit=', 'limit must be positive'],
    ['limit=1001', 'limit must be at most 1000'],
    ['status=done', /^status must be one of/],
    ['cursor=!!!', 'cursor is invalid'],
    ['cursor=YWJj', 'cursor is invalid'],
  ])('rejects ?%s with 400 (never clamped or ignored)', async (query, message) => {
    const { request } = await setup();
    await expectError(await request(`/tasks?${query}`), 400, message);
  });

  it('accepts every status as a filter', async () => {
    const { request } = await setup();
    for (const status of STATUSES) expect((await request(`/tasks?status=${status}`)).status).toBe(200);
  });
});

describe('cancel and retry', () => {
  it('cancels a pending task (200) and refuses to cancel it again (409)', async () => {
    const { submit, request } = await setup();
    const { id } = (await (await submit({ title: 't', description: 'd' })).json()) as { id: string };
    const cancelled = await request(`/tasks/${id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    expect(((await cancelled.json()) as { status: string }).status).toBe('cancelled');
    await expectError(await request(`/tasks/${id}/cancel`, { method: 'POST' }), 409, 'task is already cancelled');
    await expectError(await request('/tasks/missing/cancel', { method: 'POST' }), 404, 'task not found');
  });

  it('retries a cancelled task back to pending, and refuses pending/completed ones (409)', async () => {
    const { runtime, submit, request } = await setup();
    const { id } = (await (await submit({ title: 't', description: 'd' })).json()) as { id: string };
    await expectError(await request(`/tasks/${id}/retry`, { method: 'POST' }), 409, /only failed or cancelled tasks can be retried/);
    await request(`/tasks/${id}/cancel`, { method: 'POST' });
    const retried = (await (await request(`/tasks/${id}/retry`, { method: 'POST' })).json()) as { status: string; attempts: number };
    expect(retried).toMatchObject({ status: 'pending', attempts: 0 });
    const [claimed] = await runtime.repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 1000 });
    await runtime.repo.transition({ task: claimed!, to: 'completed', fields: { result: 'null', completedAt: Date.now() } });
    await expectError(await request(`/tasks/${id}/cancel`, { method: 'POST' }), 409, 'task is already completed');
    await expectError(await request(`/tasks/${id}/retry`, { method: 'POST' }), 409, /only failed or cancelled/);
    await expectError(await request('/tasks/missing/retry', { method: 'POST' }), 404, 'task not found');
  });
});

describe('Idempotency-Key', () => {
  it('replays the same task with 200 and Idempotent-Replayed, 409 on a different body', async () => {
    const { runtime, submit } = await setup();
    const first = await submit({ title: 't', description: 'd' }, { 'Idempotency-Key': 'order-1' });
    expect(first.status).toBe(202);
    const replay = await submit({ title: 't', description: 'd' }, { 'Idempotency-Key': 'order-1' });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(((await replay.json()) as { id: string }).id).toBe(((await first.json()) as { id: string }).id);
    await expectError(await submit({ title: 't', description: 'other' }, { 'Idempotency-Key': 'order-1' }), 409, /different request body/);
    expect((await runtime.repo.stats()).total).toBe(1);
  });

  it('creates exactly one task from 20 concurrent duplicates', async () => {
    const { runtime, submit } = await setup();
    const responses = await Promise.all(Array.from({ length: 20 }, () => submit({ title: 't', description: 'd' }, { 'Idempotency-Key': 'dup' })));
    const ids = new Set(await Promise.all(responses.map(async (r) => ((await r.json()) as { id: string }).id)));
    expect(ids.size).toBe(1);
    expect(responses.filter((r) => r.status === 202)).toHaveLength(1);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(19);
    expect((await runtime.repo.stats()).total).toBe(1);
  });

  it('rejects a key over 200 characters', async () => {
    const { submit } = await setup();
    await expectError(await submit({ title: 't', description: 'd' }, { 'Idempotency-Key': 'k'.repeat(201) }), 400, /Idempotency-Key must be/);
  });
});

describe('backpressure', () => {
  it('answers 429 "task queue is full" above TASK_MAX_PENDING and stores nothing more', async () => {
    const { runtime, submit } = await setup({ TASK_MAX_PENDING: '5' });
    for (let i = 0; i < 5; i++) expect((await submit({ title: 't', description: 'd' })).status).toBe(202);
    const sixth = await submit({ title: 't', description: 'd' });
    await expectError(sixth, 429, 'task queue is full');
    expect((await runtime.repo.stats()).counts.pending).toBe(5);
  });

  it('holds the cap under concurrent submits', async () => {
    const { runtime, submit } = await setup({ TASK_MAX_PENDING: '5' });
    const statuses = (await Promise.all(Array.from({ length: 30 }, () => submit({ title: 't', description: 'd' })))).map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(25);
    expect((await runtime.repo.stats()).counts.pending).toBe(5);
  });
});

describe('other routes', () => {
  it('serves stats, health, readiness and the OpenAPI document', async () => {
    const { submit, request } = await setup();
    await submit({ title: 't', description: 'd' });
    const stats = (await (await request('/stats')).json()) as { counts: Record<string, number>; total: number; oldest_pending_age_seconds: number };
    expect(stats.counts).toEqual({ pending: 1, in_progress: 0, completed: 0, failed: 0, cancelled: 0 });
    expect(stats.total).toBe(1);
    expect(stats.oldest_pending_age_seconds).toBeGreaterThanOrEqual(0);
    expect(await (await request('/healthz')).json()).toEqual({ status: 'ok' });
    expect((await request('/readyz')).status).toBe(200);
    const doc = (await (await request('/openapi.json')).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/tasks', '/tasks/{id}', '/tasks/{id}/cancel', '/tasks/{id}/retry', '/stats']));
  });

  it('answers unknown routes with 404 JSON and wrong methods with 405 JSON', async () => {
    const { request } = await setup();
    await expectError(await request('/nope'), 404, 'no route for GET /nope');
    const wrong = await request('/tasks', { method: 'DELETE' });
    expect(wrong.headers.get('allow')).toContain('POST');
    await expectError(wrong, 405, 'method DELETE is not allowed on /tasks');
    await expectError(await request('/tasks/abc', { method: 'PUT' }), 405, /not allowed/);
  });

  it('answers readiness 503 when the database is gone', async () => {
    const { runtime, request } = await setup();
    await runtime.driver.close();
    await expectError(await request('/readyz'), 503, 'database is not reachable');
  });
});
