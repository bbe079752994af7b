import { access, constants, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { TaskJson } from '../lib/tasks/model.ts';
import { serve, toNodeHandler } from '../lib/workflows/sdk.ts';
import type { RunDetailJson, RunJson } from '../lib/workflows/service.ts';
import { checkout } from './fixtures/remote-sdk-workflows.ts';
import { requireService, tempDbUrl, tempDir, waitFor } from './helpers.ts';
import { killAll, postTask, ROOT, spawnService, startServe, type ServiceProcess } from './processes.ts';

/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core)
 * against real `task-pool serve` processes: what a person sees and can do. Every page a test
 * opens is watched: a console error, an uncaught exception, a failed request or an HTTP error
 * the test did not ask for fails it. Each page is saved as a screenshot in test/screenshots/
 * (git-ignored) on every run; docs/screenshots/ holds copies for the README and docs/dashboard.md.
 */
const CHROMIUM = '/usr/bin/chromium';
const available = await requireService('chromium (apt-get install chromium)', () => promisify(access)(CHROMIUM, constants.X_OK));
const SHOTS = join(ROOT, 'test', 'screenshots');
const TOKEN = 'dashboard-test-token-0123456789';

/** A page whose problems are collected; `allow` lists statuses a test expects (a refused post). */
interface WatchedPage {
  page: Page;
  problems: string[];
  allow: Set<number>;
}

async function watch(context: BrowserContext): Promise<WatchedPage> {
  const page = await context.newPage();
  const watched: WatchedPage = { page, problems: [], allow: new Set() };
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    // Chromium also logs an expected refusal ("… responded with a status of 403") as an error.
    const status = /responded with a status of (\d{3})/.exec(message.text())?.[1];
    if (status === undefined || !watched.allow.has(Number(status))) watched.problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => watched.problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    const reason = request.failure()?.errorText ?? '';
    // The browser cancels what is still loading when the test navigates on (seen: the favicon,
    // fetched after the load event): net::ERR_ABORTED is its own choice, not the server's.
    // Every other failure counts, and so does every 4xx/5xx answer (below).
    if (reason !== 'net::ERR_ABORTED') watched.problems.push(`request failed: ${request.url()} ${reason}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400 && !watched.allow.has(response.status())) watched.problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  return watched;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function api<T = TaskJson>(url: string, path: string, init: RequestInit = {}, token?: string): Promise<T> {
  const response = await fetch(`${url}${path}`, { ...init, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers } });
  return (await response.json()) as T;
}

const taskOf = (url: string, id: string, token?: string) => api(url, `/tasks/${id}`, {}, token);
const statusBecomes = (url: string, id: string, status: string, token?: string) =>
  waitFor(async () => ((await taskOf(url, id, token)).status === status ? taskOf(url, id, token) : null), 15_000, `task ${id} to be ${status}`);

describe.skipIf(!available)('dashboard in a real browser', () => {
  const services: ServiceProcess[] = [];
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Without these Chromium keeps dialling hosts this closed network refuses.
      // launch() gives it a fresh temporary profile of its own (it refuses --user-data-dir).
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    killAll(services);
  });

  const context = () => browser.newContext({ viewport: { width: 1280, height: 860 } });

  it('overview, filters, task detail and cancel, bulk retry, failed groups, the same without JavaScript; a cross-site post is refused', async () => {
    const server = await startServe({ DATABASE_URL: tempDbUrl(), TASK_WORKERS: '4' });
    services.push(server);
    const { url } = server;

    // Finished, failed (two errors), running and waiting tasks.
    for (let i = 0; i < 6; i++) await postTask(url, { title: `report ${i}`, description: 'monthly report', type: 'noop', payload: { month: i + 1 } });
    const failed: string[] = [];
    for (let i = 0; i < 3; i++) failed.push((await postTask(url, { title: `charge card ${i}`, description: 'd', type: 'fail', max_attempts: 1, payload: { error: 'card declined' } })).id);
    failed.push((await postTask(url, { title: 'charge card 3', description: 'd', type: 'fail', max_attempts: 1, payload: { error: 'gateway timeout' } })).id);
    const running = (await postTask(url, { title: 'rebuild search index', description: 'long job', type: 'sleep', payload: { ms: 120_000 } })).id;
    const waiting: string[] = [];
    for (let i = 0; i < 4; i++) waiting.push((await postTask(url, { title: `invoice ${i}`, description: 'send later', type: 'noop', delay_seconds: 3600 })).id);
    for (const id of failed) await statusBecomes(url, id, 'failed');
    await statusBecomes(url, running, 'in_progress');

    const ctx = await context();
    const { page, problems } = await watch(ctx);

    // Overview: counts by status and the chart.
    await page.goto(`${url}/`);
    expect(new URL(page.url()).pathname).toBe('/ui');
    expect(await page.textContent('[data-status=failed] .n')).toBe('4');
    expect(await page.textContent('[data-status=pending] .n')).toBe('4');
    expect(await page.textContent('[data-status=in_progress] .n')).toBe('1');
    expect(await page.locator('#throughput svg rect').count()).toBe(120);
    expect(await page.textContent('#failing-types')).toContain('fail');
    await shot(page, 'overview');

    // Task list filtered by status and type through the form.
    await page.click('nav a[href="/ui/tasks"]');
    await page.selectOption('select[name=status]', 'pending');
    await page.fill('input[name=type]', 'noop');
    await page.click('#filters button[type=submit]');
    const params = new URL(page.url()).searchParams;
    expect(params.get('status')).toBe('pending');
    expect(params.get('type')).toBe('noop');
    expect(await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-task-id')))).toEqual([...waiting].reverse());
    await shot(page, 'tasks');

    // A title search says how far it looked.
    await page.goto(`${url}/ui/tasks?title=INVOICE`);
    expect(await page.locator('tbody tr').count()).toBe(4);
    expect(await page.textContent('#scan-note')).toContain('every task that matches');

    // The running task's page answers "why is it stuck": who holds the lease, until when.
    await page.goto(`${url}/ui/tasks/${running}`);
    const why = await page.textContent('#why');
    expect(why).toContain('holds the lease until');
    expect(why).toMatch(/:\d+/); // locked_by is host:pid
    expect(await page.textContent('#payload')).toContain('"ms": 120000');
    await shot(page, 'task');

    // Open a waiting task from the list and cancel it: the page shows the new status.
    await page.goto(`${url}/ui/tasks?status=pending`);
    await page.click(`tr[data-task-id="${waiting[0]}"] a`);
    expect(await page.textContent('#why')).toContain('Waiting until');
    await page.click('#cancel');
    expect(await page.textContent('h1 .status')).toBe('cancelled');
    expect(await page.textContent('#notice')).toContain('Task cancelled');
    expect((await taskOf(url, waiting[0]!)).status).toBe('cancelled');

    // Bulk retry from the list: select the failed tasks, see the count, confirm.
    const before = new Map<string, string | null>();
    for (const id of failed) before.set(id, (await taskOf(url, id)).completed_at);
    await page.goto(`${url}/ui/tasks?status=failed`);
    await page.check('input[data-select-page]');
    expect(await page.locator('input[name=id]:checked').count()).toBe(4);
    await page.click('button[value=retry-selected]');
    expect(await page.textContent('h1')).toContain('Retry 4 tasks?');
    await shot(page, 'confirm');
    await page.click('#confirm-button');
    expect(await page.textContent('#notice')).toContain('Retried 4 of 4');
    // Each ran again (the handler fails again): a new final failure, after the earlier one.
    for (const id of failed) {
      const again = await waitFor(async () => {
        const task = await taskOf(url, id);
        return task.status === 'failed' && task.completed_at !== before.get(id) ? task : null;
      }, 15_000, `task ${id} to fail again`);
      expect(again.attempts).toBe(1);
    }

    // Failed page: grouped by type and error; retry one group.
    await page.click('nav a[href="/ui/failed"]');
    const groups = await page.locator('#failed-groups tbody tr').evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent)));
    expect(groups).toEqual([
      ['fail', 'card declined', '3'],
      ['fail', 'gateway timeout', '1'],
    ]);
    await shot(page, 'failed');
    await page.click('#failed-groups tbody tr:first-child button');
    expect(await page.textContent('h1')).toContain('Retry 3 tasks?');
    await page.click('#confirm-button');
    expect(await page.textContent('#notice')).toContain('Retried 3 of 3');

    // "All matching": cancel every waiting noop task.
    await page.goto(`${url}/ui/tasks?status=pending&type=noop`);
    await page.click('button[value=cancel-all]');
    expect(await page.textContent('h1')).toContain('Cancel 3 tasks?');
    await page.click('#confirm-button');
    expect(await page.textContent('#notice')).toContain('Cancelled 3 of 3');
    for (const id of waiting) expect((await taskOf(url, id)).status).toBe('cancelled');
    expect(problems).toEqual([]);

    // A task of a paused type says so, not "workers are busy", and its type can be resumed there.
    await api(url, '/types/noop/pause', { method: 'POST' });
    const held = (await postTask(url, { title: 'held by its type', description: 'd', type: 'noop' })).id;
    await page.goto(`${url}/ui/tasks/${held}`);
    expect(await page.textContent('#why')).toContain('its type “noop” is paused');
    expect(await page.textContent('#why')).not.toContain('workers are busy');
    await shot(page, 'task-paused');
    await page.click('#resume-type');
    expect(await page.textContent('#notice')).toContain('Type “noop” resumed');
    await statusBecomes(url, held, 'completed');
    expect(problems).toEqual([]);

    // Without JavaScript: filter, tick a task, confirm, done (the script only adds "this page").
    const plain = await browser.newContext({ viewport: { width: 1280, height: 860 }, javaScriptEnabled: false });
    const noScript = await watch(plain);
    const later = (await postTask(url, { title: 'no script needed', description: 'd', type: 'noop', delay_seconds: 3600 })).id;
    await noScript.page.goto(`${url}/ui/tasks`);
    await noScript.page.fill('input[name=title]', 'no script');
    await noScript.page.click('#filters button[type=submit]');
    await noScript.page.check(`input[name=id][value="${later}"]`);
    await noScript.page.click('button[value=cancel-selected]');
    expect(await noScript.page.textContent('h1')).toContain('Cancel 1 task?');
    await noScript.page.click('#confirm-button');
    expect(await noScript.page.textContent('#notice')).toContain('Cancelled 1 of 1');
    expect((await taskOf(url, later)).status).toBe('cancelled');
    expect(noScript.problems).toEqual([]);
    await plain.close();

    // A form on another origin posting to the dashboard is refused, and changes nothing.
    const attacker = await startAttackerSite(`${url}/ui/tasks/${running}/cancel`);
    try {
      const victim = await watch(ctx);
      victim.allow.add(403);
      await victim.page.goto(attacker.url);
      const [response] = await Promise.all([victim.page.waitForResponse((r) => r.url().endsWith('/cancel')), victim.page.click('button')]);
      expect(response.status()).toBe(403);
      expect(await victim.page.textContent('.error')).toContain('Cross-site form posts are refused');
      expect((await taskOf(url, running)).status).toBe('in_progress');
      expect(victim.problems).toEqual([]);
    } finally {
      attacker.server.close();
    }
    await ctx.close();
  });

  it('with API_TOKEN: refused without logging in, a wrong token refused, the right one opens a session', async () => {
    const server = await startServe({ DATABASE_URL: tempDbUrl(), API_TOKEN: TOKEN });
    services.push(server);
    const { url } = server;
    const task = await api(url, '/tasks', { method: 'POST', body: JSON.stringify({ title: 'guarded', description: 'd', delay_seconds: 3600 }) }, TOKEN);

    // Without a session: pages send to the login form, actions are refused.
    const refused = await fetch(`${url}/ui/tasks/${task.id}/cancel`, { method: 'POST', redirect: 'manual', headers: { origin: url, 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(refused.status).toBe(401);
    expect((await taskOf(url, task.id, TOKEN)).status).toBe('pending');

    const ctx = await context();
    const watched = await watch(ctx);
    const { page, problems } = watched;
    await page.goto(`${url}/ui/tasks`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    await shot(page, 'login');
    watched.allow.add(401);
    await page.fill('#token', 'not-the-token-0123456789');
    await page.click('button[type=submit]');
    expect(await page.textContent('.error')).toContain('not valid');
    watched.allow.delete(401);

    await page.fill('#token', TOKEN);
    await page.click('button[type=submit]');
    expect(new URL(page.url()).pathname).toBe('/ui/tasks');
    expect(await page.locator(`tr[data-task-id="${task.id}"]`).count()).toBe(1);
    const [cookie] = (await ctx.cookies()).filter((c) => c.name === 'task_pool_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/ui' });
    expect(cookie!.value).not.toContain(TOKEN);

    // The session's forms work (they carry its CSRF token); a post without it does not.
    await page.goto(`${url}/ui/tasks/${task.id}`);
    await page.click('#cancel');
    expect(await page.textContent('h1 .status')).toBe('cancelled');
    const forged = await fetch(`${url}/ui/tasks/${task.id}/retry`, {
      method: 'POST',
      headers: { origin: url, cookie: `task_pool_session=${cookie!.value}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    expect(forged.status).toBe(403);
    expect((await taskOf(url, task.id, TOKEN)).status).toBe('cancelled');

    // Logging out ends the session on the server: a kept copy of the cookie opens nothing, and
    // its CSRF token changes nothing.
    const csrf = await page.locator('input[name=_csrf]').first().getAttribute('value');
    await page.click('header button');
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    expect(await page.textContent('#notice')).toContain('ends every dashboard session');
    await shot(page, 'logged-out');
    const kept = { cookie: `task_pool_session=${cookie!.value}` };
    expect((await fetch(`${url}/ui/tasks`, { headers: kept, redirect: 'manual' })).status).toBe(303);
    const replayed = await fetch(`${url}/ui/tasks/${task.id}/retry`, {
      method: 'POST',
      headers: { ...kept, origin: url, 'content-type': 'application/x-www-form-urlencoded' },
      body: `_csrf=${encodeURIComponent(csrf!)}`,
    });
    expect(replayed.status).toBe(401);
    expect((await taskOf(url, task.id, TOKEN)).status).toBe('cancelled');
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it('quick page views never meet the API\'s limit; past the dashboard\'s own, a styled 429 page, not JSON', async () => {
    const server = await startServe({ DATABASE_URL: tempDbUrl(), RATE_LIMIT_PER_MINUTE: '10', DASHBOARD_RATE_LIMIT_PER_MINUTE: '25' });
    services.push(server);
    const { url } = server;
    const ctx = await context();
    const watched = await watch(ctx);
    const { page, problems } = watched;
    // 25 page views, each with its style sheet, script and icon: 100 requests, ten times the API's limit.
    const paths = ['/ui', '/ui/tasks', '/ui/failed', '/ui/tasks?status=pending', '/ui/tasks?status=failed'];
    for (let i = 0; i < 25; i++) {
      const response = await page.goto(`${url}${paths[i % paths.length]}`);
      expect(response!.status(), `view ${i + 1}`).toBe(200);
    }
    expect(problems).toEqual([]);
    watched.allow.add(429);
    // The next view is limited, unless the rate-limit minute turned during the 25 on a slow
    // machine: then at most one more window's worth of views reaches it.
    let limited = await page.goto(`${url}/ui/tasks`);
    for (let more = 0; limited!.status() === 200 && more < 25; more++) limited = await page.goto(`${url}/ui/tasks`);
    expect(limited!.status()).toBe(429);
    expect(Number(limited!.headers()['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(await page.textContent('h1')).toBe('Too many requests');
    expect(await page.textContent('.error')).toMatch(/try again in \d+ s/);
    // The page is styled: its assets were served although pages are limited.
    expect(await page.evaluate(() => getComputedStyle(document.querySelector('header')!).backgroundColor)).toBe('rgb(29, 35, 43)');
    await shot(page, 'limited');
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it('DASHBOARD_READ_ONLY=true: no action is shown, and action posts answer 403', async () => {
    const server = await startServe({ DATABASE_URL: tempDbUrl(), DASHBOARD_READ_ONLY: 'true' });
    services.push(server);
    const { url } = server;
    const task = await postTask(url, { title: 'look, do not touch', description: 'd', delay_seconds: 3600 });

    const ctx = await context();
    const { page, problems } = await watch(ctx);
    await page.goto(`${url}/ui/tasks`);
    expect(await page.textContent('header')).toContain('read-only');
    expect(await page.locator('form[action="/ui/tasks/bulk"] button, input[name=id]').count()).toBe(0);
    await page.goto(`${url}/ui/tasks/${task.id}`);
    expect(await page.locator('#cancel, #retry').count()).toBe(0);
    await page.goto(`${url}/ui/failed`);
    expect(await page.locator('form[action="/ui/failed/retry"]').count()).toBe(0);
    expect(problems).toEqual([]);
    await ctx.close();

    const post = (path: string, body: string) =>
      fetch(`${url}${path}`, { method: 'POST', headers: { origin: url, 'content-type': 'application/x-www-form-urlencoded' }, body });
    expect((await post(`/ui/tasks/${task.id}/cancel`, '')).status).toBe(403);
    expect((await post('/ui/tasks/bulk', 'op=cancel-all&confirm=yes')).status).toBe(403);
    expect((await post('/ui/failed/retry', 'type=noop&no_error=1&confirm=yes')).status).toBe(403);
    expect((await taskOf(url, task.id)).status).toBe('pending');
  });

  it('at phone width (390 px) every page fits the screen: no horizontal page overflow, a wide table scrolls in its own box', async () => {
    // With API_TOKEN: the header has its "Log out" button too.
    const server = await startServe({ DATABASE_URL: tempDbUrl(), TASK_WORKERS: '2', API_TOKEN: TOKEN });
    services.push(server);
    const { url } = server;
    const submit = async (body: object) => (await api(url, '/tasks', { method: 'POST', body: JSON.stringify(body) }, TOKEN)).id;
    for (let i = 0; i < 3; i++) await submit({ title: `report ${i}`, description: 'd', type: 'noop' });
    const failed = await submit({ title: 'charge card for the quarterly subscription renewal', description: 'd', type: 'fail', max_attempts: 1, payload: { error: 'card declined by the issuing bank: insufficient funds on the account' } });
    const running = await submit({ title: 'rebuild the search index for every customer workspace', description: 'd', type: 'sleep', payload: { ms: 120_000 } });
    for (let i = 0; i < 3; i++) await submit({ title: `invoice ${i} for a customer with a rather long name`, description: 'd', type: 'noop', delay_seconds: 3600 });
    // The overview's "schedules due next": a long name (no break in it) and a next run with its distance.
    await api(url, '/schedules/nightly_customer_report_for_every_region', { method: 'PUT', body: JSON.stringify({ cron: '30 2 * * *', task: { title: 'report', description: 'd', type: 'noop' } }) }, TOKEN);
    await statusBecomes(url, failed, 'failed', TOKEN);
    await statusBecomes(url, running, 'in_progress', TOKEN);

    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
    const { page, problems } = await watch(phone);
    const widths: Record<string, number> = {};
    await page.goto(`${url}/ui`);
    widths.login = await page.evaluate(() => document.documentElement.scrollWidth);
    await page.fill('#token', TOKEN);
    await page.click('button[type=submit]');
    for (const [name, path] of [['overview', '/ui'], ['tasks', '/ui/tasks'], ['task', `/ui/tasks/${running}`], ['failed', '/ui/failed']] as const) {
      await page.goto(`${url}${path}`);
      widths[name] = await page.evaluate(() => document.documentElement.scrollWidth);
      await shot(page, `${name}-phone`);
    }
    expect(widths).toEqual({ login: 390, overview: 390, tasks: 390, task: 390, failed: 390 });
    // The task list keeps its columns: the table scrolls sideways inside its own container.
    await page.goto(`${url}/ui/tasks`);
    const box = await page.locator('#task-list .table-scroll').evaluate((el) => ({ client: el.clientWidth, scroll: el.scrollWidth, overflow: getComputedStyle(el).overflowX }));
    expect(box.client).toBeLessThanOrEqual(390);
    expect(box.overflow).toBe('auto');
    expect(problems).toEqual([]);
    await phone.close();
  });

  it('workflows, runs and a run\'s step timeline; cancel, retry and send an event; schedules and types paused, resumed, triggered; all at phone width too', async () => {
    const dir = tempDir('task-pool-dash-');
    const server = await startDashboardWorkflows({ DATABASE_URL: `file:${join(dir, 'tasks.db')}`, TASK_WORKERS: '4', TASK_BACKOFF_BASE_MS: '200', TASK_BACKOFF_MAX_MS: '3600000' });
    services.push(server);
    const { url } = server;
    const start = async (workflow: string, input: object) => (await api<RunJson>(url, `/workflows/${workflow}/runs`, { method: 'POST', body: JSON.stringify({ input }) })).id;
    const runOf = (id: string) => api<RunDetailJson>(url, `/runs/${id}`);
    const runBecomes = (id: string, check: (run: RunDetailJson) => boolean, what: string) =>
      waitFor(async () => {
        const run = await runOf(id);
        return check(run) ? run : null;
      }, 30_000, `run ${id}: ${what}`);
    const waitsFor = (kind: string) => (run: RunDetailJson) => run.waiting_for?.some((w) => w.kind === kind) === true;

    // Every kind of step: a step, one failing twice before it succeeds, a sleep, a wait for an event, a child run.
    const full = await start('checkout', { email: 'ada@example.com', chargeFailures: 2, nap: '2s' });
    // One failing for good (until its gate exists), one whose step waits an hour for its retry,
    // one sleeping an hour, one that will wait for a child run that sleeps an hour.
    const gate = join(dir, 'gate');
    const failing = await start('checkout', { email: 'bob@example.com', chargeGate: gate });
    const retrying = await start('checkout', { email: 'cy@example.com', retryLaterSeconds: 3600 });
    const sleeping = await start('checkout', { email: 'dee@example.com', nap: '1h' });
    const parent = await start('checkout', { email: 'eve@example.com', nap: '10ms', shipNap: '1h' });
    await runBecomes(full, waitsFor('event'), 'waits for its event');
    await runBecomes(failing, (r) => r.status === 'failed', 'failed');
    await runBecomes(retrying, waitsFor('retry'), 'waits for its step\'s retry');
    await runBecomes(sleeping, waitsFor('sleep'), 'sleeps');
    await runBecomes(parent, waitsFor('event'), 'waits for its event');
    await api(url, '/events', { method: 'POST', body: JSON.stringify({ event: 'email.verified', key: 'eve@example.com', payload: { verified: true } }) });
    const waitingParent = await runBecomes(parent, waitsFor('child'), 'waits for its child');
    const child = waitingParent.waiting_for!.find((w) => w.kind === 'child')!;
    const childId = child.kind === 'child' ? child.run_id : '';

    // Schedules (one paused) and types (one paused).
    for (const [name, cron, timezone, type] of [['nightly-report', '30 2 * * *', 'Europe/Berlin', 'report'], ['hourly-sync', '0 * * * *', 'UTC', 'noop'], ['weekly-digest', '0 8 * * 1', 'America/New_York', 'report']]) {
      await api(url, `/schedules/${name}`, { method: 'PUT', body: JSON.stringify({ cron, timezone, task: { title: name, description: 'd', type } }) });
    }
    await api(url, '/schedules/weekly-digest/pause', { method: 'POST' });
    await api(url, '/types/noop/pause', { method: 'POST' });
    for (let i = 0; i < 3; i++) await postTask(url, { title: `held ${i}`, description: 'd', type: 'noop' });

    const ctx = await context();
    const { page, problems } = await watch(ctx);

    // Workflows: runs by status, each a link to its runs.
    await page.goto(`${url}/ui`);
    await page.click('nav a[href="/ui/workflows"]');
    expect(await page.textContent('tr[data-workflow=checkout] td[data-status=pending]')).toBe('4');
    expect(await page.textContent('tr[data-workflow=checkout] td[data-status=failed]')).toBe('1');
    expect(await page.textContent('tr[data-workflow=checkout] [data-oldest-pending]')).toMatch(/\d/);
    await shot(page, 'workflows');
    await page.click('tr[data-workflow=checkout] td[data-status=pending] a');
    expect(new URL(page.url()).search).toBe('?workflow=checkout&status=pending');
    expect(await page.locator('tbody tr').count()).toBe(4);

    // Runs: what each waits for, in words; filters through the form.
    await page.goto(`${url}/ui/runs`);
    const waits = Object.fromEntries(await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-run-id'), r.querySelector('.waits-cell')!.textContent])));
    expect(waits[full]).toMatch(/^waiting for event email\.verified \(key ada@example\.com\) until .+ \(in 59 min/);
    expect(waits[retrying]).toMatch(/^retrying step charge card at .+ \(attempt 1 failed: card network busy, try later\)$/);
    expect(waits[sleeping]).toMatch(/^sleeping until .+ \(in 59 min/);
    expect(waits[parent]).toBe(`waiting for child run ${childId}`);
    expect(waits[childId]).toMatch(/^sleeping until /);
    expect(waits[failing]).toBe('—');
    await shot(page, 'runs');
    await page.selectOption('select[name=status]', 'failed');
    await page.click('#filters button[type=submit]');
    expect(await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-run-id')))).toEqual([failing]);

    // Send the event from the run's page, without JavaScript: the run goes on, its child runs, it completes.
    const plain = await browser.newContext({ viewport: { width: 1280, height: 860 }, javaScriptEnabled: false });
    const noScript = await watch(plain);
    await noScript.page.goto(`${url}/ui/runs/${full}`);
    expect(await noScript.page.inputValue('form.send-event input[name=event]')).toBe('email.verified');
    expect(await noScript.page.inputValue('form.send-event input[name=key]')).toBe('ada@example.com');
    await shot(noScript.page, 'run-waiting');
    await noScript.page.fill('form.send-event textarea[name=payload]', '{"verified": true, "by": "link in email"}');
    await noScript.page.click('form.send-event button[type=submit]');
    expect(await noScript.page.textContent('#notice')).toContain('Event sent: 1 waiting run was made due.');
    expect(noScript.problems).toEqual([]);
    await plain.close();
    const done = await runBecomes(full, (r) => r.status === 'completed', 'completed');
    expect(done.output).toMatchObject({ verified: { verified: true, by: 'link in email' }, shipment: { tracking: 'TP-0001' } });

    // A run waiting for a child links to it, and the child back.
    await page.goto(`${url}/ui/runs/${parent}`);
    await page.click(`#why a[href="/ui/runs/${childId}"]`);
    expect(await page.textContent('#family')).toContain(`Child run of ${parent}`);
    await page.click('#parent-run');
    expect(new URL(page.url()).pathname).toBe(`/ui/runs/${parent}`);

    // The failed run: its step in red with the error; retry it once the card works.
    await page.goto(`${url}/ui/runs/${failing}`);
    expect(await page.locator('li[data-step="charge card"] .tl-bar.tl-failed').count()).toBe(1);
    expect(await page.textContent('li[data-step="charge card"] pre.step-error')).toBe('card declined: insufficient funds');
    expect(await page.evaluate(() => getComputedStyle(document.querySelector('.tl-bar.tl-failed')!).backgroundColor)).toBe('rgb(217, 83, 79)');
    await shot(page, 'run-failed');
    writeFileSync(gate, '');
    await page.click('#retry');
    expect(await page.textContent('#notice')).toContain('Run resumed');
    await runBecomes(failing, waitsFor('event'), 'resumed, waits for its event');
    await page.reload();
    expect(await page.getAttribute('li[data-step="charge card"]', 'data-status')).toBe('completed');
    // And cancel it: the page says so, the API agrees.
    await page.click('#cancel');
    expect(await page.textContent('h1 .status')).toBe('cancelled');
    expect((await runOf(failing)).status).toBe('cancelled');

    // Its timeline: every step a bar on the run's span, in order and not overlapping.
    await page.goto(`${url}/ui/runs/${full}`);
    const bars = await page.locator('li.tl-row').evaluateAll((rows) =>
      rows.map((row) => {
        const bar = row.querySelector('.tl-bar')!.getBoundingClientRect();
        const track = row.querySelector('.tl-track')!.getBoundingClientRect();
        return { step: row.getAttribute('data-step'), kind: row.getAttribute('data-kind'), tone: row.querySelector('.tl-bar')!.className.split(' ')[1], left: bar.left - track.left, right: bar.right - track.left, track: track.width, meta: row.querySelector('.tl-meta')!.textContent };
      }),
    );
    expect(bars.map((b) => [b.step, b.kind, b.tone])).toEqual([
      ['load cart', 'step', 'tl-done'],
      ['charge card', 'step', 'tl-done'],
      ['cool off', 'sleep', 'tl-gap'],
      ['email verified', 'wait', 'tl-gap'],
      ['ship', 'invoke', 'tl-gap'],
    ]);
    expect(bars[1]!.meta).toContain('3 attempts');
    for (let i = 1; i < bars.length; i++) expect(bars[i]!.left, bars[i]!.step!).toBeGreaterThanOrEqual(bars[i - 1]!.right - bars[i]!.track * 0.006);
    for (const bar of bars) {
      expect(bar.right - bar.left, bar.step!).toBeGreaterThanOrEqual(3);
      expect(bar.right, bar.step!).toBeLessThanOrEqual(bar.track + 0.5);
    }
    // The sleep (2 s) is a visible share of the run's span, hatched.
    expect(bars[2]!.right - bars[2]!.left).toBeGreaterThan(bars[2]!.track * 0.02);
    expect(await page.evaluate(() => getComputedStyle(document.querySelector('.tl-bar.tl-gap')!).backgroundImage)).toContain('repeating-linear-gradient');
    // The wait shows the payload it got.
    expect(await page.textContent('li[data-step="email verified"] .json-line code')).toBe('{"verified":true,"by":"link in email"}');
    await shot(page, 'run');

    // The run page of a workflow's task links to it.
    await page.goto(`${url}/ui/tasks/${full}`);
    await page.click('#run-link a');
    expect(new URL(page.url()).pathname).toBe(`/ui/runs/${full}`);

    // Schedules: pause, resume, run now.
    await page.click('nav a[href="/ui/schedules"]');
    expect(await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-schedule')))).toEqual(['hourly-sync', 'nightly-report', 'weekly-digest']);
    expect(await page.textContent('tr[data-schedule=weekly-digest] .status')).toBe('paused');
    await shot(page, 'schedules');
    await page.click('tr[data-schedule=nightly-report] button[data-action=pause]');
    expect(await page.textContent('#notice')).toContain('Schedule “nightly-report” paused');
    expect(await page.textContent('tr[data-schedule=nightly-report] .status')).toBe('paused');
    await page.click('tr[data-schedule=nightly-report] button[data-action=resume]');
    expect(await page.textContent('tr[data-schedule=nightly-report] .status')).toBe('active');
    await page.click('tr[data-schedule=nightly-report] button[data-action=trigger]');
    expect(await page.textContent('#notice')).toContain('Schedule “nightly-report” ran now');
    expect(await page.textContent('tr[data-schedule=nightly-report] [data-last-run]')).toMatch(/ago$/);
    await page.click('#notice a');
    expect(await page.textContent('h1')).toContain('nightly-report');
    await statusBecomes(url, new URL(page.url()).pathname.split('/').pop()!, 'completed');

    // Types: noop paused (its tasks wait), report running; pause report, then resume both.
    await page.click('nav a[href="/ui/types"]');
    expect(await page.textContent('tr[data-type=noop] [data-state]')).toContain('paused');
    expect(await page.textContent('tr[data-type=noop] td[data-status=pending]')).toBe('3');
    expect(await page.textContent('tr[data-type=report] [data-state]')).toContain('active');
    await shot(page, 'types');
    await page.click('tr[data-type=report] button[data-action=pause]');
    expect(await page.textContent('#notice')).toContain('Type “report” paused');
    expect(await page.textContent('tr[data-type=report] [data-state]')).toContain('paused');
    await page.click('tr[data-type=report] button[data-action=resume]');
    await page.click('tr[data-type=noop] button[data-action=resume]');
    expect(await page.textContent('#notice')).toContain('Type “noop” resumed');
    expect(await page.textContent('tr[data-type=noop] [data-state]')).toContain('active');
    await waitFor(async () => (await api<{ types: { type: string; counts: Record<string, number> }[] }>(url, '/types')).types.find((t) => t.type === 'noop')?.counts.completed === 3, 15_000, 'the held noop tasks to run');
    expect(problems).toEqual([]);
    await ctx.close();

    // At phone width every new page fits; wide tables scroll in their own box, the timeline stacks.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
    const onPhone = await watch(phone);
    const widths: Record<string, number> = {};
    for (const [name, path] of [['workflows', '/ui/workflows'], ['runs', '/ui/runs'], ['run', `/ui/runs/${full}`], ['run-waiting', `/ui/runs/${sleeping}`], ['schedules', '/ui/schedules'], ['types', '/ui/types']] as const) {
      await onPhone.page.goto(`${url}${path}`);
      widths[name] = await onPhone.page.evaluate(() => document.documentElement.scrollWidth);
      await shot(onPhone.page, `${name}-phone`);
    }
    expect(widths).toEqual({ workflows: 390, runs: 390, run: 390, 'run-waiting': 390, schedules: 390, types: 390 });
    await onPhone.page.goto(`${url}/ui/runs/${full}`);
    const track = await onPhone.page.locator('li[data-step="cool off"] .tl-track').evaluate((el) => el.getBoundingClientRect().width);
    expect(track).toBeGreaterThan(300);
    expect(onPhone.problems).toEqual([]);
    await phone.close();
  });

  it('a workflow served by the user\'s app (registered by URL): the Workflows page shows where, and its run\'s timeline is drawn as any other', async () => {
    // The app: checkout (a step, a 1.5 s sleep, a wait for `paid`, a step) served with
    // task-pool/workflow on a loopback node:http server in this process.
    const secret = 'whsec_' + Buffer.from('dashboard-remote-workflow-secret-0123').toString('base64');
    const ran: string[] = [];
    const app = createServer(toNodeHandler(serve(checkout('shop-checkout', (step) => ran.push(step), 1500), { signingSecret: secret })));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => (app.closeAllConnections(), app.close(() => resolve()))));
    const appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}/api/workflows/checkout`;
    const server = await startServe({ DATABASE_URL: tempDbUrl(), TASK_WORKERS: '4', HTTP_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_SECRET: secret });
    services.push(server);
    const { url } = server;
    const put = await fetch(`${url}/workflows/shop-checkout`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: appUrl }) });
    expect(put.status, await put.clone().text()).toBe(201);
    const start = async (key: string) => (await api<RunJson>(url, '/workflows/shop-checkout/runs', { method: 'POST', body: JSON.stringify({ input: { key } }) })).id;
    const runBecomes = (id: string, check: (run: RunDetailJson) => boolean, what: string) =>
      waitFor(async () => {
        const run = await api<RunDetailJson>(url, `/runs/${id}`);
        return check(run) ? run : null;
      }, 30_000, `run ${id}: ${what}`);
    const paid = await start('order-1001');
    const waiting = await start('order-1002');
    for (const id of [paid, waiting]) await runBecomes(id, (r) => r.waiting_for?.some((w) => w.kind === 'event') === true, 'waits for paid');
    await api(url, '/events', { method: 'POST', body: JSON.stringify({ event: 'paid', key: 'order-1001', payload: { amount: 42 } }) });
    const done = await runBecomes(paid, (r) => r.status === 'completed', 'completed');
    expect(done.output).toEqual({ a: { n: 1 }, paid: { amount: 42 }, b: 'done' });
    expect(ran.sort()).toEqual(['a', 'a', 'b']);

    const ctx = await context();
    const { page, problems } = await watch(ctx);
    await page.goto(`${url}/ui/workflows`);
    expect(await page.textContent('tr[data-workflow=shop-checkout] td[data-served=true]')).toBe(appUrl);
    expect(await page.textContent('tr[data-workflow=shop-checkout] td[data-status=pending]')).toBe('1');
    expect(await page.textContent('tr[data-workflow=shop-checkout] td[data-status=completed]')).toBe('1');
    await shot(page, 'workflows-remote');
    await page.click('tr[data-workflow=shop-checkout] td[data-status=completed] a');
    await page.click(`tr[data-run-id="${paid}"] a`);
    expect(new URL(page.url()).pathname).toBe(`/ui/runs/${paid}`);
    const steps = await page.locator('li[data-step]').evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-step'), r.getAttribute('data-kind')]));
    expect(steps).toEqual([
      ['a', 'step'],
      ['nap', 'sleep'],
      ['paid', 'wait'],
      ['b', 'step'],
    ]);
    await shot(page, 'run-remote');
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it('a task\'s page lists its attempts with their errors and shows its progress as a bar, or as JSON', async () => {
    const server = await startServe({ DATABASE_URL: tempDbUrl(), TASK_BACKOFF_BASE_MS: '50', TASK_BACKOFF_MAX_MS: '100' });
    services.push(server);
    const { url } = server;
    const failing = (await postTask(url, { title: 'charge card', description: 'd', type: 'fail', max_attempts: 2, payload: { error: 'card declined' } })).id;
    const stepping = (await postTask(url, { title: 'import rows', description: 'd', type: 'steps', payload: { total: 4, ms: 60_000 } })).id;
    await statusBecomes(url, failing, 'failed');
    await waitFor(async () => ((await taskOf(url, stepping)) as TaskJson & { progress: unknown }).progress !== null, 15_000, 'progress reported');

    const ctx = await context();
    const { page, problems } = await watch(ctx);
    await page.goto(`${url}/ui/tasks/${failing}`);
    const rows = await page.locator('#attempts tr[data-attempt]').evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-attempt'), tr.getAttribute('data-outcome')]));
    expect(rows).toEqual([
      ['1', 'retried'],
      ['2', 'failed'],
    ]);
    expect(await page.locator('#attempts tr.attempt-error pre').allTextContents()).toEqual(['card declined', 'card declined']);
    expect(await page.textContent('#attempts')).toContain(`:${server.proc.pid}:`);
    expect(await page.textContent('main')).not.toContain('Only the latest attempt');
    expect(await page.textContent('#progress')).toContain('None reported');
    await shot(page, 'task-attempts');

    // Running: its attempt is the task's own; its progress {done, total} is a bar.
    await page.goto(`${url}/ui/tasks/${stepping}`);
    expect(await page.locator('#attempts tr[data-attempt]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-outcome')))).toEqual(['running']);
    expect(await page.getAttribute('#progress-bar', 'max')).toBe('100');
    expect(await page.textContent('#progress-label')).toBe('0 of 4');
    await shot(page, 'task-progress');
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it('DASHBOARD_ENABLED=false: /ui and / are 404', async () => {
    const server = await startServe({ DATABASE_URL: tempDbUrl(), DASHBOARD_ENABLED: 'false' });
    services.push(server);
    expect((await fetch(`${server.url}/ui`)).status).toBe(404);
    expect((await fetch(`${server.url}/`, { redirect: 'manual' })).status).toBe(404);
  });
});

/** Another origin on loopback serving a plain form that posts to the dashboard. */
async function startAttackerSite(target: string): Promise<{ server: Server; url: string }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end(`<!DOCTYPE html><title>elsewhere</title><form method="post" action="${target}"><button type="submit">win a prize</button></form>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/` };
}

const DASHBOARD_WORKFLOWS = fileURLToPath(new URL('./fixtures/dashboard-workflows.ts', import.meta.url));

/** `serve` with the run pages' workflows (test/fixtures/dashboard-workflows.ts); resolves once it listens. */
async function startDashboardWorkflows(env: Record<string, string>): Promise<ServiceProcess & { url: string }> {
  const service = spawnService(['serve', '--handlers', DASHBOARD_WORKFLOWS], env);
  // A start under tsx on a busy machine has taken over 20 s.
  const record = await service.waitForLog((r) => typeof r.url === 'string' && r.mode === 'serve', 40_000);
  return Object.assign(service, { url: record.url as string });
}
