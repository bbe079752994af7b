import { describe, expect, it } from 'vitest';
import { jsonRequest, startRuntime, waitFor } from './helpers.ts';

/** /schedules through the app (no socket): every success and every rejected input. */

async function setup(env: Record<string, string> = {}, processing = false) {
  const runtime = await startRuntime({ env, processing });
  const request = jsonRequest(runtime.app);
  const put = (name: string, json: unknown) => request(`/schedules/${name}`, { method: 'PUT', json });
  const count = async () => Number((await runtime.driver.all('SELECT count(*) AS n FROM schedules'))[0]!.n);
  return { runtime, request, put, count };
}

const REPORT = {
  cron: '30 2 * * *',
  timezone: 'Europe/Berlin',
  missed: 'once',
  task: { title: 'report', description: 'nightly', type: 'simulate', payload: { url: 'https://reports.example.com/run' }, max_attempts: 5 },
};

const SCHEDULE_FIELDS = ['name', 'cron', 'timezone', 'missed', 'paused', 'task', 'next_run_at', 'last_run_at', 'version', 'created_at', 'updated_at'];

describe('PUT /schedules/:name', () => {
  it('creates (201), then replaces (200); GET one and the list show it', async () => {
    const { put, request } = await setup();
    const created = await put('nightly-report', REPORT);
    expect(created.status).toBe(201);
    const body = (await created.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual([...SCHEDULE_FIELDS].sort());
    expect(body).toMatchObject({ name: 'nightly-report', cron: '30 2 * * *', timezone: 'Europe/Berlin', missed: 'once', paused: false, version: 1, last_run_at: null, task: REPORT.task });
    expect(body.next_run_at).toMatch(/^\d{4}-\d{2}-\d{2}T(00|01):30:00\.000Z$/); // 02:30 in Berlin

    const replaced = await put('nightly-report', { cron: '0 3 * * *', task: { title: 'report v2', description: 'd' } });
    expect(replaced.status).toBe(200);
    expect(await replaced.json()).toMatchObject({ version: 2, timezone: 'UTC', missed: 'once', task: { title: 'report v2', description: 'd' } });

    expect(await (await request('/schedules/nightly-report')).json()).toMatchObject({ name: 'nightly-report', cron: '0 3 * * *' });
    await put('a-first', REPORT);
    const list = (await (await request('/schedules')).json()) as { count: number; schedules: { name: string }[]; next_cursor: string | null };
    expect(list.count).toBe(2);
    expect(list.schedules.map((s) => s.name)).toEqual(['a-first', 'nightly-report']);
    expect(list.next_cursor).toBeNull();
    const page = (await (await request('/schedules?limit=1')).json()) as typeof list;
    expect(page).toMatchObject({ count: 1, next_cursor: 'a-first' });
    const next = (await (await request(`/schedules?limit=1&cursor=${page.next_cursor}`)).json()) as typeof list;
    expect(next.schedules.map((s) => s.name)).toEqual(['nightly-report']);
  });

  it('rejects bad input with 400 naming the field, and stores nothing', async () => {
    const { put, request, count } = await setup();
    const cases: [string, unknown, RegExp][] = [
      ['ok', { ...REPORT, cron: 'every day at noon' }, /^cron /],
      ['ok', { ...REPORT, cron: '61 2 * * *' }, /^cron is invalid: .*minute/],
      ['ok', { ...REPORT, cron: '0 0 * * * * *' }, /^cron must have 5 fields .*got 7/],
      ['ok', { ...REPORT, cron: '0 0 30 2 *' }, /^cron never matches/],
      ['ok', { ...REPORT, cron: undefined }, /^cron is required/],
      ['ok', { ...REPORT, timezone: 'Mars/Olympus_Mons' }, /^timezone "Mars\/Olympus_Mons" is not a known IANA time zone/],
      ['ok', { ...REPORT, missed: 'twice' }, /^missed must be one of skip, once, all/],
      ['ok', { ...REPORT, paused: 'yes' }, /^paused must be true or false/],
      ['ok', { ...REPORT, task: { description: 'no title' } }, /^task\.title is required$/],
      ['ok', { ...REPORT, task: { title: '   ', description: 'blank title' } }, /^task\.title is required$/],
      ['ok', { ...REPORT, task: { title: 't', description: 'd', priority: 1.5 } }, /^task\.priority must be an integer/],
      ['ok', { ...REPORT, task: { title: 't', description: 'd', type: 'nope' } }, /^task\.type: unknown task type "nope"$/],
      // The type's own payload check, as POST /tasks runs it (the http type's SSRF guard here).
      ['ok', { ...REPORT, task: { title: 't', description: 'd', type: 'http', payload: { url: 'http://10.0.0.1/x' } } }, /^task\.payload\.url: /],
      ['ok', { ...REPORT, task: { title: 't', description: 'd', run_at: '2026-01-01T00:00:00Z' } }, /^task\.run_at is not allowed/],
      ['ok', { ...REPORT, task: undefined }, /^task is required/],
      ['ok', { ...REPORT, task: 'report' }, /^task must be an object/],
      ['ok', { ...REPORT, task: [REPORT.task] }, /^task must be an object/],
      ['with%20space', REPORT, /^name must be 1 to 200 characters/],
      ['a'.repeat(201), REPORT, /^name must be 1 to 200 characters/],
      ['-leading-dash', REPORT, /^name must be/],
      ['colon:name', REPORT, /^name must be/],
    ];
    for (const [name, body, message] of cases) {
      const response = await put(name, body);
      const json = (await response.json()) as { message: string; code: string };
      expect({ name, body, status: response.status, message: json.message }).toMatchObject({ status: 400, message: expect.stringMatching(message) });
      expect(typeof json.code).toBe('string');
    }
    expect(await count()).toBe(0);
    expect((await put('a'.repeat(200), REPORT)).status).toBe(201);
    expect((await request('/schedules', { method: 'GET', headers: {} })).status).toBe(200);
    expect((await request('/schedules?limit=0')).status).toBe(400);
    expect((await request('/schedules?cursor=has%20space')).status).toBe(400);
    const invalidJson = await request('/schedules/x', { method: 'PUT', body: '{', headers: { 'content-type': 'application/json' } });
    expect(invalidJson.status).toBe(400);
    expect((await request('/schedules/x', { method: 'PUT', body: 'x', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
  });
});

describe('pause, resume, trigger, delete over HTTP', () => {
  it('answers each action, and 404 for an unknown name', async () => {
    const { put, request, runtime } = await setup();
    await put('nightly-report', REPORT);
    expect(await (await request('/schedules/nightly-report/pause', { method: 'POST' })).json()).toMatchObject({ paused: true, version: 2 });
    const stats = (await (await request('/stats')).json()) as { schedules: { total: number; paused: number } };
    expect(stats.schedules).toEqual({ total: 1, paused: 1 });
    expect(await (await request('/schedules/nightly-report/resume', { method: 'POST' })).json()).toMatchObject({ paused: false, version: 3 });

    const triggered = await request('/schedules/nightly-report/trigger', { method: 'POST' });
    expect(triggered.status).toBe(202);
    const task = (await triggered.json()) as Record<string, unknown>;
    expect(task).toMatchObject({ title: 'report', description: 'nightly', status: 'pending', max_attempts: 5, payload: REPORT.task.payload });
    expect(task.idempotency_key).toMatch(/^schedule:nightly-report:trigger:\d{4}-.*Z$/);
    expect((await runtime.repo.get(Number(task.id)))?.title).toBe('report');
    expect(((await (await request('/schedules/nightly-report')).json()) as { last_run_at: string }).last_run_at).toBe(task.created_at);

    const deleted = await request('/schedules/nightly-report', { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    for (const [method, path] of [['GET', ''], ['DELETE', ''], ['POST', '/pause'], ['POST', '/resume'], ['POST', '/trigger']]) {
      const response = await request(`/schedules/nightly-report${path}`, { method });
      expect({ method, path, status: response.status, body: await response.json() }).toEqual({ method, path, status: 404, body: { message: 'schedule not found', code: 'not_found' } });
    }
    expect((await request('/schedules/nightly-report/pause', { method: 'GET' })).status).toBe(405);
  });

  it('API_TOKEN protects /schedules', async () => {
    const { put, request } = await setup({ API_TOKEN: 'schedules-token-0123456789' });
    expect((await put('x', REPORT)).status).toBe(401);
    expect((await request('/schedules')).status).toBe(401);
    const ok = await request('/schedules', { headers: { authorization: 'Bearer schedules-token-0123456789' } });
    expect(ok.status).toBe(200);
  });

  it('is in the OpenAPI document', async () => {
    const { request } = await setup();
    const doc = (await (await request('/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/schedules', '/schedules/{name}', '/schedules/{name}/pause', '/schedules/{name}/resume', '/schedules/{name}/trigger']),
    );
    expect(Object.keys(doc.paths['/schedules/{name}']!).sort()).toEqual(['delete', 'get', 'put']);
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['Schedule', 'PutSchedule', 'ScheduleList']));
  });
});

describe('a processing runtime fires its schedules', () => {
  it('wakes at each occurrence, not at the poll interval: one task per second, each fired on its own', async () => {
    // A 60 s poll interval: only the poller's wake-up at next_run_at can fire every second.
    const { put, runtime } = await setup({ TASK_POLL_INTERVAL_SECONDS: '60' }, true);
    runtime.start();
    await put('tick', { cron: '* * * * * *', task: { title: 'tick', description: 'every second' } });
    const rows = await waitFor(async () => {
      const r = await runtime.driver.all("SELECT idempotency_key, status FROM tasks WHERE idempotency_key LIKE 'schedule:tick:%' ORDER BY idempotency_key");
      return r.filter((row) => row.status === 'completed').length >= 3 ? r : null;
    }, 10_000, 'three completed occurrences');
    const seconds = rows.map((r) => Date.parse(String(r.idempotency_key).slice('schedule:tick:'.length)));
    // Policy `once`: a wake-up later than a second would have skipped an occurrence.
    for (let i = 1; i < seconds.length; i++) expect(seconds[i]! - seconds[i - 1]!).toBe(1000);
  });
});
