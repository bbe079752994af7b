import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBundles, useWorkersEntry } from './bundles.ts';
import { freePort, waitFor } from './helpers.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * Remote workflows at the edge: task-pool's Workers bundle (the built `workers` target) and a
 * workflow app as a second Worker in the same workerd instance (miniflare), the app reached
 * over a loopback socket of its own. The run advances only on scheduled polls: its sleep and
 * its event span several of them.
 */
const available = await sqldAvailable();
const SECRET = 'whsec_' + Buffer.from('remote-workflow-workers-secret-0123456').toString('base64');

describe.skipIf(!available)('remote workflows in workerd', () => {
  const sqld = useSqld();
  const bundles = useBundles(['workers']);
  const app = useWorkersEntry(new URL('./fixtures/remote-workflow-worker.ts', import.meta.url).pathname);
  let mf: Miniflare;
  let appUrl: string;

  beforeAll(async () => {
    const port = await freePort();
    appUrl = `http://127.0.0.1:${port}/workflow`;
    mf = new Miniflare({
      workers: [
        {
          name: 'task-pool',
          modules: true,
          scriptPath: bundles.path('workers', 'index.mjs'),
          modulesRoot: '/',
          compatibilityDate: '2026-04-01',
          bindings: { DATABASE_URL: sqld.url, LOG_LEVEL: 'warn', POLL_BUDGET_SECONDS: '5', RATE_LIMIT_PER_MINUTE: '0', WEBHOOK_SECRET: SECRET, HTTP_ALLOW_PRIVATE_NETWORKS: 'true' },
        },
        {
          name: 'app',
          modules: true,
          scriptPath: app.scriptPath,
          modulesRoot: '/',
          compatibilityDate: '2026-04-01',
          bindings: { SECRET },
          unsafeDirectSockets: [{ host: '127.0.0.1', port }],
        },
      ],
    });
    await mf.ready;
  });
  afterAll(async () => {
    await mf?.dispose();
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await mf.dispatchFetch(`http://task-pool.test${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const poll = async () => {
    const worker = (await mf.getWorker('task-pool')) as unknown as { scheduled(options: { cron?: string; scheduledTime?: Date }): Promise<{ outcome: string }> };
    expect((await worker.scheduled({ cron: '* * * * *', scheduledTime: new Date() })).outcome).toBe('ok');
  };
  const run = async (id: string) => (await call('GET', `/runs/${id}`)).body as { status: string; output: unknown; waiting_for: { kind: string }[] | null; steps: { name: string }[] };

  it('drives a four-step workflow served by another Worker across scheduled polls', async () => {
    expect((await call('PUT', '/workflows/edge-checkout', { url: appUrl })).status).toBe(201);
    const started = await call('POST', '/workflows/edge-checkout/runs', { input: { key: 'e-1' } });
    expect(started.status).toBe(202);
    const id = started.body.id as string;

    await poll();
    // First poll: step `a` ran, the run sleeps 1 s.
    expect((await run(id)).waiting_for).toEqual([expect.objectContaining({ kind: 'sleep' })]);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const waiting = await waitFor(async () => {
      await poll();
      const r = await run(id);
      return r.waiting_for?.some((w) => w.kind === 'event') ? r : null;
    }, 15_000, 'the run to wait for the event');
    expect(waiting.steps.map((s) => s.name)).toEqual(['a', 'nap', 'paid']);
    expect((await call('POST', '/events', { event: 'paid', key: 'e-1', payload: { ok: true } })).status).toBe(202);
    await poll();
    const done = await run(id);
    expect(done).toMatchObject({ status: 'completed', output: { a: { n: 1 }, paid: { ok: true }, b: 'done' } });
    const counts = await (await fetch(appUrl)).json();
    expect(counts).toEqual({ a: 1, b: 1 });
  });
});
