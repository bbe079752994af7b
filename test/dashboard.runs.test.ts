import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EnvRecord } from '../lib/config/config.ts';
import { formatTaskId } from '../lib/tasks/ids.ts';
import { TIMELINE_STEPS } from '../lib/ui/assets.ts';
import { position, runAxis, stepBar } from '../lib/ui/pages/timeline.tsx';
import { waitText } from '../lib/ui/pages/waiting.tsx';
import { defineWorkflow, type Workflow } from '../lib/workflows/define.ts';
import type { RunDetailJson, StepJson } from '../lib/workflows/service.ts';
import type { Runtime } from '../local/runtime.ts';
import { handlers, workflows as checkoutWorkflows } from './fixtures/dashboard-workflows.ts';
import { COUNT_CAP, TaskInsights } from '../lib/tasks/insights.ts';
import { buildTask, type NewTask } from '../lib/tasks/model.ts';
import { openTestRepo, startRuntime, submitInput, tempDir, waitFor } from './helpers.ts';

/**
 * The dashboard's workflow, schedule and type pages below the browser (the browser test
 * drives them in Chromium): what each page says, that hostile step names, outputs and event
 * keys stay text, that every action is a CSRF-checked post refused in read-only mode, and the
 * timeline's arithmetic. Runs are real: the fixture's `checkout` runs in this process.
 */

const BASE = 'http://127.0.0.1:8080';

async function runtimeWith(env: EnvRecord = {}, workflows: Workflow[] = checkoutWorkflows, processing = true): Promise<Runtime> {
  // Step retries after 10 ms; a step's own retryAt (TaskFailure) may be an hour away.
  const runtime = await startRuntime({ workflows, handlers, processing, env: { TASK_BACKOFF_BASE_MS: '10', TASK_BACKOFF_MAX_MS: '3600000', ...env } });
  if (processing) runtime.start();
  return runtime;
}

const page = async (runtime: Runtime, path: string, init?: RequestInit) => {
  const response = await runtime.app.fetch(new Request(`${BASE}${path}`, init));
  return { status: response.status, html: await response.text(), location: response.headers.get('location') };
};

/** A same-origin form post, as the dashboard's own forms send it. */
const post = (runtime: Runtime, path: string, body = '', headers: Record<string, string> = {}) =>
  page(runtime, path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: BASE, ...headers }, body });

const run = (runtime: Runtime, id: string) => runtime.workflows.getRun(id);

function until(runtime: Runtime, id: string, check: (run: RunDetailJson) => boolean, what: string): Promise<RunDetailJson> {
  return waitFor(async () => {
    const current = await run(runtime, id);
    return check(current) ? current : null;
  }, 15_000, what);
}

const waitsForEvent = (r: RunDetailJson) => r.waiting_for?.some((w) => w.kind === 'event') === true;

/** The text of an element with this id (tags dropped, entities kept). */
function section(html: string, id: string): string {
  const start = html.indexOf(`id="${id}"`);
  expect(start, `#${id}`).toBeGreaterThan(0);
  return html.slice(start, start + 20_000);
}

describe('workflow pages', () => {
  it('Workflows lists each workflow\'s runs by status and its oldest pending run; Runs filters, pages and says what each run waits for', async () => {
    const runtime = await runtimeWith({}, checkoutWorkflows, false);
    const started: string[] = [];
    for (let i = 0; i < 5; i++) started.push((await runtime.workflows.startRun('checkout', { input: { email: `c${i}@example.com` } })).run.id);
    await runtime.workflows.cancelRun(started[0]!);

    const workflows = await page(runtime, '/ui/workflows');
    expect(workflows.status).toBe(200);
    const row = /<tr data-workflow="checkout">([\s\S]*?)<\/tr>/.exec(workflows.html)![1]!;
    expect(row).toContain('<td class="num" data-status="pending"><a href="/ui/runs?workflow=checkout&amp;status=pending">4</a></td>');
    expect(row).toContain('<td class="num" data-status="cancelled"><a href="/ui/runs?workflow=checkout&amp;status=cancelled">1</a></td>');
    expect(row).toMatch(/data-oldest-pending="true"><span title="[^"]+">(\d+ ms|[\d.]+ s)</);
    expect(workflows.html).toContain('<tr data-workflow="ship">');
    expect(workflows.html).toContain('<a href="/ui/workflows" aria-current="page">Workflows</a>');

    // Newest first, 50 a page: with 60 runs, "Older →" pages to the rest.
    for (let i = 0; i < 55; i++) await runtime.workflows.startRun('ship', { input: { items: i } });
    const first = await page(runtime, '/ui/runs');
    const ids = [...first.html.matchAll(/<tr data-run-id="(\d+)">/g)].map((m) => m[1]!);
    expect(ids).toHaveLength(50);
    expect([...ids].sort().reverse()).toEqual(ids);
    const older = /id="older" href="([^"]+)"/.exec(first.html)![1]!.replace(/&amp;/g, '&');
    expect(older).toBe(`/ui/runs?before=${ids[49]}`);
    const second = [...(await page(runtime, older)).html.matchAll(/<tr data-run-id="(\d+)">/g)].map((m) => m[1]!);
    expect(second).toHaveLength(10);
    expect(second.slice(5)).toEqual([...started].reverse());
    expect(new Set([...ids, ...second]).size).toBe(60);

    // Filters: workflow and status; a workflow that is not registered is a 400 naming the field.
    const cancelled = await page(runtime, '/ui/runs?workflow=checkout&status=cancelled');
    expect([...cancelled.html.matchAll(/<tr data-run-id="(\d+)">/g)].map((m) => m[1])).toEqual([started[0]]);
    expect(cancelled.html).toContain('<option value="checkout" selected="">checkout</option>');
    expect((await page(runtime, '/ui/runs?workflow=nope')).html).toContain('workflow must be one of the registered workflows');
    expect((await page(runtime, '/ui/runs?workflow=nope')).status).toBe(400);
    expect((await page(runtime, '/ui/runs?status=done')).status).toBe(400);
    expect((await page(runtime, '/ui/runs?before=x')).status).toBe(400);
  });

  it('a run\'s page: the step timeline with a retried step, a sleep, a wait and a child run; outputs, errors and the run\'s links', async () => {
    const runtime = await runtimeWith();
    const { run: started } = await runtime.workflows.startRun('checkout', { input: { email: 'ada@example.com', chargeFailures: 2, nap: '300ms' } });
    const id = started.id;
    const waiting = await until(runtime, id, waitsForEvent, 'the run to wait for the event');

    // Waiting for the event: the list and the page say so in words, and offer to send it.
    const list = await page(runtime, '/ui/runs?workflow=checkout');
    const listed = /<tr data-run-id="\d+">([\s\S]*?)<\/tr>/.exec(list.html)![1]!;
    expect(listed).toMatch(/waiting for event email\.verified \(key ada@example\.com\) until \d\d:\d\d:\d\dZ \(in 59 min [\d]+ s\)|waiting for event email\.verified \(key ada@example\.com\) until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/);
    let html = (await page(runtime, `/ui/runs/${id}`)).html;
    expect(section(html, 'why')).toContain('Waiting, holding no worker:');
    expect(html).toContain(`<form method="post" action="/ui/runs/${id}/event" class="send-event" data-step="email verified">`);
    expect(html).toContain('<input name="event" value="email.verified" required="" maxlength="200"/>');
    expect(html).toContain('<input name="key" value="ada@example.com" maxlength="200" placeholder="(none)"/>');
    expect(html).toContain(`action="/ui/runs/${id}/cancel"`);
    expect(html).not.toContain(`action="/ui/runs/${id}/retry"`);

    // The timeline: one row per step, in order, each bar placed on the run's span.
    const rows = [...html.matchAll(/<li class="tl-row" data-step="([^"]+)" data-kind="(\w+)" data-status="(\w+)">/g)].map((m) => [m[1], m[2], m[3]]);
    expect(rows).toEqual([
      ['load cart', 'step', 'completed'],
      ['charge card', 'step', 'completed'],
      ['cool off', 'sleep', 'completed'],
      ['email verified', 'wait', 'waiting'],
    ]);
    expect(section(html, 'timeline')).toContain('3 attempts');
    expect(html).toMatch(/class="tl-bar tl-done tl-l\d+ tl-w\d+"/);
    expect(html).toMatch(/class="tl-bar tl-gap tl-l\d+ tl-w\d+"/);
    // The wait runs to now: to the axis's end.
    const waitBar = /data-step="email verified"[\s\S]*?class="tl-bar tl-waiting tl-l(\d+) tl-w(\d+)"/.exec(html)!;
    expect(Number(waitBar[1]) + Number(waitBar[2])).toBe(TIMELINE_STEPS);
    expect(html).toContain('<div class="json-line"><span class="json-label">output</span><code>{&quot;items&quot;:3,&quot;total_cents&quot;:4200,&quot;currency&quot;:&quot;EUR&quot;}</code></div>');
    expect(waiting.steps.find((s) => s.name === 'charge card')!.attempts).toBe(3);

    // The event through the form: the run goes on to its child run, then completes.
    const sent = await post(runtime, `/ui/runs/${id}/event`, 'event=email.verified&key=ada%40example.com&payload=%7B%22verified%22%3Atrue%7D');
    expect(sent.status).toBe(303);
    expect(sent.location).toBe(`/ui/runs/${id}?done=event&resumed=1`);
    expect((await page(runtime, sent.location!)).html).toContain('Event sent: 1 waiting run was made due.');
    const done = await until(runtime, id, (r) => r.status === 'completed', 'the run to complete');
    const child = done.steps.find((s) => s.name === 'ship')!.child_run_id!;
    html = (await page(runtime, `/ui/runs/${id}`)).html;
    expect(html).toContain(`Child run: <a class="mono" href="/ui/runs/${child}">${child}</a> (<code>ship</code>).`);
    expect(html).toMatch(/got event email\.verified \(key ada@example\.com\)/);
    expect(html).toContain('<span class="json-label">event payload</span><code>{&quot;verified&quot;:true}</code>');
    expect(html).toContain('<span class="json-label">child run&#39;s output</span><code>{&quot;tracking&quot;:&quot;TP-0001&quot;,&quot;picked&quot;:3}</code>');
    expect(section(html, 'why')).toContain('Completed');
    expect(html).not.toContain(`action="/ui/runs/${id}/cancel"`);
    expect(html).not.toContain('class="send-event"');

    // The child links back to its parent; the run's task page links to the run.
    const childPage = (await page(runtime, `/ui/runs/${child}`)).html;
    expect(childPage).toContain(`Child run of <a class="mono" id="parent-run" href="/ui/runs/${id}">${id}</a> (its step <code>ship</code>).`);
    expect((await page(runtime, `/ui/tasks/${id}`)).html).toContain(`<a href="/ui/runs/${id}">its steps, what it waits for, and its actions →</a>`);
    // A client's idempotency key that looks like a child's makes no parent.
    const { task: impostor } = await runtime.service.submit({ title: 'ship', description: 'd', type: 'workflow:ship', payload: { items: 1 }, delaySeconds: 3600 }, `run:${id}:load cart`);
    expect((await page(runtime, `/ui/runs/${formatTaskId(impostor.id)}`)).html).not.toContain('Child run of');
    // A plain task's page does not.
    const { task: plain } = await runtime.service.submit(submitInput({ type: 'noop', delaySeconds: 3600 }));
    expect((await page(runtime, `/ui/tasks/${formatTaskId(plain.id)}`)).html).not.toContain('id="run-link"');
  });

  it('a failed step in red with its error, a retry through the form; a step waiting for its retry says when', async () => {
    const runtime = await runtimeWith();
    const gate = join(tempDir('task-pool-dash-'), 'gate');
    const { run: failing } = await runtime.workflows.startRun('checkout', { input: { email: 'b@example.com', chargeGate: gate } });
    await until(runtime, failing.id, (r) => r.status === 'failed', 'the run to fail');
    let html = (await page(runtime, `/ui/runs/${failing.id}`)).html;
    expect(html).toMatch(/data-step="charge card" data-kind="step" data-status="failed">[\s\S]*?class="tl-bar tl-failed /);
    expect(html).toContain('<pre class="step-error">card declined: insufficient funds</pre>');
    expect(html).toContain('<pre id="run-error" class="step-error">');
    expect(html).toContain(`action="/ui/runs/${failing.id}/retry"`);

    writeFileSync(gate, '');
    const retried = await post(runtime, `/ui/runs/${failing.id}/retry`);
    expect(retried.location).toBe(`/ui/runs/${failing.id}?done=retry`);
    await until(runtime, failing.id, waitsForEvent, 'the retried run to wait for its event');
    html = (await page(runtime, `/ui/runs/${failing.id}`)).html;
    expect(html).toMatch(/data-step="charge card" data-kind="step" data-status="completed"/);

    const { run: later } = await runtime.workflows.startRun('checkout', { input: { email: 'c@example.com', retryLaterSeconds: 3600 } });
    await until(runtime, later.id, (r) => r.waiting_for?.some((w) => w.kind === 'retry') === true, 'the step to wait for its retry');
    const row = /<tr data-run-id="\d+">([\s\S]*?)<\/tr>/.exec((await page(runtime, '/ui/runs?status=pending')).html)![1]!;
    expect(row).toMatch(/retrying step charge card at [\d:\- ]+Z \(in 5\d min \d+ s\) \(attempt 1 failed: card network busy, try later\)/);
    html = (await page(runtime, `/ui/runs/${later.id}`)).html;
    expect(html).toMatch(/data-status="retrying">[\s\S]*?attempt 1 failed; retrying at/);
    expect(html).toMatch(/class="tl-bar tl-retry /);

    // Cancel through the form.
    const cancelled = await post(runtime, `/ui/runs/${later.id}/cancel`);
    expect(cancelled.location).toBe(`/ui/runs/${later.id}?done=cancel`);
    expect((await run(runtime, later.id)).status).toBe('cancelled');
    expect((await page(runtime, cancelled.location!)).html).toContain('Run cancelled');
  });

  it('step names, outputs, errors and event keys are text, never markup', async () => {
    const evil = '<script>alert(1)</script>';
    const hostile = defineWorkflow('hostile', async (ctx) => {
      await ctx.step(`${evil} step`, () => ({ html: '<img src=x onerror=alert(2)>', quote: '"\'></textarea>' }));
      await ctx.step('throws', () => {
        throw new Error(`<b>bold</b> ${evil}`);
      }, { retries: 0 }).catch(() => null);
      await ctx.waitForEvent(`wait ${evil}`, { event: `ev<i>ent</i>`, key: `"><svg onload=alert(3)>`, timeout: '1h' });
    });
    const runtime = await runtimeWith({}, [hostile]);
    const { run: started } = await runtime.workflows.startRun('hostile', { input: { note: evil } });
    await until(runtime, started.id, waitsForEvent, 'the hostile run to wait');
    for (const path of [`/ui/runs/${started.id}`, '/ui/runs', '/ui/workflows']) {
      const { html } = await page(runtime, path);
      expect(html, path).not.toMatch(/<script>alert|<img src=x|<svg onload|<b>bold|<i>ent|"><svg/);
    }
    const { html } = await page(runtime, `/ui/runs/${started.id}`);
    expect(html).toContain('data-step="&lt;script&gt;alert(1)&lt;/script&gt; step"');
    expect(html).toContain('&lt;img src=x onerror=alert(2)&gt;');
    expect(html).toContain('&lt;b&gt;bold&lt;/b&gt;');
    expect(html).toContain('value="&quot;&gt;&lt;svg onload=alert(3)&gt;"');
    expect(html).toContain('value="ev&lt;i&gt;ent&lt;/i&gt;"');
    expect(html).toContain('&quot;note&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;');
  });

  it('a long output shows its first lines and expands (no script), cut at 64 KB', async () => {
    const runtime = await runtimeWith();
    const cart = { lines: Array.from({ length: 4000 }, (_, i) => ({ sku: `SKU-${i}`, qty: 1 })) };
    const { run: started } = await runtime.workflows.startRun('checkout', { input: { email: 'long@example.com', cart } });
    await until(runtime, started.id, waitsForEvent, 'the run to wait');
    const { html } = await page(runtime, `/ui/runs/${started.id}`);
    const block = /data-step="load cart"[\s\S]*?<details class="json">([\s\S]*?)<\/details>/.exec(html)![1]!;
    expect(block).toMatch(/<span class="json-toggle json-more">show all \(\d+ lines, [\d.]+ KB\)<\/span>/);
    expect(block).toContain('Cut at 64.0 KB; GET /runs/');
    const full = /<pre>([\s\S]*?)<\/pre>/.exec(block)![1]!.replace(/&quot;/g, '"').replace(/&amp;/g, '&');
    expect(full.length).toBe(64 * 1024 + 1);
    expect(full.endsWith('…')).toBe(true);
  });

  it('cancel, retry and send-event are CSRF-checked posts, refused in read-only mode; an unknown run is 404', async () => {
    const runtime = await runtimeWith({}, checkoutWorkflows, false);
    const { run: started } = await runtime.workflows.startRun('checkout', { input: { email: 'x@example.com' }, delaySeconds: 3600 });
    const id = started.id;
    // Another site's form, or none that says where it came from: 403, nothing changed.
    for (const headers of [{ origin: 'http://evil.example' }, { origin: 'null' }]) {
      expect((await post(runtime, `/ui/runs/${id}/cancel`, '', headers)).status).toBe(403);
    }
    expect((await runtime.app.fetch(new Request(`${BASE}/ui/runs/${id}/cancel`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } }))).status).toBe(403);
    expect((await post(runtime, `/ui/runs/${id}/event`, 'event=e', { origin: 'http://evil.example' })).status).toBe(403);
    expect((await run(runtime, id)).status).toBe('pending');

    // Bad forms are 400 pages naming the field; unknown runs 404.
    expect((await post(runtime, `/ui/runs/${id}/event`, 'event=e&payload=%7Bnot%20json')).html).toContain('payload must be JSON');
    expect((await post(runtime, `/ui/runs/${id}/event`, `event=${'e'.repeat(201)}`)).html).toContain('event must be at most 200 characters');
    expect((await post(runtime, `/ui/runs/${id}/event`, 'event=')).status).toBe(400);
    expect((await page(runtime, '/ui/runs/0000000000000001')).status).toBe(404);
    expect((await page(runtime, '/ui/runs/not-an-id')).status).toBe(404);
    expect((await post(runtime, '/ui/runs/0000000000000001/cancel')).status).toBe(404);
    // A task that is not a run is no run.
    const { task } = await runtime.service.submit(submitInput({ delaySeconds: 3600 }));
    expect((await page(runtime, `/ui/runs/${formatTaskId(task.id)}`)).status).toBe(404);
    // Retrying a pending run: 409 as a page.
    const conflict = await post(runtime, `/ui/runs/${id}/retry`);
    expect(conflict.status).toBe(409);
    expect(conflict.html).toContain('only failed or cancelled runs can be retried');

    // With a session, a post without the session's CSRF token is refused.
    const token = 'runs-page-token-0123456789';
    const guarded = await runtimeWith({ API_TOKEN: token }, checkoutWorkflows, false);
    const guardedRun = (await guarded.workflows.startRun('checkout', { input: { email: 'g@example.com' }, delaySeconds: 3600 })).run.id;
    const login = await guarded.app.fetch(new Request(`${BASE}/ui/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: BASE }, body: `token=${token}` }));
    expect(login.status).toBe(303);
    const cookie = /^(task_pool_session=[^;]+)/.exec(login.headers.get('set-cookie')!)![1]!;
    expect((await post(guarded, `/ui/runs/${guardedRun}/cancel`, '', { cookie })).status).toBe(403);
    expect((await post(guarded, `/ui/runs/${guardedRun}/cancel`, '_csrf=forged', { cookie })).status).toBe(403);
    const runPage = (await page(guarded, `/ui/runs/${guardedRun}`, { headers: { cookie } })).html;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(runPage)![1]!;
    expect((await run(guarded, guardedRun)).status).toBe('pending');
    expect((await post(guarded, `/ui/runs/${guardedRun}/cancel`, `_csrf=${encodeURIComponent(csrf)}`, { cookie })).status).toBe(303);
    expect((await run(guarded, guardedRun)).status).toBe('cancelled');

    // Read-only: no action shown, every post 403.
    const readOnly = await runtimeWith({ DASHBOARD_READ_ONLY: 'true' }, checkoutWorkflows, false);
    const shown = (await readOnly.workflows.startRun('checkout', { input: { email: 'r@example.com' } })).run.id;
    const html = (await page(readOnly, `/ui/runs/${shown}`)).html;
    expect(html).not.toMatch(/action="\/ui\/runs\//);
    for (const [path, body] of [[`/ui/runs/${shown}/cancel`, ''], [`/ui/runs/${shown}/retry`, ''], [`/ui/runs/${shown}/event`, 'event=email.verified&key=r%40example.com']] as const) {
      const refused = await post(readOnly, path, body);
      expect(refused.status, path).toBe(403);
      expect(refused.html).toContain('read-only');
    }
    expect((await run(readOnly, shown)).status).toBe('pending');
  });
});

describe('schedule and type pages', () => {
  const schedule = (runtime: Runtime, name: string, type: string, cron = '30 2 * * *', timezone = 'Europe/Berlin') =>
    runtime.app.fetch(new Request(`${BASE}/schedules/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cron, timezone, task: { title: name, description: 'd', type } }) }));

  it('Schedules: cron, zone, next and last run, paused; pause, resume and "run now" through the forms', async () => {
    const runtime = await runtimeWith({}, checkoutWorkflows, false);
    expect((await schedule(runtime, 'nightly-report', 'report')).status).toBe(201);
    expect((await schedule(runtime, 'hourly-sync', 'noop', '0 * * * *', 'UTC')).status).toBe(201);
    let html = (await page(runtime, '/ui/schedules')).html;
    expect([...html.matchAll(/<tr data-schedule="([^"]+)">/g)].map((m) => m[1])).toEqual(['hourly-sync', 'nightly-report']);
    const nightly = /<tr data-schedule="nightly-report">([\s\S]*?)<\/tr>/.exec(html)![1]!;
    expect(nightly).toContain('<td class="mono time">30 2 * * *</td><td>Europe/Berlin</td>');
    expect(nightly).toMatch(/data-next-run="true">[\d\-: ]+Z \(in /);
    expect(nightly).toContain('<span class="muted">never</span>');
    expect(nightly).toContain('<span class="status s-active">active</span>');

    const paused = await post(runtime, '/ui/schedules/nightly-report/pause');
    expect(paused.location).toBe('/ui/schedules?done=pause&schedule=nightly-report');
    html = (await page(runtime, paused.location!)).html;
    expect(html).toContain('Schedule “nightly-report” paused');
    expect(/<tr data-schedule="nightly-report">([\s\S]*?)<\/tr>/.exec(html)![1]).toContain('<span class="status s-paused">paused</span>');
    expect(html).toContain('action="/ui/schedules/nightly-report/resume"');

    const triggered = await post(runtime, '/ui/schedules/nightly-report/trigger');
    const taskId = new URL(triggered.location!, BASE).searchParams.get('task')!;
    expect((await runtime.service.get(taskId)).type).toBe('report');
    html = (await page(runtime, triggered.location!)).html;
    expect(html).toContain(`Schedule “nightly-report” ran now: task <a class="mono" href="/ui/tasks/${taskId}">${taskId}</a>`);
    expect(/<tr data-schedule="nightly-report">([\s\S]*?)<\/tr>/.exec(html)![1]).toMatch(/data-last-run="true"><span title="[^"]+">(\d+ ms|[\d.]+ s) ago/);

    const resumed = await post(runtime, '/ui/schedules/nightly-report/resume');
    expect((await page(runtime, resumed.location!)).html).toContain('Schedule “nightly-report” resumed.');
    expect(await (await runtime.app.fetch(new Request(`${BASE}/schedules/nightly-report`))).json()).toMatchObject({ paused: false });

    // Nothing from the query is echoed: an unknown name gets no notice.
    expect((await page(runtime, '/ui/schedules?done=pause&schedule=%3Cb%3Ehi')).html).not.toContain('id="notice"');
    expect((await post(runtime, '/ui/schedules/no-such/pause')).status).toBe(404);

    const readOnly = await runtimeWith({ DASHBOARD_READ_ONLY: 'true' }, checkoutWorkflows, false);
    await schedule(readOnly, 'nightly-report', 'report');
    expect((await page(readOnly, '/ui/schedules')).html).not.toContain('action="/ui/schedules/');
    for (const action of ['pause', 'resume', 'trigger']) expect((await post(readOnly, `/ui/schedules/nightly-report/${action}`)).status).toBe(403);
    expect((await post(runtime, '/ui/schedules/nightly-report/pause', '', { origin: 'http://evil.example' })).status).toBe(403);
  });

  it('Types: tasks by status per type, paused or not; pause and resume through the forms', async () => {
    const runtime = await runtimeWith({}, checkoutWorkflows, false);
    for (let i = 0; i < 3; i++) await runtime.service.submit(submitInput({ type: 'noop' }));
    await runtime.service.submit(submitInput({ type: 'report' }));
    let html = (await page(runtime, '/ui/types')).html;
    const types = [...html.matchAll(/<tr data-type="([^"]+)">/g)].map((m) => m[1]);
    expect(types).toEqual(expect.arrayContaining(['noop', 'report', 'simulate', 'http', 'workflow:checkout', 'workflow:ship']));
    const noop = () => /<tr data-type="noop">([\s\S]*?)<\/tr>/.exec(html)![1]!;
    expect(noop()).toContain('<td class="num" data-status="pending"><a href="/ui/tasks?type=noop&amp;status=pending">3</a></td>');
    expect(noop()).toContain('<span class="status s-active">active</span>');

    const paused = await post(runtime, '/ui/types/pause', 'type=noop&from=types');
    expect(paused.location).toBe('/ui/types?done=pause&type=noop');
    html = (await page(runtime, paused.location!)).html;
    expect(html).toContain('Type “noop” paused');
    expect(noop()).toMatch(/<span class="status s-paused" title="since [^"]+">paused \d+ ms ago|<span class="status s-paused" title="since [^"]+">paused [\d.]+ s ago/);
    expect((await runtime.service.types()).find((t) => t.type === 'noop')!.paused).toBe(true);
    const resumed = await post(runtime, '/ui/types/resume', 'type=noop&from=types');
    expect((await page(runtime, resumed.location!)).html).toContain('Type “noop” resumed');
    expect((await runtime.service.types()).find((t) => t.type === 'noop')!.paused).toBe(false);
    expect((await page(runtime, '/ui/types?done=pause&type=%3Cb%3E')).html).not.toContain('id="notice"');

    const readOnly = await runtimeWith({ DASHBOARD_READ_ONLY: 'true' }, checkoutWorkflows, false);
    expect((await page(readOnly, '/ui/types')).html).not.toContain('action="/ui/types/');
    expect((await post(readOnly, '/ui/types/pause', 'type=noop&from=types')).status).toBe(403);
    expect((await post(runtime, '/ui/types/pause', 'type=noop', { origin: 'http://evil.example' })).status).toBe(403);
  });
});

describe('counts per type, bounded', () => {
  it(`each status is one sample of ${COUNT_CAP} rows: exact below it, "+" at it; every type in the table is listed`, async () => {
    const t = await openTestRepo();
    const now = Date.now();
    const fresh: NewTask[] = [];
    // The oldest pending task is of type "late"; then COUNT_CAP pending "bulk" tasks; a finished "old" task.
    fresh.push(buildTask(submitInput({ type: 'late' }), { now: now - 100_000, maxAttempts: 3 }));
    for (let i = 0; i < COUNT_CAP; i++) fresh.push(buildTask(submitInput({ type: 'bulk' }), { now: now - 90_000 + i, maxAttempts: 3 }));
    fresh.push({ ...buildTask(submitInput({ type: 'old' }), { now: now - 200_000, maxAttempts: 3 }), status: 'completed', completedAt: now - 150_000, startedAt: now - 160_000 });
    fresh.push({ ...buildTask(submitInput({ type: 'bulk' }), { now: now - 1000, maxAttempts: 3 }), status: 'failed', completedAt: now - 500, startedAt: now - 600 });
    for (let i = 0; i < fresh.length; i += 500) await Promise.all(fresh.slice(i, i + 500).map((task) => t.repo.insert(task)));
    await t.repo.pauseType('idle');
    const insights = new TaskInsights(t.driver);
    const page = await insights.typeCounts(['simulate'], true);
    expect(page.types.map((x) => x.type)).toEqual(['bulk', 'idle', 'late', 'old', 'simulate']);
    expect(page.capped).toEqual({ pending: true, in_progress: false, completed: false, failed: false, cancelled: false });
    const of = (type: string) => page.types.find((x) => x.type === type)!;
    // The sample is the oldest COUNT_CAP pending tasks: "late" and all but one "bulk".
    expect(of('bulk').counts).toEqual({ pending: COUNT_CAP - 1, in_progress: 0, completed: 0, failed: 1, cancelled: 0 });
    expect(of('late')).toMatchObject({ counts: { pending: 1 }, oldestPendingCreatedAt: now - 100_000 });
    expect(of('old').counts.completed).toBe(1);
    expect(of('idle').pausedAt).not.toBeNull();
    // Only the named types when not discovering (the Workflows page).
    expect((await insights.typeCounts(['late'], false)).types.map((x) => x.type)).toEqual(['late']);
    await t.close();
  });
});

describe('the timeline\'s arithmetic and the words for waits', () => {
  const step = (fields: Partial<StepJson>): StepJson => ({
    name: 's', kind: 'step', status: 'completed', attempts: 1, output: null, error: null, started_at: '2026-03-01T10:00:00.000Z',
    completed_at: null, wake_at: null, event: null, key: null, child_run_id: null, ...fields,
  });

  it('places bars in steps of 0.5% of the run\'s span, never past either end', () => {
    const axis = { from: 1000, to: 3000, ended: true };
    expect(position(1000, 3000, axis)).toEqual({ left: 0, width: TIMELINE_STEPS });
    expect(position(2000, 2500, axis)).toEqual({ left: 100, width: 50 });
    expect(position(2999, 2999, axis)).toEqual({ left: 200, width: 0 });
    expect(position(500, 9000, axis)).toEqual({ left: 0, width: 200 });
  });

  it('the axis runs from creation to the end, or to now; an open step runs to the axis\'s end', () => {
    const now = Date.parse('2026-03-01T10:01:00Z');
    const run = {
      created_at: '2026-03-01T10:00:00.000Z', completed_at: null,
      steps: [step({ completed_at: '2026-03-01T10:00:30.000Z' }), step({ name: 'nap', kind: 'sleep', status: 'waiting', started_at: '2026-03-01T10:00:30.000Z', wake_at: '2026-03-01T11:00:00.000Z' })],
    } as RunDetailJson;
    const axis = runAxis(run, now);
    expect(axis).toEqual({ from: Date.parse('2026-03-01T10:00:00Z'), to: now, ended: false });
    expect(stepBar(run.steps[0]!, axis)).toMatchObject({ left: 0, width: 100, tone: 'done', open: false });
    expect(stepBar(run.steps[1]!, axis)).toMatchObject({ left: 100, width: 100, tone: 'waiting', open: true });
    expect(stepBar(step({ status: 'failed', completed_at: '2026-03-01T10:00:06.000Z' }), axis)).toMatchObject({ tone: 'failed', width: 20 });
    expect(stepBar(step({ kind: 'wait', completed_at: '2026-03-01T10:00:06.000Z' }), axis).tone).toBe('gap');
    expect(stepBar(step({ status: 'retrying' }), axis).tone).toBe('retry');
  });

  it('says what a run waits for', () => {
    const now = Date.parse('2026-03-01T14:00:00Z');
    expect(waitText({ kind: 'sleep', step: 'nap', until: '2026-03-01T14:05:00.000Z' }, now)).toBe('sleeping until 14:05:00Z (in 5 min 0 s)');
    expect(waitText({ kind: 'event', step: 'w', event: 'email.verified', key: 'a@b', timeout_at: '2026-03-02T14:00:00.000Z' }, now)).toBe(
      'waiting for event email.verified (key a@b) until 2026-03-02 14:00:00Z (in 1 d 0 h)',
    );
    expect(waitText({ kind: 'event', step: 'w', event: 'go', key: null, timeout_at: '2026-03-01T14:00:30.000Z' }, now)).toBe('waiting for event go until 14:00:30Z (in 30.0 s)');
    expect(waitText({ kind: 'child', step: 'ship', run_id: '0247195238400000' }, now)).toBe('waiting for child run 0247195238400000');
    expect(waitText({ kind: 'retry', step: 'charge', at: '2026-03-01T14:01:00.000Z', attempts: 2, error: 'declined' }, now)).toBe(
      'retrying step charge at 14:01:00Z (in 1 min 0 s) (attempt 2 failed: declined)',
    );
  });
});
