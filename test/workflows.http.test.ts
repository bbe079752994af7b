import { describe, expect, it } from 'vitest';
import { defineWorkflow, type Workflow } from '../lib/workflows/define.ts';
import { jsonRequest, startRuntime, waitFor } from './helpers.ts';

/**
 * The workflow routes through the app (no socket): POST /workflows/:name/runs, GET /workflows,
 * GET /runs, GET /runs/:id, POST /runs/:id/cancel and /retry, POST /events, and /stats' run
 * counts; every success, and every rejected input with nothing stored.
 */

let charge = true;

/** Waits for `order.paid` with the order's id as the key, then charges (failing while `charge` is false). */
const order = defineWorkflow('order', async (ctx, input: { id: string }) => {
  const reserved = await ctx.step('reserve', () => ({ reserved: input.id }));
  const paid = await ctx.waitForEvent<{ amount: number }>('paid', { event: 'order.paid', key: input.id, timeout: '1h' });
  const receipt = await ctx.step('charge', () => {
    if (!charge) throw new Error('card declined');
    return { charged: paid?.amount ?? 0 };
  }, { retries: 0 });
  return { ...reserved, ...receipt };
});
const nap = defineWorkflow('nap', async (ctx) => {
  await ctx.sleep('long', '1h');
  return 'rested';
});
const parent = defineWorkflow('parent', async (ctx) => ctx.invoke('child', nap, {}));
const echo = defineWorkflow('echo', async (_ctx, input: unknown) => input);

const WORKFLOWS: Workflow[] = [order, nap, parent, echo];

const RUN_FIELDS = ['id', 'workflow', 'status', 'input', 'output', 'error', 'attempts', 'created_at', 'started_at', 'completed_at', 'updated_at', 'run_at', 'waiting_for'];

type Run = { id: string; workflow: string; status: string; input: unknown; output: unknown; error: string | null; waiting_for: { kind: string }[] | null; steps?: { name: string; kind: string; status: string; child_run_id: string | null }[] };

async function setup(env: Record<string, string> = {}, processing = true) {
  const runtime = await startRuntime({ workflows: WORKFLOWS, env: { TASK_BACKOFF_BASE_MS: '10', TASK_BACKOFF_MAX_MS: '50', ...env }, processing });
  runtime.start();
  const request = jsonRequest(runtime.app);
  const count = async (table: 'tasks' | 'workflow_events') => Number((await runtime.driver.all(`SELECT count(*) AS n FROM ${table}`))[0]!.n);
  const start = async (workflow: string, json: unknown = {}, headers: Record<string, string> = {}) => request(`/workflows/${workflow}/runs`, { method: 'POST', json, headers });
  const started = async (workflow: string, json: unknown = {}) => {
    const response = await start(workflow, json);
    expect(response.status, await response.clone().text()).toBe(202);
    return (await response.json()) as Run;
  };
  const getRun = async (id: string) => (await (await request(`/runs/${id}`)).json()) as Run;
  const ended = (id: string) =>
    waitFor(async () => {
      const run = await getRun(id);
      return ['completed', 'failed', 'cancelled'].includes(run.status) ? run : null;
    }, 15_000, `run ${id} to end`);
  return { runtime, request, count, start, started, getRun, ended };
}

describe('POST /workflows/:name/runs', () => {
  it('starts a run (202), replays an idempotency key from the header or the body (200), and runs it', async () => {
    const { request, start, started, ended, count } = await setup();
    const response = await start('echo', { input: { n: 1 } }, { 'idempotency-key': 'echo-1' });
    expect(response.status).toBe(202);
    const run = (await response.json()) as Run;
    expect(Object.keys(run).sort()).toEqual([...RUN_FIELDS].sort());
    expect(run).toMatchObject({ workflow: 'echo', status: 'pending', input: { n: 1 }, output: null, error: null, waiting_for: null });
    expect(run.id).toMatch(/^\d{16}$/);

    const replay = await start('echo', { input: { n: 1 } }, { 'idempotency-key': 'echo-1' });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(((await replay.json()) as Run).id).toBe(run.id);
    // The key in the body is the same key.
    const inBody = await start('echo', { input: { n: 1 }, idempotency_key: 'echo-1' });
    expect(inBody.status).toBe(200);
    expect(((await inBody.json()) as Run).id).toBe(run.id);
    const reused = await start('echo', { input: { n: 2 } }, { 'idempotency-key': 'echo-1' });
    expect(reused.status).toBe(409);
    expect(await reused.json()).toMatchObject({ code: 'idempotency_key_reused' });

    expect(await ended(run.id)).toMatchObject({ status: 'completed', output: { n: 1 } });

    // An empty body is a run with a null input; run_at and delay_seconds put it off.
    const empty = await request('/workflows/echo/runs', { method: 'POST' });
    expect(empty.status).toBe(202);
    expect(((await empty.json()) as Run).input).toBeNull();
    const later = await started('echo', { input: 'later', delay_seconds: 3600 });
    expect(Date.parse((later as unknown as { run_at: string }).run_at)).toBeGreaterThan(Date.now() + 3500_000);
    const at = await started('echo', { run_at: '2099-01-02T03:04:05Z' });
    expect((at as unknown as { run_at: string }).run_at).toBe('2099-01-02T03:04:05.000Z');
    expect(await count('tasks')).toBe(4);
  });

  it('404 for an unknown workflow, 400 naming the field for bad input, 413 for an oversized input, 415: nothing stored', async () => {
    const { request, start, count } = await setup({ MAX_BODY_BYTES: '1024' });
    const unknown = await start('nope', { input: 1 });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ message: 'workflow "nope" is not registered', code: 'not_found' });
    // Unknown before the body is read: even an invalid body is a 404.
    expect((await request('/workflows/nope/runs', { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } })).status).toBe(404);

    const cases: [unknown, RegExp][] = [
      [{ input: 1, run_at: '2099-01-01T00:00:00Z', delay_seconds: 5 }, /^use either run_at or delay_seconds, not both$/],
      [{ run_at: 'tomorrow' }, /^run_at must be an ISO-8601 date-time/],
      [{ delay_seconds: -1 }, /^delay_seconds must not be negative$/],
      [{ delay_seconds: '5' }, /^delay_seconds must be a number$/],
      [{ idempotency_key: 'has space' }, /^idempotency_key must be 1 to 200 visible ASCII characters, not starting with run: or schedule: \(reserved\)$/],
      // The keys of child runs and schedule occurrences: a client could otherwise create the task first and take its place.
      [{ idempotency_key: 'run:0000000000000001:child' }, /^idempotency_key must be .* \(reserved\)$/],
      [{ idempotency_key: 'schedule:nightly:2026-01-01T00:00:00.000Z' }, /^idempotency_key must be .* \(reserved\)$/],
      [{ email: 'a@example.com' }, /^unknown field "email" \(the body takes input, idempotency_key, run_at, delay_seconds, flow_control; the workflow's input goes in `input`\)$/],
      [[1, 2], /^request body must be a JSON object$/],
      ['input', /^request body must be a JSON object$/],
    ];
    for (const [json, message] of cases) {
      const response = await start('echo', json);
      expect(response.status, JSON.stringify(json)).toBe(400);
      expect(((await response.json()) as { message: string }).message, JSON.stringify(json)).toMatch(message);
    }
    const invalidJson = await request('/workflows/echo/runs', { method: 'POST', body: '{"input": ', headers: { 'content-type': 'application/json' } });
    expect(invalidJson.status).toBe(400);
    expect(await invalidJson.json()).toEqual({ message: 'invalid JSON payload', code: 'invalid_json' });
    const badHeader = await start('echo', {}, { 'idempotency-key': 'a b' });
    expect(badHeader.status).toBe(400);
    expect(await badHeader.json()).toMatchObject({ code: 'invalid_header', message: /^Idempotency-Key/ });
    const twoKeys = await start('echo', { idempotency_key: 'one' }, { 'idempotency-key': 'two' });
    expect(twoKeys.status).toBe(400);
    expect(((await twoKeys.json()) as { message: string }).message).toMatch(/^idempotency_key differs from the Idempotency-Key header/);

    // The input counts against MAX_BODY_BYTES, like a task's payload in POST /tasks.
    const oversized = await start('echo', { input: 'x'.repeat(2000) });
    expect(oversized.status).toBe(413);
    expect(await oversized.json()).toEqual({ message: 'request body must be at most 1024 bytes', code: 'payload_too_large' });
    const taskPayload = await request('/tasks', { method: 'POST', json: { title: 't', description: 'd', payload: 'x'.repeat(2000) } });
    expect(taskPayload.status).toBe(413);

    const notJson = await request('/workflows/echo/runs', { method: 'POST', body: 'input=1', headers: { 'content-type': 'text/plain' } });
    expect(notJson.status).toBe(415);
    expect(await count('tasks')).toBe(0);
  });
});

describe('GET /runs/:id, GET /runs, GET /workflows', () => {
  it('a run with its steps and what it waits for; 404 for unknown ids and for tasks that are not runs', async () => {
    const { request, started, getRun, ended } = await setup();
    const run = await started('order', { input: { id: 'o-1' } });
    const waiting = await waitFor(async () => {
      const r = await getRun(run.id);
      return r.waiting_for ? r : null;
    }, 15_000, 'the run to wait for its event');
    expect(waiting).toMatchObject({
      status: 'pending',
      waiting_for: [{ kind: 'event', step: 'paid', event: 'order.paid', key: 'o-1', timeout_at: expect.stringMatching(/Z$/) }],
    });
    expect(waiting.steps).toEqual([
      expect.objectContaining({ name: 'reserve', kind: 'step', status: 'completed', attempts: 1, output: { reserved: 'o-1' }, error: null, child_run_id: null }),
      expect.objectContaining({ name: 'paid', kind: 'wait', status: 'waiting', event: 'order.paid', key: 'o-1', output: null }),
    ]);

    const sent = await request('/events', { method: 'POST', json: { event: 'order.paid', key: 'o-1', payload: { amount: 1200 } } });
    expect(sent.status).toBe(202);
    expect(await sent.json()).toEqual({ event: 'order.paid', key: 'o-1', resumed: 1 });
    expect(await ended(run.id)).toMatchObject({ status: 'completed', output: { reserved: 'o-1', charged: 1200 }, waiting_for: null });

    const missing = await request('/runs/0000000000000001');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ message: 'run not found', code: 'not_found' });
    expect((await request('/runs/not-an-id')).status).toBe(404);
    const task = (await (await request('/tasks', { method: 'POST', json: { title: 't', description: 'd', delay_seconds: 3600 } })).json()) as { id: string };
    const notRun = await request(`/runs/${task.id}`);
    expect(notRun.status).toBe(404);
    expect(await notRun.json()).toEqual({ message: 'run not found', code: 'not_found' });
    // …and a run is a task: the task routes see it.
    expect(((await (await request(`/tasks/${run.id}`)).json()) as { type: string }).type).toBe('workflow:order');
  });

  it('lists runs newest first with GET /tasks\' rules, filters by workflow and status, pages with the cursor', async () => {
    const { request, started, count } = await setup({}, false);
    const a = await started('echo', { input: 1 });
    const b = await started('nap');
    const c = await started('echo', { input: 3 });
    await request('/tasks', { method: 'POST', json: { title: 'not a run', description: 'd' } });
    expect(await count('tasks')).toBe(4);

    type Page = { count: number; runs: Run[]; next_cursor: string | null };
    const page = async (query: string) => {
      const response = await request(`/runs${query}`);
      expect(response.status, query).toBe(200);
      return (await response.json()) as Page;
    };
    const all = await page('');
    expect(all).toMatchObject({ count: 3, next_cursor: null });
    expect(all.runs.map((r) => r.id)).toEqual([c.id, b.id, a.id]);
    expect(Object.keys(all.runs[0]!).sort()).toEqual([...RUN_FIELDS].sort());
    expect((await page('?workflow=echo')).runs.map((r) => r.id)).toEqual([c.id, a.id]);
    expect((await page('?status=pending&workflow=nap')).runs.map((r) => r.id)).toEqual([b.id]);
    expect((await page('?status=completed')).count).toBe(0);
    const first = await page('?limit=2');
    expect(first.runs.map((r) => r.id)).toEqual([c.id, b.id]);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await page(`?limit=2&cursor=${first.next_cursor}`);
    expect(second).toMatchObject({ count: 1, next_cursor: null });
    expect(second.runs[0]!.id).toBe(a.id);

    const invalid: [string, number, RegExp][] = [
      ['?limit=0', 400, /^limit must be positive$/],
      ['?limit=1001', 400, /^limit must be at most 1000$/],
      ['?limit=abc', 400, /^limit must be positive$/],
      ['?status=sleeping', 400, /^status must be one of pending, /],
      ['?cursor=%%%', 400, /^cursor is invalid$/],
      ['?workflow=', 400, /^workflow must not be empty$/],
      ['?workflow=nope', 404, /^workflow "nope" is not registered$/],
    ];
    for (const [query, status, message] of invalid) {
      const response = await request(`/runs${query}`);
      expect(response.status, query).toBe(status);
      expect(((await response.json()) as { message: string }).message, query).toMatch(message);
    }
  });

  it('GET /workflows: every registered workflow with its runs by status and the oldest pending run', async () => {
    const { request, started } = await setup({}, false);
    const first = await started('echo', { input: 1 });
    await started('echo', { input: 2 });
    const response = await request('/workflows');
    expect(response.status).toBe(200);
    const { workflows } = (await response.json()) as { workflows: { name: string; runs: Record<string, number>; oldest_pending_at: string | null }[] };
    expect(workflows.map((w) => w.name)).toEqual(['echo', 'nap', 'order', 'parent']);
    expect(workflows[0]).toEqual({ name: 'echo', runs: { pending: 2, in_progress: 0, completed: 0, failed: 0, cancelled: 0 }, oldest_pending_at: (first as unknown as { created_at: string }).created_at });
    expect(workflows[1]).toMatchObject({ name: 'nap', oldest_pending_at: null });
  });
});

describe('POST /runs/:id/cancel and /retry', () => {
  it('cancel takes the child runs with it; 409 once ended; retry resumes a failed run at its failed step; 404s', async () => {
    const { request, started, getRun, ended } = await setup();
    const run = await started('parent');
    const childId = await waitFor(async () => (await getRun(run.id)).steps?.[0]?.child_run_id, 15_000, 'the child run to start');
    await waitFor(async () => (await getRun(childId)).waiting_for !== null, 15_000, 'the child to sleep');

    const cancelled = await request(`/runs/${run.id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ id: run.id, status: 'cancelled' });
    expect((await getRun(childId)).status).toBe('cancelled');
    const again = await request(`/runs/${run.id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(await again.json()).toEqual({ message: 'run is already cancelled', code: 'run_finished' });

    // Retry: a run that has not failed or been cancelled is a 409.
    const echoRun = await started('echo', { input: 'x' });
    await ended(echoRun.id);
    const notRetryable = await request(`/runs/${echoRun.id}/retry`, { method: 'POST' });
    expect(notRetryable.status).toBe(409);
    expect(((await notRetryable.json()) as { message: string }).message).toMatch(/^run is completed: only failed or cancelled runs can be retried$/);

    charge = false;
    try {
      const failing = await started('order', { input: { id: 'o-2' } });
      await waitFor(async () => (await getRun(failing.id)).waiting_for !== null, 15_000, 'the wait');
      await request('/events', { method: 'POST', json: { event: 'order.paid', key: 'o-2', payload: { amount: 5 } } });
      expect(await ended(failing.id)).toMatchObject({ status: 'failed', error: 'card declined' });
      charge = true;
      const retried = await request(`/runs/${failing.id}/retry`, { method: 'POST' });
      expect(retried.status).toBe(200);
      expect(await retried.json()).toMatchObject({ id: failing.id, status: 'pending' });
      // The event's payload was recorded: the run resumes at the charge, not at the wait.
      expect(await ended(failing.id)).toMatchObject({ status: 'completed', output: { reserved: 'o-2', charged: 5 } });
    } finally {
      charge = true;
    }

    for (const path of ['/runs/0000000000000001/cancel', '/runs/0000000000000001/retry']) {
      const response = await request(path, { method: 'POST' });
      expect(response.status, path).toBe(404);
      expect(await response.json()).toEqual({ message: 'run not found', code: 'not_found' });
    }
  });
});

describe('POST /events', () => {
  it('stores an event with and without a key; a run reaching its wait later takes it', async () => {
    const { request, count } = await setup({}, false);
    const plain = await request('/events', { method: 'POST', json: { event: 'deploy.done' } });
    expect(plain.status).toBe(202);
    expect(await plain.json()).toEqual({ event: 'deploy.done', key: null, resumed: 0 });
    const keyed = await request('/events', { method: 'POST', json: { event: 'deploy.done', key: '', payload: [1, 2] } });
    expect(await keyed.json()).toEqual({ event: 'deploy.done', key: '', resumed: 0 });
    expect(await count('workflow_events')).toBe(2);
  });

  it('400 naming the field, 413 for an oversized payload, 415: nothing stored', async () => {
    const { request, count } = await setup({ MAX_BODY_BYTES: '1024' }, false);
    const cases: [unknown, RegExp][] = [
      [{}, /^event is required$/],
      [{ payload: { a: 1 } }, /^event is required$/],
      [{ event: null }, /^event is required$/],
      [{ event: '' }, /^event must not be empty$/],
      [{ event: 42 }, /^event must be a string$/],
      [{ event: 'e'.repeat(201) }, /^event must be at most 200 characters$/],
      [{ event: 'ok', key: 7 }, /^key must be a string$/],
      [{ event: 'ok', key: 'k'.repeat(201) }, /^key must be at most 200 characters$/],
      [{ event: '\ud800' }, /^event must be valid Unicode/],
      [{ event: 'ok', data: 1 }, /^unknown field "data" \(the body takes event, key, payload\)$/],
      [['ok'], /^request body must be a JSON object$/],
    ];
    for (const [json, message] of cases) {
      const response = await request('/events', { method: 'POST', json });
      expect(response.status, JSON.stringify(json)).toBe(400);
      expect(((await response.json()) as { message: string }).message, JSON.stringify(json)).toMatch(message);
    }
    const empty = await request('/events', { method: 'POST' });
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({ code: 'invalid_json' });
    const oversized = await request('/events', { method: 'POST', json: { event: 'big', payload: 'x'.repeat(2000) } });
    expect(oversized.status).toBe(413);
    const notJson = await request('/events', { method: 'POST', body: 'event=x', headers: { 'content-type': 'text/plain' } });
    expect(notJson.status).toBe(415);
    expect(await count('workflow_events')).toBe(0);
  });
});

describe('/stats and access control', () => {
  it('/stats adds run counts by status summed over workflows, its other fields unchanged', async () => {
    const { request, started, ended, getRun } = await setup();
    const done = await started('echo', { input: 1 });
    await ended(done.id);
    const sleeping = await started('nap');
    await waitFor(async () => (await getRun(sleeping.id)).waiting_for !== null, 15_000, 'the run to sleep');
    await request('/tasks', { method: 'POST', json: { title: 't', description: 'd', delay_seconds: 3600 } });
    const stats = (await (await request('/stats')).json()) as Record<string, unknown>;
    expect(Object.keys(stats).sort()).toEqual(['counts', 'database_bytes', 'database_free_bytes', 'flow_control', 'oldest_pending_age_seconds', 'runs', 'schedules', 'total'].sort());
    expect(stats.total).toBe(3);
    expect(stats.runs).toEqual({ counts: { pending: 1, in_progress: 0, completed: 1, failed: 0, cancelled: 0 }, total: 2 });
  });

  it('API_TOKEN guards /workflows, /runs and /events like /tasks', async () => {
    const token = 'api-token-0123456789';
    const { request } = await setup({ API_TOKEN: token }, false);
    for (const [method, path] of [['GET', '/workflows'], ['POST', '/workflows/echo/runs'], ['GET', '/runs'], ['GET', '/runs/0000000000000001'], ['POST', '/runs/0000000000000001/cancel'], ['POST', '/events']] as const) {
      expect((await request(path, { method, json: method === 'POST' ? {} : undefined })).status, `${method} ${path}`).toBe(401);
    }
    expect((await request('/workflows', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });
});
