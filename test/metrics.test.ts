import { describe, expect, it } from 'vitest';
import type { TaskHandler } from '../lib/processing/handlers.ts';
import { TaskFailure } from '../lib/processing/task-failure.ts';
import { defineWorkflow } from '../lib/workflows/define.ts';
import { waitFor } from './helpers.ts';
import { parsePrometheusText, sampleValue } from './support/prometheus-text.ts';
import { serveRuntime } from './support/serve.ts';

const TOKEN = 'api-token-0123456789';
const METRICS_TOKEN = 'metrics-token-0123456789';

const handlers: Record<string, TaskHandler> = {
  ok: async () => ({ ok: true }),
  boom: async () => {
    throw new Error('boom');
  },
};

async function scrape(url: string, token?: string) {
  const response = await fetch(`${url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await response.text();
  return { response, text };
}

async function metrics(url: string, token = TOKEN) {
  const { response, text } = await scrape(url, token);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(text);
}

async function submit(url: string, body: Record<string, unknown>) {
  const response = await fetch(`${url}/tasks`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(response.status).toBe(202);
  return (await response.json()) as { id: string };
}

const post = (url: string, path: string) => fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });

describe('the Prometheus text parser used below', () => {
  it('accepts a well-formed exposition and rejects what Prometheus would misread', () => {
    const good = '# HELP a_total A.\n# TYPE a_total counter\na_total{type="x\\"y\\\\z\\n"} 3\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3.5\nh_count 2\n';
    const families = parsePrometheusText(good);
    expect(sampleValue(families, 'a_total', { type: 'x"y\\z\n' })).toBe(3);
    expect(() => parsePrometheusText('a_total 1\n')).toThrow(/no # TYPE/);
    expect(() => parsePrometheusText('# TYPE a counter\na{x="\\t"} 1\n')).toThrow(/bad escape/);
    expect(() => parsePrometheusText('# TYPE a counter\na 1\na 2\n')).toThrow(/twice/);
    expect(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n')).toThrow(/cumulative/);
    expect(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n')).toThrow(/_count/);
    expect(() => parsePrometheusText('# TYPE a gauge\na one\n')).toThrow(/bad value/);
  });
});

describe('GET /metrics', () => {
  it('parses, and its counters move by exactly the tasks run, cancelled and retried', async () => {
    const { runtime, url } = await serveRuntime({
      env: { API_TOKEN: TOKEN, TASK_BACKOFF_BASE_MS: '0', TASK_BACKOFF_MAX_MS: '0', METRICS_REFRESH_SECONDS: '0' },
      handlers,
    });
    const before = await metrics(url);
    expect(sampleValue(before, 'task_pool_tasks_submitted_total', { type: 'ok' })).toBeUndefined();

    const oks = await Promise.all(Array.from({ length: 5 }, (_, i) => submit(url, { title: `ok ${i}`, description: 'd', type: 'ok' })));
    const booms = await Promise.all(Array.from({ length: 2 }, (_, i) => submit(url, { title: `boom ${i}`, description: 'd', type: 'boom', max_attempts: 2 })));
    const later = await submit(url, { title: 'later', description: 'd', type: 'ok', delay_seconds: 3600 });
    // The pool counts an outcome after processTask returned, so after its metrics were reported.
    const counted = (completed: number, failed: number) =>
      waitFor(() => runtime.pool.counts.completed === completed && runtime.pool.counts.failed === failed, 10_000, `${completed} completed, ${failed} failed`);
    await counted(5, 2);
    expect((await Promise.all([...oks, ...booms].map((t) => runtime.repo.get(Number(t.id))))).map((t) => t!.status)).toEqual([...Array(5).fill('completed'), 'failed', 'failed']);
    expect((await post(url, `/tasks/${later.id}/cancel`)).status).toBe(200);
    expect((await post(url, `/tasks/${booms[0]!.id}/retry`)).status).toBe(200);
    await counted(5, 3);
    expect((await fetch(`${url}/tasks/no-such-task`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    expect((await fetch(`${url}/no/such/route/1`)).status).toBe(404);
    expect((await fetch(`${url}/no/such/route/2`)).status).toBe(404);

    const after = await metrics(url);
    const value = (name: string, labels: Record<string, string>) => sampleValue(after, name, labels);
    expect(value('task_pool_tasks_submitted_total', { type: 'ok' })).toBe(6);
    expect(value('task_pool_tasks_submitted_total', { type: 'boom' })).toBe(2);
    expect(value('task_pool_tasks_completed_total', { type: 'ok' })).toBe(5);
    // Each boom: attempt 1 retried, attempt 2 failed; the one retried through the API once more.
    expect(value('task_pool_tasks_retried_total', { type: 'boom', source: 'attempt' })).toBe(3);
    expect(value('task_pool_tasks_failed_total', { type: 'boom' })).toBe(3);
    expect(value('task_pool_tasks_retried_total', { type: 'boom', source: 'api' })).toBe(1);
    expect(value('task_pool_tasks_cancelled_total', { type: 'ok' })).toBe(1);
    expect(value('task_pool_tasks_completed_total', { type: 'boom' })).toBeUndefined();
    expect(value('task_pool_handler_duration_seconds_count', { type: 'ok' })).toBe(5);
    expect(value('task_pool_handler_duration_seconds_count', { type: 'boom' })).toBe(6);
    // First attempts only: 5 oks, 2 booms, and the API retry (attempts reset to 0).
    expect(value('task_pool_queue_wait_seconds_count', { type: 'ok' })).toBe(5);
    expect(value('task_pool_queue_wait_seconds_count', { type: 'boom' })).toBe(3);

    // Gauges from the database (refresh interval 0 here: read on this scrape).
    expect(value('task_pool_tasks', { status: 'completed' })).toBe(5);
    expect(value('task_pool_tasks', { status: 'failed' })).toBe(2);
    expect(value('task_pool_tasks', { status: 'cancelled' })).toBe(1);
    expect(value('task_pool_tasks', { status: 'pending' })).toBe(0);
    expect(value('task_pool_oldest_pending_age_seconds', {})).toBe(0);

    // HTTP by route pattern: the unknown id is not a label.
    expect(value('task_pool_http_request_duration_seconds_count', { method: 'POST', route: '/tasks', status: '202' })).toBe(8);
    expect(value('task_pool_http_request_duration_seconds_count', { method: 'GET', route: '/tasks/:id', status: '404' })).toBe(1);
    expect(after.get('task_pool_http_request_duration_seconds')!.samples.some((s) => /no-such|no\/such/.test(s.labels.route ?? ''))).toBe(false);
    // Unknown paths share one series instead of one each.
    expect(value('task_pool_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status: '404' })).toBe(2);

    // Process metrics from prom-client's default collectors.
    expect(after.get('process_cpu_user_seconds_total')?.type).toBe('counter');
    expect(after.get('nodejs_heap_size_used_bytes')?.type).toBe('gauge');
  });

  it('counts workflow runs started and finished by outcome, and step durations by kind', async () => {
    const child = defineWorkflow('wf-child', async (ctx) => ctx.step('c', () => 'child done'));
    const ok = defineWorkflow('wf-ok', async (ctx) => {
      await ctx.step('a', () => 1);
      await ctx.sleep('nap', '100ms');
      return ctx.invoke('child', child, {});
    });
    const fail = defineWorkflow('wf-fail', async (ctx) => ctx.step('boom', () => {
      throw new TaskFailure('declined', { permanent: true });
    }));
    const wait = defineWorkflow('wf-wait', async (ctx) => ctx.waitForEvent('never', { event: 'never', timeout: '1h' }));
    const { url } = await serveRuntime({ env: { API_TOKEN: TOKEN, METRICS_REFRESH_SECONDS: '0' }, workflows: [child, ok, fail, wait] });
    const start = async (workflow: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`${url}/workflows/${workflow}/runs`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, ...headers } });
      expect(response.status).toBeLessThan(300);
      return (await response.json()) as { id: string };
    };
    await start('wf-ok', { 'idempotency-key': 'ok-1' });
    await start('wf-ok', { 'idempotency-key': 'ok-1' }); // a replay: not a new run
    await start('wf-fail');
    const [w1, w2, w3] = [await start('wf-wait'), await start('wf-wait'), await start('wf-wait')];
    // Any cancel of a run counts: through /runs, and through /tasks (a run is a task), one or in bulk.
    expect((await post(url, `/runs/${w1.id}/cancel`)).status).toBe(200);
    expect((await post(url, `/tasks/${w2.id}/cancel`)).status).toBe(200);
    const bulk = await fetch(`${url}/tasks/cancel`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ ids: [w3.id] }) });
    expect(await bulk.json()).toEqual({ matched: 1, changed: 1 });

    const finished = (families: Awaited<ReturnType<typeof metrics>>, workflow: string, outcome: string) => sampleValue(families, 'task_pool_workflow_runs_finished_total', { workflow, outcome });
    const after = await waitFor(async () => {
      const families = await metrics(url);
      return finished(families, 'wf-ok', 'completed') === 1 && finished(families, 'wf-fail', 'failed') === 1 ? families : null;
    }, 15_000, 'the runs to finish');
    const value = (name: string, labels: Record<string, string>) => sampleValue(after, name, labels);
    expect(value('task_pool_workflow_runs_started_total', { workflow: 'wf-ok' })).toBe(1);
    expect(value('task_pool_workflow_runs_started_total', { workflow: 'wf-child' })).toBe(1);
    expect(value('task_pool_workflow_runs_started_total', { workflow: 'wf-fail' })).toBe(1);
    expect(value('task_pool_workflow_runs_started_total', { workflow: 'wf-wait' })).toBe(3);
    expect(finished(after, 'wf-child', 'completed')).toBe(1);
    expect(finished(after, 'wf-wait', 'cancelled')).toBe(3);
    expect(value('task_pool_tasks_cancelled_total', { type: 'workflow:wf-wait' })).toBe(3);
    expect(finished(after, 'wf-ok', 'failed') ?? 0).toBe(0);
    // A child run is a task committed like a submit.
    expect(value('task_pool_tasks_submitted_total', { type: 'workflow:wf-child' })).toBe(1);

    const steps = (workflow: string, kind: string) => value('task_pool_workflow_step_duration_seconds_count', { workflow, kind });
    expect([steps('wf-ok', 'step'), steps('wf-ok', 'sleep'), steps('wf-ok', 'invoke'), steps('wf-child', 'step'), steps('wf-fail', 'step')]).toEqual([1, 1, 1, 1, 1]);
    expect(value('task_pool_workflow_step_duration_seconds_sum', { workflow: 'wf-ok', kind: 'sleep' })).toBeGreaterThanOrEqual(0.1);
    expect(steps('wf-wait', 'wait')).toBeUndefined();
  });

  it('reads the database gauges at most once per METRICS_REFRESH_SECONDS, however often scraped', async () => {
    const { runtime, url } = await serveRuntime({ env: { METRICS_REFRESH_SECONDS: '3600' }, handlers, processing: false });
    await submit(url, { title: 't', description: 'd', type: 'ok' });
    const first = await metrics(url);
    expect(sampleValue(first, 'task_pool_tasks', { status: 'pending' })).toBe(1);
    await submit(url, { title: 't', description: 'd', type: 'ok' });
    const scrapes = await Promise.all([metrics(url), metrics(url), metrics(url)]);
    for (const families of scrapes) expect(sampleValue(families, 'task_pool_tasks', { status: 'pending' })).toBe(1);
    expect(runtime.metrics!.databaseReads).toBe(1);
    // The age is computed at scrape time from the created_at read then.
    expect(sampleValue(scrapes[0]!, 'task_pool_oldest_pending_age_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('needs API_TOKEN when it is set: 401 without it or with a wrong one', async () => {
    const { url } = await serveRuntime({ env: { API_TOKEN: TOKEN }, processing: false });
    for (const token of [undefined, 'wrong-token-0123456789']) {
      const { response, text } = await scrape(url, token);
      expect(response.status).toBe(401);
      expect(JSON.parse(text)).toEqual({ message: 'missing or invalid bearer token', code: 'unauthorized' });
    }
    expect((await scrape(url, TOKEN)).response.status).toBe(200);
  });

  it('with METRICS_TOKEN needs that token (the API token is not accepted)', async () => {
    const { url } = await serveRuntime({ env: { API_TOKEN: TOKEN, METRICS_TOKEN }, processing: false });
    expect((await scrape(url)).response.status).toBe(401);
    expect((await scrape(url, TOKEN)).response.status).toBe(401);
    expect((await scrape(url, METRICS_TOKEN)).response.status).toBe(200);
    // The API itself still takes API_TOKEN only.
    expect((await fetch(`${url}/stats`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(401);
  });

  it('is open without any token configured, and absent with METRICS_ENABLED=false', async () => {
    const open = await serveRuntime({ processing: false });
    expect((await scrape(open.url)).response.status).toBe(200);
    const off = await serveRuntime({ env: { METRICS_ENABLED: 'false' }, processing: false });
    const { response, text } = await scrape(off.url);
    expect(response.status).toBe(404);
    expect(JSON.parse(text)).toMatchObject({ code: 'route_not_found' });
    expect(off.runtime.metrics).toBeUndefined();
  });
});
