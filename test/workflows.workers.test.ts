import { fileURLToPath } from 'node:url';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunDetailJson, RunJson } from '../lib/workflows/service.ts';
import { startWorkerd, useWorkersEntry } from './bundles.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * A workflow in the Workers bundle, in real workerd against a real sqld: a step, a 2 s sleep
 * and a wait for an event, carried across several cron-triggered polls (`scheduled()`), each
 * an invocation that ends when nothing is due. The entry,
 * test/fixtures/workers-with-workflows.ts, is built like the real one. The run is started,
 * read and sent its event through the Worker's own API (`fetch`).
 */
const available = await sqldAvailable();
const ENTRY = fileURLToPath(new URL('./fixtures/workers-with-workflows.ts', import.meta.url));

describe.skipIf(!available)('a workflow in the Workers bundle in workerd', () => {
  const sqld = useSqld();
  const entry = useWorkersEntry(ENTRY);
  let mf: Miniflare;

  beforeAll(async () => {
    mf = await startWorkerd(entry.scriptPath, { DATABASE_URL: sqld.url, LOG_LEVEL: 'warn', POLL_BUDGET_SECONDS: '5', RATE_LIMIT_PER_MINUTE: '0' });
  });
  afterAll(async () => {
    await mf?.dispose();
  });

  /** One cron-triggered poll, as the platform runs it. */
  async function scheduledPoll(): Promise<void> {
    // miniflare types Fetcher through @cloudflare/workers-types, which is not installed.
    const worker = (await mf.getWorker()) as unknown as { scheduled(options: { cron?: string; scheduledTime?: Date }): Promise<{ outcome: string }> };
    expect((await worker.scheduled({ cron: '* * * * *', scheduledTime: new Date() })).outcome).toBe('ok');
  }

  async function call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const response = await mf.dispatchFetch(`http://task-pool.test${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as T };
  }

  it('a step, a 2 s sleep and an event: completed across scheduled polls, the step run once', async () => {
    const started = await call<RunJson>('POST', '/workflows/edge-flow/runs', { input: { key: 'edge-1' } });
    expect(started.status).toBe(202);
    const id = started.body.id;
    const read = async () => (await call<RunDetailJson>('GET', `/runs/${id}`)).body;

    // First poll: the step runs, the sleep sets the run aside, and the poll ends.
    await scheduledPoll();
    let now = await read();
    expect(now.status).toBe('pending');
    expect(now.waiting_for).toEqual([expect.objectContaining({ kind: 'sleep', step: 'nap' })]);
    const mint = now.steps.find((s) => s.name === 'mint')!;
    expect(mint).toMatchObject({ status: 'completed', attempts: 1 });

    // Polls until the sleep is over: then the run waits for its event.
    let polls = 1;
    while (!now.waiting_for?.some((w) => w.kind === 'event')) {
      expect(polls).toBeLessThan(40);
      await new Promise((resolve) => setTimeout(resolve, 250));
      await scheduledPoll();
      polls++;
      now = await read();
    }
    const sleep = now.steps.find((s) => s.name === 'nap')!;
    expect(Date.parse(sleep.completed_at!)).toBeGreaterThanOrEqual(Date.parse(sleep.wake_at!));

    expect(await call('POST', '/events', { event: 'edge.go', key: 'edge-1', payload: { approved: true } })).toEqual({ status: 202, body: { event: 'edge.go', key: 'edge-1', resumed: 1 } });
    await scheduledPoll();
    const done = await read();
    expect(done).toMatchObject({ status: 'completed', output: { token: mint.output, payload: { approved: true } }, attempts: 1 });
    expect(done.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ['mint', 'completed', 1],
      ['nap', 'completed', 0],
      ['go', 'completed', 0],
      ['finish', 'completed', 1],
    ]);
    // Run by the Worker's poll: its lease was a Worker isolate's.
    expect((await call<{ locked_by: string }>('GET', `/tasks/${id}`)).body.locked_by).toMatch(/^workers:/);
  });
});
