import { fileURLToPath } from 'node:url';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskJson } from '../lib/tasks/model.ts';
import { createRuntime, type Runtime } from '../local/runtime.ts';
import { startWorkerd, useBundles, useWorkersEntry } from './bundles.ts';
import { workflows as edgeWorkflows } from './fixtures/edge-workflows.ts';
import { waitFor } from './helpers.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * The dashboard's own Workers bundle (dist/workers-dashboard/index.mjs) in real workerd
 * against a real sqld: every page answers 200 with the same HTML structure (elements, ids,
 * classes, in order) as the Node server renders from the same database; a logout on the Node
 * server ends the Worker's sessions too, and the Worker limits pages, never assets. The `api`
 * Worker has no dashboard (it answers /ui with the API's 404). With workflows (a test entry
 * built like the real one), the run pages match Node's and the Worker's forms act on the runs,
 * schedules and types the Node runtime sees.
 */
const available = await sqldAvailable();
const DASHBOARD_WITH_WORKFLOWS = fileURLToPath(new URL('./fixtures/workers-dashboard-with-workflows.ts', import.meta.url));

/**
 * The page's skeleton: each opening tag with its id and class; text and other attributes left
 * out, and a timeline bar's position (tl-l…/tl-w…: a share of the span up to now, which moves
 * between two renders of a run still going on).
 */
function structure(html: string): string[] {
  return [...html.matchAll(/<([a-z][a-z0-9]*)\b([^>]*)>/g)].map(([, tag, attrs]) => {
    const id = /\bid="([^"]*)"/.exec(attrs!)?.[1];
    const cls = /\bclass="([^"]*)"/.exec(attrs!)?.[1]?.replace(/\btl-([lw])\d+\b/g, 'tl-$1');
    return `${tag}${id ? `#${id}` : ''}${cls ? `.${cls.replace(/ /g, '.')}` : ''}`;
  });
}

/** The same path from the dashboard Worker and the Node server: both 200 with the same skeleton. */
async function sameStructure(edge: Miniflare, node: Runtime, path: string): Promise<string> {
  const [fromEdge, fromNode] = [await edge.dispatchFetch(`http://task-pool.test${path}`), await node.app.fetch(new Request(`http://task-pool.test${path}`))];
  expect(fromEdge.status, path).toBe(200);
  expect(fromNode.status, path).toBe(200);
  const [edgeHtml, nodeHtml] = [await fromEdge.text(), await fromNode.text()];
  expect(edgeHtml.startsWith('<!DOCTYPE html>'), path).toBe(true);
  expect(structure(edgeHtml), path).toEqual(structure(nodeHtml));
  expect(structure(edgeHtml).length, path).toBeGreaterThan(15);
  return edgeHtml;
}

describe.skipIf(!available)('dashboard in workerd (its own Worker)', () => {
  const sqld = useSqld();
  const bundles = useBundles(['workers', 'workers-dashboard']);
  const withWorkflows = useWorkersEntry(DASHBOARD_WITH_WORKFLOWS);
  let dashboard: Miniflare;
  let api: Miniflare;
  let node: Runtime;
  const env = { SIMULATE_MIN_MS: '0', SIMULATE_MAX_MS: '0', LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0' };

  beforeAll(async () => {
    const bindings = { ...env, DATABASE_URL: sqld.url };
    dashboard = await startWorkerd(bundles, bindings, 'workers-dashboard');
    api = await startWorkerd(bundles, bindings);
    node = await createRuntime({ env: bindings, processing: false });
  });
  afterAll(async () => {
    await dashboard?.dispose();
    await api?.dispose();
    await node?.shutdown();
  });

  it('serves every page with the Node server\'s HTML structure', async () => {
    // Tasks go in through the api Worker; the dashboard's Worker serves only /ui.
    const submit = async (body: object) =>
      (await (await api.dispatchFetch('http://task-pool.test/tasks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as TaskJson;
    const task = await submit({ title: 'edge page', description: 'd', delay_seconds: 3600, payload: { n: 1 } });
    await submit({ title: 'another', description: 'd', delay_seconds: 60 });

    // A schedule for the overview and the Schedules page (the api Worker has the schedule routes).
    await api.dispatchFetch('http://task-pool.test/schedules/nightly', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cron: '0 3 * * *', task: { title: 'n', description: 'd' } }) });

    const paths = ['/ui', '/ui/tasks', '/ui/tasks?status=pending&title=edge', `/ui/tasks/${task.id}`, '/ui/failed', '/ui/workflows', '/ui/runs', '/ui/schedules', '/ui/types', '/ui/assets/style.css'];
    for (const path of paths) {
      const edge = await dashboard.dispatchFetch(`http://task-pool.test${path}`);
      const local = await node.app.fetch(new Request(`http://task-pool.test${path}`));
      expect(edge.status, path).toBe(200);
      expect(local.status, path).toBe(200);
      expect(edge.headers.get('content-security-policy'), path).toBe(local.headers.get('content-security-policy'));
      const [edgeHtml, localHtml] = [await edge.text(), await local.text()];
      if (path.endsWith('.css')) {
        expect(edgeHtml).toBe(localHtml);
        continue;
      }
      expect(edgeHtml.startsWith('<!DOCTYPE html>'), path).toBe(true);
      expect(structure(edgeHtml), path).toEqual(structure(localHtml));
      expect(structure(edgeHtml).length, path).toBeGreaterThan(15);
    }
    const detail = await (await dashboard.dispatchFetch(`http://task-pool.test/ui/tasks/${task.id}`)).text();
    expect(detail).toContain('edge page');
    expect(detail).toContain('&quot;n&quot;: 1');

    const root = await dashboard.dispatchFetch('http://task-pool.test/', { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/ui');
    expect((await dashboard.dispatchFetch('http://task-pool.test/tasks')).status).toBe(404);
  });

  it('with workflows: the Workflows, Runs and run pages as Node renders them; an event, a cancel, a schedule\'s pause and trigger, a type\'s pause from the Worker\'s forms', async () => {
    const bindings = { ...env, DATABASE_URL: sqld.url };
    const edge = await startWorkerd(withWorkflows.scriptPath, bindings);
    // The Node runtime runs the runs; the Worker only shows them and acts on them.
    const local = await createRuntime({ env: { ...bindings, TASK_POLL_INTERVAL_SECONDS: '0.1' }, workflows: edgeWorkflows });
    local.start();
    try {
      const { run } = await local.workflows.startRun('edge-flow', { input: { key: 'edge-page' } });
      const other = (await local.workflows.startRun('edge-flow', { input: { key: 'edge-other' }, delaySeconds: 3600 })).run;
      const waiting = await waitFor(async () => {
        const current = await local.workflows.getRun(run.id);
        return current.waiting_for?.some((w) => w.kind === 'event') ? current : null;
      }, 20_000, 'the run to wait for its event');
      expect(waiting.steps.map((s) => s.name)).toEqual(['mint', 'nap', 'go']);

      for (const path of ['/ui/workflows', '/ui/runs', '/ui/runs?workflow=edge-flow&status=pending', `/ui/runs/${run.id}`, `/ui/tasks/${run.id}`, '/ui/types']) await sameStructure(edge, local, path);
      const page = await (await edge.dispatchFetch(`http://task-pool.test/ui/runs/${run.id}`)).text();
      expect(page).toContain('waiting for event edge.go (key edge-page)');
      expect(page).toContain(`<form method="post" action="/ui/runs/${run.id}/event" class="send-event" data-step="go">`);

      // The Worker's forms: the event resumes the run (the Node runtime finishes it), a cancel, a pause, a trigger.
      const form = (path: string, body = '') =>
        edge.dispatchFetch(`http://task-pool.test${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://task-pool.test' }, body, redirect: 'manual' });
      const sent = await form(`/ui/runs/${run.id}/event`, 'event=edge.go&key=edge-page&payload=%7B%22from%22%3A%22edge%22%7D');
      expect(sent.status).toBe(303);
      expect(sent.headers.get('location')).toBe(`/ui/runs/${run.id}?done=event&resumed=1`);
      const done = await waitFor(async () => {
        const current = await local.workflows.getRun(run.id);
        return current.status === 'completed' ? current : null;
      }, 20_000, 'the run to complete');
      expect(done.output).toMatchObject({ payload: { from: 'edge' } });
      await sameStructure(edge, local, `/ui/runs/${run.id}`);

      expect((await form(`/ui/runs/${other.id}/cancel`)).status).toBe(303);
      expect((await local.workflows.getRun(other.id)).status).toBe('cancelled');
      await local.app.fetch(new Request('http://task-pool.test/schedules/edge-report', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cron: '0 3 * * *', task: { title: 'r', description: 'd' } }) }));
      expect((await form('/ui/schedules/edge-report/pause')).status).toBe(303);
      expect(await (await local.app.fetch(new Request('http://task-pool.test/schedules/edge-report'))).json()).toMatchObject({ paused: true });
      const triggered = await form('/ui/schedules/edge-report/trigger');
      const taskId = new URL(triggered.headers.get('location')!, 'http://task-pool.test').searchParams.get('task')!;
      expect((await local.service.get(taskId)).title).toBe('r');
      expect((await form('/ui/types/pause', 'type=simulate&from=types')).status).toBe(303);
      expect((await local.service.types()).find((t) => t.type === 'simulate')?.paused).toBe(true);
      await local.service.resumeType('simulate');
      await sameStructure(edge, local, '/ui/schedules');
    } finally {
      await edge.dispose();
      await local.shutdown();
    }
  });

  it('with API_TOKEN: a logout on the Node server ends the Worker\'s session too (they share only sqld); pages have their own limit, assets none', async () => {
    const token = 'workers-dashboard-token-0123456789';
    const bindings = { ...env, DATABASE_URL: sqld.url, API_TOKEN: token, DASHBOARD_RATE_LIMIT_PER_MINUTE: '8' };
    const edge = await startWorkerd(bundles, bindings, 'workers-dashboard');
    const local = await createRuntime({ env: bindings, processing: false });
    try {
      const form = { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://task-pool.test' };
      const login = await edge.dispatchFetch('http://task-pool.test/ui/login', { method: 'POST', headers: form, body: `token=${token}`, redirect: 'manual' });
      expect(login.status).toBe(303);
      const cookie = /^(task_pool_session=[^;]+)/.exec(login.headers.get('set-cookie') ?? '')![1]!;
      const opens = async (fetcher: (url: string, init: RequestInit) => Promise<{ status: number }>) =>
        (await fetcher('http://task-pool.test/ui/tasks', { headers: { cookie }, redirect: 'manual' })).status;
      const viaEdge = (url: string, init: RequestInit) => edge.dispatchFetch(url, init as never);
      const viaNode = async (url: string, init: RequestInit) => local.app.fetch(new Request(url, init));
      expect(await opens(viaEdge)).toBe(200);
      expect(await opens(viaNode)).toBe(200);
      const html = await (await local.app.fetch(new Request('http://task-pool.test/ui', { headers: { cookie } }))).text();
      const csrf = /name="_csrf" value="([^"]+)"/.exec(html)![1]!;
      const out = await local.app.fetch(new Request('http://task-pool.test/ui/logout', { method: 'POST', headers: { ...form, cookie }, body: `_csrf=${encodeURIComponent(csrf)}` }));
      expect(out.status).toBe(303);
      expect(await opens(viaEdge)).toBe(303);
      expect(await opens(viaNode)).toBe(303);

      // 8 page views a minute on this Worker (3 spent above): assets are not counted, the 6th page is a 429 page.
      for (let i = 0; i < 20; i++) expect((await edge.dispatchFetch('http://task-pool.test/ui/assets/style.css')).status).toBe(200);
      const statuses = [];
      for (let i = 0; i < 6; i++) statuses.push((await edge.dispatchFetch('http://task-pool.test/ui/login')).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
      const limited = await edge.dispatchFetch('http://task-pool.test/ui/login');
      expect(limited.headers.get('content-type')).toContain('text/html');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await limited.text()).toContain('Too many requests');
    } finally {
      await edge.dispose();
      await local.shutdown();
    }
  });

  it('the api Worker carries no dashboard: /ui is the API\'s 404', async () => {
    const response = await api.dispatchFetch('http://task-pool.test/ui');
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ message: 'no route for GET /ui', code: 'route_not_found' });
  });
});
