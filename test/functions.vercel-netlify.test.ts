import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskJson } from '../lib/tasks/model.ts';
import { useBundles } from './bundles.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * The built Vercel and Netlify functions (dist/vercel/api/*.mjs, dist/netlify/functions/*.mjs)
 * called as those platforms call them: a Web `Request` in, a `Response` out, configuration in
 * process.env. Each request goes to the function the deploy config (vercel.json rewrites,
 * Netlify `config` exports) routes it to, so the config is checked along with the code.
 */
const available = await sqldAvailable();
const CRON_SECRET = 'vercel-netlify-cron-secret-0123';

type WebHandler = (request: Request) => Promise<Response>;
type Module = Record<string, unknown>;

describe.skipIf(!available)('Vercel and Netlify bundles', () => {
  const sqld = useSqld();
  const bundles = useBundles(['vercel', 'netlify']);
  const saved = { ...process.env };
  const load = async (target: 'vercel' | 'netlify', file: string) => (await import(pathToFileURL(bundles.path(target, file)).href)) as Module;

  beforeAll(() => {
    Object.assign(process.env, { DATABASE_URL: sqld.url, CRON_SECRET, SIMULATE_MIN_MS: '0', SIMULATE_MAX_MS: '0', LOG_LEVEL: 'warn', POLL_BUDGET_SECONDS: '5', RATE_LIMIT_PER_MINUTE: '0' });
  });
  afterAll(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  const request = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    new Request(`https://task-pool.example${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  describe('Vercel', () => {
    const vercel = () => JSON.parse(readFileSync(bundles.path('vercel', 'vercel.json'), 'utf8')) as {
      rewrites: { source: string; destination: string }[];
      crons: { path: string; schedule: string }[];
    };

    /** The function vercel.json routes `path` to, and its export for `method`. */
    const route = async (method: string, path: string): Promise<WebHandler> => {
      const rewrite = vercel().rewrites.find((r) => new RegExp(`^${r.source.replace(/:[^/]+/g, '[^/]+')}$`).test(path));
      if (!rewrite) throw new Error(`vercel.json routes nothing to ${path}`);
      const file = rewrite.destination === '/api' ? 'api/index.mjs' : `${rewrite.destination.slice(1)}.mjs`;
      const handler = (await load('vercel', file))[method];
      if (typeof handler !== 'function') throw new Error(`${file} exports no ${method} (Vercel would answer 405)`);
      return handler as WebHandler;
    };
    const call = async (method: string, path: string, body?: unknown, headers?: Record<string, string>) => {
      const response = await (await route(method, path))(request(method, path, body, headers));
      return { status: response.status, body: (response.status === 204 ? {} : await response.json()) as Record<string, unknown> };
    };

    it('routes every operation to a function that serves it', async () => {
      const created = await call('POST', '/tasks', { title: 'on vercel', description: 'd' });
      expect(created.status).toBe(202);
      const id = created.body.id as string;
      expect((await call('GET', `/tasks/${id}`)).body).toMatchObject({ id, status: 'pending' });
      expect((await call('GET', '/tasks?limit=1')).body).toMatchObject({ count: 1 });
      expect((await call('POST', `/tasks/${id}/cancel`)).body).toMatchObject({ status: 'cancelled' });
      expect((await call('POST', `/tasks/${id}/retry`)).body).toMatchObject({ status: 'pending', attempts: 0 });
      expect((await call('GET', '/stats')).status).toBe(200);
      await expectScheduleRoutes(call);
      await expectQueueOperationRoutes(call);
      await expectWorkflowRoutes(call);
      expect((await call('GET', '/healthz')).body).toEqual({ status: 'ok' });
      expect((await call('GET', '/nope')).status).toBe(404);
    });

    it('the cron path is served: GET with the secret polls, without it 401', async () => {
      const [cron] = vercel().crons;
      expect(cron).toEqual({ path: '/poll', schedule: '* * * * *' });
      const { body: task } = await call('POST', '/tasks', { title: 'cron', description: 'd' });
      expect((await call('GET', cron!.path)).status).toBe(401);
      const polled = await call('GET', cron!.path, undefined, { authorization: `Bearer ${CRON_SECRET}` });
      expect(polled.status).toBe(200);
      expect(polled.body.completed).toBeGreaterThanOrEqual(1);
      expect((await call('GET', `/tasks/${task.id as string}`)).body.status).toBe('completed');
    });

    it('an operation function answers only its own route', async () => {
      const cancel = (await load('vercel', 'api/cancel.mjs')).POST as WebHandler;
      const response = await cancel(request('GET', '/tasks/x/cancel'));
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('POST');
      expect(await response.json()).toMatchObject({ code: 'method_not_allowed' });
      expect(await (await cancel(request('POST', '/tasks'))).json()).toMatchObject({ code: 'route_not_found' });
      // Its own route is served: the id is looked up.
      expect(await (await cancel(request('POST', '/tasks/x/cancel'))).json()).toMatchObject({ code: 'not_found' });
    });
  });

  describe('Netlify', () => {
    type Routed = { name: string; handler: WebHandler; paths: string[]; methods: string[] | undefined };
    let routed: Routed[];

    // Every built function with a `config` export (the scheduled one has none: no route).
    beforeAll(async () => {
      const built = bundles.files.filter((f) => f.target === 'netlify').map((f) => basename(f.path, '.mjs'));
      const loaded = await Promise.all(built.map(async (name) => ({ name, mod: await load('netlify', `functions/${name}.mjs`) })));
      routed = loaded
        .filter(({ mod }) => mod.config !== undefined)
        .map(({ name, mod }) => {
          const config = mod.config as { path: string | string[]; method?: string | string[] };
          return {
            name,
            handler: mod.default as WebHandler,
            paths: [config.path].flat(),
            methods: config.method === undefined ? undefined : [config.method].flat(),
          };
        });
      expect(routed.map((f) => f.name)).toContain('create-task');
    });

    /** What Netlify does with the `config` exports: the function whose path and method match. */
    const call = async (method: string, path: string, body?: unknown, headers?: Record<string, string>) => {
      const matches = routed.filter(
        (f) => f.paths.some((p) => new RegExp(`^${p.replace(/:[^/]+/g, '[^/]+')}$`).test(path.split('?')[0]!)) && (!f.methods || f.methods.includes(method)),
      );
      expect(matches.map((f) => f.name), `functions routed ${method} ${path}`).toHaveLength(1);
      const response = await matches[0]!.handler(request(method, path, body, headers));
      return { status: response.status, body: (response.status === 204 ? {} : await response.json()) as Record<string, unknown> };
    };

    it('routes every operation to exactly one function that serves it', async () => {
      const created = await call('POST', '/tasks', { title: 'on netlify', description: 'd', delay_seconds: 3600 });
      expect(created.status).toBe(202);
      const id = created.body.id as string;
      expect((await call('GET', `/tasks/${id}`)).body).toMatchObject({ id, status: 'pending' });
      expect((await call('GET', '/tasks?limit=1')).body).toMatchObject({ count: 1, tasks: [{ id }] });
      expect((await call('POST', `/tasks/${id}/cancel`)).body).toMatchObject({ status: 'cancelled' });
      expect((await call('POST', `/tasks/${id}/retry`)).body).toMatchObject({ status: 'pending' });
      expect((await call('GET', '/stats')).body).toMatchObject({ counts: expect.any(Object) });
      expect((await call('GET', '/readyz')).body).toEqual({ status: 'ready' });
      await expectScheduleRoutes(call);
      await expectQueueOperationRoutes(call);
      await expectWorkflowRoutes(call);
      expect((await call('POST', '/poll')).status).toBe(401);
    });

    it('the scheduled function polls without HTTP auth, and netlify.toml schedules it', async () => {
      const toml = readFileSync(bundles.path('netlify', 'netlify.toml'), 'utf8');
      expect(toml).toMatch(/\[functions\."poll-scheduled"\]\s+schedule = "\* \* \* \* \*"/);
      expect(existsSync(bundles.path('netlify', 'public'))).toBe(true);
      const { body: task } = await call('POST', '/tasks', { title: 'scheduled', description: 'd' });
      const scheduled = (await load('netlify', 'functions/poll-scheduled.mjs')).default as WebHandler;
      const response = await scheduled(new Request('https://task-pool.example/.netlify/functions/poll-scheduled', { method: 'POST', body: '{"next_run":"2026-11-27T12:02:00.000Z"}' }));
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ completed: expect.any(Number) });
      expect(((await call('GET', `/tasks/${task.id as string}`)).body as unknown as TaskJson).status).toBe('completed');
    });
  });
});

/** Every /schedules operation, through whichever function the platform routes it to. */
async function expectScheduleRoutes(call: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: Record<string, unknown> }>) {
  const name = `routed-${Math.random().toString(36).slice(2, 8)}`;
  const put = await call('PUT', `/schedules/${name}`, { cron: '0 3 * * *', task: { title: 'routed', description: 'd' } });
  expect(put).toMatchObject({ status: 201, body: { name } });
  expect((await call('GET', `/schedules/${name}`)).body).toMatchObject({ name, paused: false });
  expect((await call('GET', '/schedules?limit=1000')).body).toMatchObject({ schedules: expect.arrayContaining([expect.objectContaining({ name })]) });
  expect((await call('POST', `/schedules/${name}/pause`)).body).toMatchObject({ paused: true });
  expect((await call('POST', `/schedules/${name}/resume`)).body).toMatchObject({ paused: false });
  expect((await call('POST', `/schedules/${name}/trigger`)).status).toBe(202);
  expect((await call('PUT', '/schedules/bad%20name', {})).status).toBe(400);
  expect((await call('DELETE', `/schedules/${name}`)).status).toBe(204);
  expect((await call('GET', `/schedules/${name}`)).status).toBe(404);
}

/**
 * The workflow routes, each through the function the platform routes it to. The deployed
 * bundles register no workflow (functions/task-handlers.ts), so runs are 404s here; starting
 * and running one is test/functions.test.ts's.
 */
async function expectWorkflowRoutes(call: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: Record<string, unknown> }>) {
  expect(await call('GET', '/workflows')).toEqual({ status: 200, body: { workflows: [] } });
  expect(await call('POST', '/workflows/nope/runs', { input: 1 })).toEqual({ status: 404, body: { message: 'workflow "nope" is not registered', code: 'not_found' } });
  expect(await call('GET', '/runs?limit=5')).toMatchObject({ status: 200, body: { runs: expect.any(Array) } });
  for (const [method, path] of [['GET', '/runs/0000000000000001'], ['POST', '/runs/0000000000000001/cancel'], ['POST', '/runs/0000000000000001/retry']]) {
    expect(await call(method!, path!), `${method} ${path}`).toEqual({ status: 404, body: { message: 'run not found', code: 'not_found' } });
  }
  expect(await call('POST', '/events', { event: 'routed', key: 'k' })).toEqual({ status: 202, body: { event: 'routed', key: 'k', resumed: 0 } });
  expect((await call('POST', '/events', { key: 'k' })).body).toEqual({ message: 'event is required', code: 'invalid_field' });
}

/** Batch submit, delete, bulk cancel/retry and type pausing, through whichever function the platform routes each to. */
async function expectQueueOperationRoutes(call: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: Record<string, unknown> }>) {
  const type = `routed${Math.random().toString(36).slice(2, 8)}`;
  const batch = await call('POST', '/tasks/batch', { tasks: [{ title: 'a', description: 'd', delay_seconds: 3600 }, { title: 'b', description: 'd', delay_seconds: 3600 }] });
  expect(batch).toMatchObject({ status: 202, body: { count: 2 } });
  const [a, b] = (batch.body.tasks as { id: string }[]).map((t) => t.id);
  expect((await call('POST', '/tasks/cancel', { ids: [a, b] })).body).toEqual({ matched: 2, changed: 2 });
  expect((await call('POST', '/tasks/retry', { ids: [a] })).body).toEqual({ matched: 1, changed: 1 });
  expect((await call('DELETE', `/tasks/${b}`)).status).toBe(204);
  expect((await call('GET', `/tasks/${b}`)).status).toBe(404);
  expect((await call('POST', `/types/${type}/pause`)).body).toMatchObject({ type, paused: true });
  expect((await call('GET', '/types')).body.types).toEqual(expect.arrayContaining([expect.objectContaining({ type, paused: true })]));
  expect((await call('POST', `/types/${type}/resume`)).body).toEqual({ type, paused: false, paused_at: null });
}
