import { describe, expect, it, onTestFinished } from 'vitest';
import { createAppServices } from '../lib/wiring/app-services.ts';
import { createLogger } from '../lib/foundation/log.ts';
import { registerDashboard } from '../lib/ui/dashboard.tsx';
import type { ScheduleSource } from '../lib/ui/schedules.ts';
import { openDatabase } from '../local/database.ts';
import { ACTIONABLE, actionableSearch, BULK_BATCH, countBulk, runBulk } from '../lib/tasks/bulk.ts';
import { formatTaskId, idFloor } from '../lib/tasks/ids.ts';
import { COUNT_CAP, TaskInsights, TITLE_SCAN_ROWS } from '../lib/tasks/insights.ts';
import { buildTask } from '../lib/tasks/model.ts';
import type { NewTask, Task } from '../lib/tasks/model.ts';
import { sessionKeys } from '../lib/ui/session.ts';
import { filterValues, toSearch } from '../lib/ui/filters.ts';
import { openTestRepo, startRuntime, submitInput, testConfig, type TestRepo } from './helpers.ts';

/**
 * The dashboard's parts below the browser (test/dashboard.browser.test.ts drives the pages):
 * the bounded read queries over a real libSQL file, bulk actions through the task service,
 * the signed session, the filters, and the app's refusals (CSRF, bad filters, redirects).
 */

const MINUTE = 60_000;

async function insertAt(t: TestRepo, createdAt: number, fields: Partial<NewTask> = {}, title = 'task'): Promise<Task> {
  const task = await t.repo.insert({ ...buildTask(submitInput({ title }), { now: createdAt, maxAttempts: 3 }), ...fields });
  expect(task).not.toBeNull();
  return task!;
}

/** Many rows, 500 to a transaction (setup only); the tasks as inserted, in order. */
async function insertMany(t: TestRepo, tasks: NewTask[]): Promise<Task[]> {
  const inserted: Task[] = [];
  for (let i = 0; i < tasks.length; i += 500) inserted.push(...(await Promise.all(tasks.slice(i, i + 500).map(async (task) => (await t.repo.insert(task))!))));
  return inserted;
}

describe('TaskInsights over a real libSQL file', () => {
  it('a created-time range is an id range: inclusive bounds, to the millisecond', async () => {
    const t = await openTestRepo();
    const base = Date.parse('2026-03-01T10:00:00Z');
    const tasks = [];
    for (let i = 0; i < 5; i++) tasks.push(await insertAt(t, base + i * MINUTE));
    const insights = new TaskInsights(t.driver);
    const page = await insights.search({ createdFrom: base + MINUTE, createdTo: base + 3 * MINUTE }, 50);
    expect(page.tasks.map((task) => task.id)).toEqual([tasks[3]!.id, tasks[2]!.id, tasks[1]!.id]);
    expect(idFloor(base) <= tasks[0]!.id).toBe(true);
    expect(idFloor(base + 1) > tasks[0]!.id).toBe(true);
    await t.close();
  });

  it('pages newest first with a cursor, filtered by status and type', async () => {
    const t = await openTestRepo();
    const now = Date.now();
    const ids: number[] = [];
    for (let i = 0; i < 7; i++) ids.push((await insertAt(t, now - 7000 + i * 1000)).id);
    await insertAt(t, now, { type: 'other' });
    const insights = new TaskInsights(t.driver);
    const first = await insights.search({ statuses: ['pending'], type: 'simulate' }, 3);
    expect(first.tasks.map((x) => x.id)).toEqual([ids[6], ids[5], ids[4]]);
    const second = await insights.search({ statuses: ['pending'], type: 'simulate', beforeId: first.nextBeforeId! }, 3);
    expect(second.tasks.map((x) => x.id)).toEqual([ids[3], ids[2], ids[1]]);
    const last = await insights.search({ statuses: ['pending'], type: 'simulate', beforeId: second.nextBeforeId! }, 3);
    expect(last).toEqual({ tasks: [expect.objectContaining({ id: ids[0] })], nextBeforeId: null });
    await t.close();
  });

  it(`a title search scans at most ${TITLE_SCAN_ROWS} tasks per page, says so, and goes on from where it stopped`, async () => {
    const t = await openTestRepo();
    const start = Date.now() - 3_600_000;
    const fresh: NewTask[] = [];
    // The oldest task matches; TITLE_SCAN_ROWS newer ones do not: page one finds nothing.
    fresh.push(buildTask(submitInput({ title: 'Quarterly 50%_off REPORT' }), { now: start, maxAttempts: 3 }));
    for (let i = 1; i <= TITLE_SCAN_ROWS; i++) fresh.push(buildTask(submitInput({ title: `other ${i}` }), { now: start + i, maxAttempts: 3 }));
    const tasks = await insertMany(t, fresh);
    const insights = new TaskInsights(t.driver);
    const first = await insights.search({ title: '50%_off report' }, 50);
    expect(first.tasks).toEqual([]);
    expect(first.scan).toEqual({ rows: TITLE_SCAN_ROWS, complete: false });
    expect(first.nextBeforeId).toBe(tasks[1]!.id);
    const next = await insights.search({ title: '50%_off report', beforeId: first.nextBeforeId! }, 50);
    expect(next.tasks.map((x) => x.title)).toEqual(['Quarterly 50%_off REPORT']);
    expect(next.scan).toEqual({ rows: 1, complete: true });
    // % and _ are literal: "0_o" does not match "0%_o".
    expect((await insights.search({ title: '0_o' }, 50)).tasks).toEqual([]);
    // A page that fills up stops scanning there, and says so.
    const full = await insights.search({ title: 'other 1' }, 5);
    expect(full.tasks.map((x) => x.title)).toEqual(['other 10000', 'other 1999', 'other 1998', 'other 1997', 'other 1996']);
    expect(full.scan).toEqual({ rows: null, complete: false });
    expect(full.nextBeforeId).toBe(full.tasks[4]!.id);
    await t.close();
  });

  it('overview: counts by status, oldest pending, finishes per minute in their minute, per-type figures', async () => {
    const t = await openTestRepo();
    const now = Date.now();
    const minuteStart = Math.floor(now / MINUTE) * MINUTE;
    const oldest = await insertAt(t, now - 50_000);
    await insertAt(t, now - 40_000, { runAt: now + 3_600_000 });
    const finish = (at: number, status: 'completed' | 'failed', type: string, ms: number) =>
      insertAt(t, at - ms - 10, { status, type, startedAt: at - ms, completedAt: at, attempts: 1 });
    await finish(minuteStart + 1000, 'completed', 'fast', 10);
    await finish(minuteStart + 2000, 'completed', 'slow', 900);
    await finish(minuteStart - 5 * MINUTE + 1, 'completed', 'slow', 1100);
    await finish(minuteStart - 5 * MINUTE + 2, 'failed', 'slow', 5);
    await finish(minuteStart - 61 * MINUTE, 'completed', 'fast', 1); // outside the hour
    const overview = await new TaskInsights(t.driver).overview(now);
    expect(Object.fromEntries(overview.counts.map((c) => [c.status, c.count]))).toEqual({ pending: 2, in_progress: 0, completed: 4, failed: 1, cancelled: 0 });
    expect(overview.counts.every((c) => !c.capped)).toBe(true);
    expect(overview.duePending).toEqual({ status: 'pending', count: 1, capped: false });
    expect(overview.oldestPendingCreatedAt).toBe(oldest.createdAt);
    expect(overview.duePending.count).toBe(1);
    expect(overview.perMinute).toHaveLength(60);
    expect(overview.perMinute[59]).toEqual({ minute: minuteStart, completed: 2, failed: 0 });
    expect(overview.perMinute[54]).toEqual({ minute: minuteStart - 5 * MINUTE, completed: 1, failed: 1 });
    expect(overview.perMinute.reduce((n, m) => n + m.completed + m.failed, 0)).toBe(4);
    const types = Object.fromEntries(overview.types.map((f) => [f.type, f]));
    expect(types.slow).toEqual({ type: 'slow', completed: 2, failed: 1, avgMs: 1000, maxMs: 1100 });
    expect(types.fast).toEqual({ type: 'fast', completed: 1, failed: 0, avgMs: 10, maxMs: 10 });
    await t.close();
  });

  it('failed groups: by type and error, largest first; a running task\'s place in the claim order', async () => {
    const t = await openTestRepo();
    const now = Date.now();
    for (let i = 0; i < 3; i++) await insertAt(t, now - 1000 + i, { status: 'failed', type: 'charge', lastError: 'card declined', completedAt: now });
    await insertAt(t, now - 500, { status: 'failed', type: 'charge', lastError: null, completedAt: now });
    await insertAt(t, now - 400, { status: 'failed', type: 'mail', lastError: 'bounce\u0000x', completedAt: now });
    const insights = new TaskInsights(t.driver);
    const { groups, sampled } = await insights.failedGroups();
    expect(groups.map((g) => [g.type, g.lastError, g.count])).toEqual([['charge', 'card declined', 3], ['mail', 'bounce\u0000x', 1], ['charge', null, 1]]);
    expect(sampled).toBe(5);

    const a = await insertAt(t, now - 300, { priority: 5 });
    const b = await insertAt(t, now - 200);
    const c = await insertAt(t, now - 100);
    expect(await insights.claimedBefore(a, now, 100)).toBe(0);
    expect(await insights.claimedBefore(c, now, 100)).toBe(2);
    expect(await insights.claimedBefore(b, now, 100)).toBe(1);
    await t.close();
  });

  it(`counts stop at ${COUNT_CAP} and say so`, async () => {
    const t = await openTestRepo();
    const now = Date.now();
    const fresh: NewTask[] = [];
    for (let i = 0; i <= COUNT_CAP; i++) fresh.push(buildTask(submitInput(), { now: now - 100_000 + i, maxAttempts: 3 }));
    await insertMany(t, fresh);
    const overview = await new TaskInsights(t.driver).overview(now);
    expect(overview.counts[0]).toEqual({ status: 'pending', count: COUNT_CAP, capped: true });
    expect(overview.duePending).toEqual({ status: 'pending', count: COUNT_CAP, capped: true });
    expect(overview.oldestPendingCreatedAt).toBe(now - 100_000);
    await t.close();
  });
});

describe('bulk actions', () => {
  it(`cancel all matching: every pending task of a type, ${BULK_BATCH} at a time, each through TaskService.cancel`, async () => {
    const t = await openTestRepo();
    const now = Date.now();
    const fresh: NewTask[] = [];
    for (let i = 0; i < 250; i++) fresh.push(buildTask(submitInput({ type: 'mail' }), { now: now - 1000 + i, maxAttempts: 3 }));
    const tasks = await insertMany(t, fresh);
    const done = await insertAt(t, now, { type: 'mail', status: 'completed', completedAt: now });
    const other = await insertAt(t, now, { type: 'sms' });
    const insights = new TaskInsights(t.driver);
    expect(await countBulk(insights, 'cancel', { type: 'mail' })).toBe(250);
    expect(await runBulk(t.service, insights, 'cancel', { search: { type: 'mail' } })).toEqual({ matched: 250, changed: 250, more: false });
    for (const task of tasks) expect((await t.repo.get(task.id))!).toMatchObject({ status: 'cancelled', version: 2 });
    expect((await t.repo.get(done.id))!.status).toBe('completed');
    expect((await t.repo.get(other.id))!.status).toBe('pending');

    // Retry those by id: a task that moved on meanwhile (completed) is skipped, not an error.
    const ids = [formatTaskId(tasks[0]!.id), formatTaskId(tasks[1]!.id), formatTaskId(done.id), '00000000-0000-7000-8000-000000000000'];
    expect(await runBulk(t.service, insights, 'retry', { ids })).toEqual({ matched: 4, changed: 2, more: false });
    expect((await t.repo.get(tasks[0]!.id))!).toMatchObject({ status: 'pending', attempts: 0 });
    await t.close();
  });

  it('a status filter outside what the action applies to matches nothing (never "any status")', () => {
    expect(actionableSearch('retry', { statuses: ['pending'] }).statuses).toEqual(['__none__']);
    expect(actionableSearch('cancel', { statuses: ['pending', 'failed'] }).statuses).toEqual(['pending']);
    expect(actionableSearch('retry', { type: 'x' }).statuses).toEqual(ACTIONABLE.retry);
  });
});

describe('session cookie', () => {
  const keys = sessionKeys('a-token-of-sixteen-chars-or-more');

  it('verifies what it issued, and nothing forged, altered, expired or signed with another token', async () => {
    const now = 1_800_000_000_000;
    const { value, session } = await keys.issue(now, 3_600_000);
    expect(value).not.toContain('a-token');
    expect(await keys.verify(value, now + 1000)).toEqual(session);
    expect(await keys.verify(value, now + 3_600_000)).toBeNull();
    const [generation, expires, nonce, signature] = value.split('.') as [string, string, string, string];
    expect(generation).toBe('0');
    expect(await keys.verify(`${Number(expires) + 1}.${nonce}.${signature}`, now)).toBeNull();
    expect(await keys.verify(`${generation}.${Number(expires) + 1}.${nonce}.${signature}`, now)).toBeNull();
    expect(await keys.verify(`${generation}.${expires}.${nonce.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))}.${signature}`, now)).toBeNull();
    // A cookie cannot be moved to another generation: the generation is signed too.
    expect(await keys.verify(`1.${expires}.${nonce}.${signature}`, now)).toBeNull();
    expect((await keys.verify((await keys.issue(now, 1000, 7)).value, now))?.generation).toBe(7);
    expect(await sessionKeys('another-token-of-sixteen-chars').verify(value, now)).toBeNull();
    expect(await keys.verify(undefined, now)).toBeNull();
    expect(await keys.verify('garbage', now)).toBeNull();
    // Each session has its own CSRF token.
    expect((await keys.issue(now, 1000)).session.csrfToken).not.toBe(session.csrfToken);
  });

  it('checks the token', async () => {
    expect(await keys.tokenMatches('a-token-of-sixteen-chars-or-more')).toBe(true);
    expect(await keys.tokenMatches('a-token-of-sixteen-chars-or-mor')).toBe(false);
    expect(await keys.tokenMatches('')).toBe(false);
  });
});

describe('filters', () => {
  const values = (query: Record<string, string>) => filterValues((name) => query[name]);

  it('reads datetime-local as UTC; "to" includes its whole minute', () => {
    expect(toSearch(values({ from: '2026-01-31T13:45', to: '2026-01-31T13:46' }))).toMatchObject({
      createdFrom: Date.parse('2026-01-31T13:45:00Z'),
      createdTo: Date.parse('2026-01-31T13:46:59.999Z'),
    });
  });

  it('names the field of a bad value', () => {
    expect(() => toSearch(values({ status: 'done' }))).toThrow(/^status must be one of/);
    expect(() => toSearch(values({ from: 'yesterday' }))).toThrow(/^from must be a date/);
    expect(() => toSearch(values({ from: '2026-01-02T00:00', to: '2026-01-01T00:00' }))).toThrow(/^from must not be after to/);
    expect(() => toSearch(values({ before: 'x' }))).toThrow(/^before must be a task id/);
  });
});

describe('the dashboard app', () => {
  it('shows "schedules due next" only when the deployment has schedules', async () => {
    const config = testConfig();
    const driver = await openDatabase({ url: config.databaseUrl });
    onTestFinished(() => driver.close());
    const logger = createLogger('silent');
    const next = Date.now() + 90_000;
    const unused = () => Promise.reject(new Error('not used by the overview'));
    const schedules: ScheduleSource = {
      dueNext: async (limit) => [
        { name: 'nightly-report', type: 'simulate', nextRunAt: next, paused: false },
        { name: 'cleanup', type: 'simulate', nextRunAt: null, paused: true },
      ].slice(0, limit),
      summaries: unused,
      pause: unused,
      resume: unused,
      trigger: unused,
    };
    const withSchedules = createAppServices({ config, logger, driver });
    registerDashboard(withSchedules, schedules);
    const html = await (await withSchedules.app.fetch(new Request('http://127.0.0.1/ui'))).text();
    expect(html).toContain('<section class="card" id="schedules">');
    expect(html).toContain('nightly-report');
    expect(html).toMatch(/cleanup<\/td><td>simulate<\/td><td class="time"><span class="badge">paused/);
    const without = createAppServices({ config, logger, driver });
    registerDashboard(without);
    expect(await (await without.app.fetch(new Request('http://127.0.0.1/ui'))).text()).not.toContain('id="schedules"');
    // And no dashboard at all unless the adapter mounts it.
    expect((await createAppServices({ config, logger, driver }).app.fetch(new Request('http://127.0.0.1/ui'))).status).toBe(404);
  });

  const form = (origin: string | null, extra: Record<string, string> = {}) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(origin ? { origin } : {}), ...extra },
    body: '',
  });

  it('refuses form posts from another origin or site, and a post with neither Origin nor Sec-Fetch-Site', async () => {
    const runtime = await startRuntime({ processing: false });
    const { task } = await runtime.service.submit(submitInput({ delaySeconds: 3600 }));
    const path = `http://127.0.0.1:8080/ui/tasks/${formatTaskId(task.id)}/cancel`;
    for (const init of [form('http://127.0.0.1:9999'), form('null'), form(null, { 'sec-fetch-site': 'same-site' }), form(null)]) {
      const response = await runtime.app.fetch(new Request(path, init));
      expect(response.status).toBe(403);
      expect(await response.text()).toContain('Cross-site form posts are refused');
    }
    expect((await runtime.service.get(task.id)).status).toBe('pending');
    const ok = await runtime.app.fetch(new Request(path, form(null, { 'sec-fetch-site': 'same-origin' })));
    expect(ok.status).toBe(303);
    expect((await runtime.service.get(task.id)).status).toBe('cancelled');
  });

  it('answers a bad filter with a 400 page naming the field, an unknown page with 404, and sets its headers', async () => {
    const runtime = await startRuntime({ processing: false });
    const bad = await runtime.app.fetch(new Request('http://127.0.0.1/ui/tasks?from=tomorrow'));
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('text/html');
    expect(await bad.text()).toContain('from must be a date');
    expect((await runtime.app.fetch(new Request('http://127.0.0.1/ui/nope'))).status).toBe(404);
    expect((await runtime.app.fetch(new Request('http://127.0.0.1/ui/tasks/not-an-id'))).status).toBe(404);
    const page = await runtime.app.fetch(new Request('http://127.0.0.1/ui'));
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('cache-control')).toBe('no-store');
    // No inline script or style anywhere (the CSP would block them).
    const html = await page.text();
    expect(html).not.toMatch(/<script>|<style|\sstyle="|\son[a-z]+="/);
  });

  it('a pending task of a paused type says the type is paused and offers to resume it (read-only: says how)', async () => {
    const runtime = await startRuntime({ processing: false });
    const { task } = await runtime.service.submit(submitInput({ type: 'simulate' }));
    const later = (await runtime.service.submit(submitInput({ type: 'simulate', delaySeconds: 3600 }))).task;
    await runtime.service.pauseType('simulate');
    const id = formatTaskId(task.id);
    const html = await (await runtime.app.fetch(new Request(`http://127.0.0.1/ui/tasks/${id}`))).text();
    const why = /<div class="why" id="why">([\s\S]*?)<\/div>\s*<\/div>/.exec(html)?.[1] ?? '';
    expect(why).toContain('type “simulate” is paused');
    expect(why).not.toContain('workers are busy');
    expect(html).toContain('<form method="post" action="/ui/types/resume"');
    // A task waiting for its run_at says both.
    const future = await (await runtime.app.fetch(new Request(`http://127.0.0.1/ui/tasks/${formatTaskId(later.id)}`))).text();
    expect(future).toContain('type “simulate” is paused');
    expect(future).toContain('run_at');

    const resumed = await runtime.app.fetch(new Request('http://127.0.0.1/ui/types/resume', { ...form('http://127.0.0.1'), body: `type=simulate&task=${id}` }));
    expect(resumed.status).toBe(303);
    expect(resumed.headers.get('location')).toBe(`/ui/tasks/${id}?done=resume`);
    expect((await runtime.service.types()).find((t) => t.type === 'simulate')?.paused).toBe(false);
    const after = await (await runtime.app.fetch(new Request(`http://127.0.0.1${resumed.headers.get('location')}`))).text();
    expect(after).toContain('Type “simulate” resumed');
    expect(after).toContain('waiting for a worker');

    const readOnly = await startRuntime({ processing: false, env: { DASHBOARD_READ_ONLY: 'true' } });
    const other = (await readOnly.service.submit(submitInput({ type: 'simulate' }))).task;
    await readOnly.service.pauseType('simulate');
    const shown = await (await readOnly.app.fetch(new Request(`http://127.0.0.1/ui/tasks/${formatTaskId(other.id)}`))).text();
    expect(shown).toContain('type “simulate” is paused');
    expect(shown).not.toContain('action="/ui/types/resume"');
    expect(shown).toContain('POST /types/simulate/resume');
    expect((await readOnly.app.fetch(new Request('http://127.0.0.1/ui/types/resume', { ...form('http://127.0.0.1'), body: 'type=simulate' }))).status).toBe(403);
  });

  it("a cancelled running task's page says its handler may still run, and once retried, that it waits for it", async () => {
    const runtime = await startRuntime({ processing: false });
    const { task } = await runtime.service.submit(submitInput());
    await runtime.repo.claimDueTasks({ limit: 1, workerId: 'host-a:4242', leaseMs: 60_000 });
    const why = async () => (await runtime.app.fetch(new Request(`http://127.0.0.1/ui/tasks/${formatTaskId(task.id)}`))).text();
    await runtime.service.cancel(task.id);
    expect(await why()).toContain('on host-a:4242, was asked to stop and may still be running');
    await runtime.service.retry(task.id);
    expect(await why()).toContain('Waiting for its previous attempt to stop');
  });

  it('with API_TOKEN: the login form redirects only within /ui, and sets a Secure cookie over HTTPS', async () => {
    const runtime = await startRuntime({ processing: false, env: { API_TOKEN: 'login-token-0123456789' } });
    const login = (url: string, next: string) =>
      runtime.app.fetch(new Request(url, { ...form(new URL(url).origin), body: `token=login-token-0123456789&next=${encodeURIComponent(next)}` }));
    const away = await login('http://127.0.0.1/ui/login', '//elsewhere.example/');
    expect(away.status).toBe(303);
    expect(away.headers.get('location')).toBe('/ui');
    const cookie = away.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toMatch(/Secure/);
    expect((await login('http://127.0.0.1/ui/login', '/ui/failed')).headers.get('location')).toBe('/ui/failed');
    expect((await login('http://127.0.0.1/ui/login', '/ui\r\nSet-Cookie: x=1')).headers.get('location')).toBe('/ui');
    expect((await login('http://127.0.0.1/ui/login', '/ui/\\evil.example')).headers.get('location')).toBe('/ui');
    expect((await login('https://dash.example/ui/login', '/ui')).headers.get('set-cookie')).toMatch(/Secure/);
    const unauthenticated = await runtime.app.fetch(new Request('http://127.0.0.1/ui/failed?x=1'));
    expect(unauthenticated.status).toBe(303);
    expect(unauthenticated.headers.get('location')).toBe('/ui/login?next=%2Fui%2Ffailed%3Fx%3D1');
  });
});
