import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { honoPath } from '../lib/api/openapi.ts';
import { ConfigError } from '../lib/config/config.ts';
import { createFunctions, OPERATIONS, type OperationName } from '../functions/functions.ts';
import { defineWorkflow } from '../lib/workflows/define.ts';
import { envRecordFrom } from '../functions/environment.ts';
import { ROOT } from './processes.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/** functions/ from source: per-isolate contexts, operation functions, /poll's guard, bad config. */
const available = await sqldAvailable();
const SECRET = 'functions-cron-secret-0123456789';
const JSON_HEADERS = { 'content-type': 'application/json' };

describe('envRecordFrom', () => {
  it('keeps strings, stringifies wrangler number/boolean vars, drops binding objects', () => {
    expect(envRecordFrom({ A: 'x', TASK_WORKERS: 5, TRUST_PROXY: true, KV: { get() {} }, N: null })).toEqual({ A: 'x', TASK_WORKERS: '5', TRUST_PROXY: 'true' });
  });
});

describe('a misconfigured deployment', () => {
  const functions = createFunctions({ platform: 'test', logSink: () => {} });

  it('answers 500 JSON without the offending value, and the cron poll rejects with the reason', async () => {
    const env = { DATABASE_URL: 'file:tasks.db', CRON_SECRET: 'short' };
    const response = await functions.api(new Request('https://x.test/tasks'), env);
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({ message: 'the service is misconfigured (see the function logs)', code: 'misconfigured' });
    expect(body).not.toContain('short');
    await expect(functions.scheduledPoll({ DATABASE_URL: 'file:tasks.db' })).rejects.toThrow(ConfigError);
    await expect(functions.scheduledPoll({ DATABASE_URL: 'file:tasks.db' })).rejects.toThrow(/DATABASE_URL.*remote libSQL URL/);
  });
});

describe('the operations (functions/functions.ts OPERATIONS)', () => {
  const operations = Object.entries(OPERATIONS) as [OperationName, (typeof OPERATIONS)[OperationName]][];
  /** The route's path with each parameter filled in, as a client would send it. */
  const samplePath = (route: { path: string }) => honoPath(route).replace(/:[^/]+/g, 'x');
  /** `on('name')` calls in a platform file, by the export they are assigned to. */
  const served = (file: string) => [...readFileSync(file, 'utf8').matchAll(/export (?:default|const (\w+) =) on\('(\w+)'\)/g)].map((m) => ({ exported: m[1] ?? 'default', name: m[2]! }));
  const platformFiles = (platform: string) =>
    readdirSync(join(ROOT, 'functions/platforms', platform))
      .filter((file) => file.endsWith('.ts') && file !== `${platform}.ts`)
      .map((file) => join(ROOT, 'functions/platforms', platform, file));

  it('are every route of the app but the probes, each with its own function', async () => {
    const functions = createFunctions({ platform: 'test', logSink: () => {} });
    // /openapi.json answers before the database: nothing listens on this loopback port.
    const response = await functions.api(new Request('https://x.test/openapi.json'), { DATABASE_URL: 'http://127.0.0.1:9', RATE_LIMIT_PER_MINUTE: '0', LOG_LEVEL: 'silent' });
    const doc = (await response.json()) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
    const probes = ['GET /healthz', 'GET /readyz'];
    expect(operations.map(([, route]) => `${route.method.toUpperCase()} ${route.path}`).sort()).toEqual(documented.filter((op) => !probes.includes(op)).sort());
    for (const [name] of operations) expect(typeof functions[name], name).toBe('function');
  });

  it('each have one Netlify function, whose config routes the operation\'s method and path to it', async () => {
    const files = await Promise.all(
      platformFiles('netlify').map(async (file) => ({ file, served: served(file), config: ((await import(pathToFileURL(file).href)) as { config?: { path: string | string[]; method?: string } }).config })),
    );
    for (const [name, route] of operations) {
      const serving = files.filter((f) => f.served.some((s) => s.name === name));
      expect(serving.map((f) => f.file), name).toHaveLength(1);
      expect(serving[0]!.config, name).toEqual({ path: honoPath(route), method: route.method.toUpperCase() });
    }
  });

  it('each have a Vercel function that vercel.json routes the operation\'s path to, exporting its method', () => {
    const { rewrites } = JSON.parse(readFileSync(join(ROOT, 'deploy/vercel/vercel.json'), 'utf8')) as { rewrites: { source: string; destination: string }[] };
    for (const [name, route] of operations) {
      const path = samplePath(route);
      // Vercel takes the first rewrite that matches.
      const rewrite = rewrites.find((r) => new RegExp(`^${r.source.replace(/:[^/]+/g, '[^/]+')}$`).test(path));
      expect(rewrite?.destination, `${name}: vercel.json routes ${path} to the catch-all`).not.toBe('/api');
      const file = join(ROOT, 'functions/platforms/vercel', `${rewrite!.destination.replace(/^\/api\//, '')}.ts`);
      expect(served(file), name).toContainEqual({ exported: route.method.toUpperCase(), name });
    }
  });
});

describe.skipIf(!available)('functions over sqld', () => {
  const sqld = useSqld();
  const env = (extra: Record<string, string> = {}) => ({ DATABASE_URL: sqld.url, SIMULATE_MIN_MS: '0', SIMULATE_MAX_MS: '0', LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '0', ...extra });

  it('builds one context per configuration, on first use, and reuses it', () => {
    const functions = createFunctions({ platform: 'test' });
    const first = functions.context(env());
    expect(functions.context({ ...env(), UNRELATED_BINDING: 'x' })).toBe(first);
    expect(functions.context(env({ TASK_WORKERS: '7' }))).not.toBe(first);
    expect(first.workerId).toMatch(/^test:[0-9a-f]{8}$/);
  });

  it('POST /poll is 503 without CRON_SECRET, 401 with a wrong one, 200 with it', async () => {
    const functions = createFunctions({ platform: 'test' });
    const poll = (headers: Record<string, string>, extra?: Record<string, string>) =>
      functions.poll(new Request('https://x.test/poll', { method: 'POST', headers }), env(extra));

    const disabled = await poll({ authorization: `Bearer ${SECRET}` });
    expect(disabled.status).toBe(503);
    expect(await disabled.json()).toMatchObject({ code: 'cron_secret_unset' });

    const wrong = await poll({ authorization: 'Bearer not-the-secret-0123456789' }, { CRON_SECRET: SECRET });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await poll({}, { CRON_SECRET: SECRET })).status).toBe(401);

    const ok = await poll({ authorization: `Bearer ${SECRET}` }, { CRON_SECRET: SECRET });
    expect(ok.status).toBe(200);
    expect(Object.keys(await ok.json()).sort()).toEqual(['cancelled', 'claimed', 'completed', 'duration_ms', 'expired_failed', 'failed', 'lost', 'released', 'retried', 'suspended']);
  });

  it('an operation function serves its own route and answers others like the API would', async () => {
    const functions = createFunctions({ platform: 'test' });
    const created = await functions.createTask(new Request('https://x.test/tasks', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ title: 't', description: 'd' }) }), env());
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };

    const wrongMethod = await functions.getTask(new Request(`https://x.test/tasks/${id}`, { method: 'DELETE' }), env());
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD');
    const otherRoute = await functions.getTask(new Request('https://x.test/stats'), env());
    expect(otherRoute.status).toBe(404);
    expect(await otherRoute.json()).toMatchObject({ code: 'route_not_found' });
    expect(await (await functions.getTask(new Request(`https://x.test/tasks/${id}`), env())).json()).toMatchObject({ id, status: 'pending' });
    // A validation error comes from the same app: same message, same code.
    const invalid = await functions.createTask(new Request('https://x.test/tasks', { method: 'POST', headers: JSON_HEADERS, body: '{"title":""}' }), env());
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toEqual({ message: 'title is required', code: 'invalid_field' });
  });

  it('workflow runs: the startRun and getRun functions, the scheduled poll runs the run to its end', async () => {
    const greet = defineWorkflow('greet', async (ctx, input: { name: string }) => ctx.step('greeting', () => `hello ${input.name}`));
    const functions = createFunctions({ platform: 'test', workflows: [greet] });
    const started = await functions.startRun(new Request('https://x.test/workflows/greet/runs', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ input: { name: 'edge' } }) }), env());
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    expect(await (await functions.getRun(new Request(`https://x.test/runs/${id}`), env())).json()).toMatchObject({ id, workflow: 'greet', status: 'pending', steps: [] });
    const unknown = await functions.startRun(new Request('https://x.test/workflows/nope/runs', { method: 'POST', headers: JSON_HEADERS, body: '{}' }), env());
    expect(unknown.status).toBe(404);
    // An operation function answers only its own route.
    expect((await functions.startRun(new Request(`https://x.test/runs/${id}`), env())).status).toBe(404);

    await functions.scheduledPoll(env());
    const done = (await (await functions.getRun(new Request(`https://x.test/runs/${id}`), env())).json()) as { status: string; output: unknown; steps: { name: string; status: string }[] };
    expect(done).toMatchObject({ status: 'completed', output: 'hello edge', steps: [{ name: 'greeting', status: 'completed' }] });
  });
});
