import { fileURLToPath } from 'node:url';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunDetailJson } from '../lib/workflows/service.ts';
import { startWorkerd, useWorkersEntry } from './bundles.ts';
import { workflows } from './fixtures/edge-workflows.ts';
import { startRuntime } from './helpers.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * A workflow in the Workers bundle, in real workerd against a real sqld: a step, a 2 s sleep
 * and a wait for an event, carried across several cron-triggered polls (`scheduled()`), each
 * an invocation that ends when nothing is due. The entry is test/fixtures/workers-with-
 * workflows.ts, built like the real one. The run is started and the event sent by a
 * WorkflowService in the test process on the same sqld (what the workflow routes do).
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

  it('a step, a 2 s sleep and an event: completed across scheduled polls, the step run once', async () => {
    const client = await startRuntime({ workflows, processing: false, env: { DATABASE_URL: sqld.url } });
    const { run } = await client.workflows.startRun('edge-flow', { input: { key: 'edge-1' } });
    const read = () => client.workflows.getRun(run.id);

    // First poll: the step runs, the sleep sets the run aside, and the poll ends.
    await scheduledPoll();
    let now: RunDetailJson = await read();
    expect(now.status).toBe('pending');
    expect(now.waiting_for).toEqual([expect.objectContaining({ kind: 'sleep', step: 'nap' })]);
    const mint = now.steps!.find((s) => s.name === 'mint')!;
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
    const sleep = now.steps!.find((s) => s.name === 'nap')!;
    expect(Date.parse(sleep.completed_at!)).toBeGreaterThanOrEqual(Date.parse(sleep.wake_at!));

    expect(await client.workflows.sendEvent('edge.go', 'edge-1', { approved: true })).toMatchObject({ resumed: 1 });
    await scheduledPoll();
    const done = await read();
    expect(done).toMatchObject({ status: 'completed', output: { token: mint.output, payload: { approved: true } }, attempts: 1 });
    // Run by the Worker's poll, not by anything in this process.
    expect((await client.service.get(run.id)).lockedBy).toMatch(/^workers:/);
    expect(done.steps!.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ['mint', 'completed', 1],
      ['nap', 'completed', 0],
      ['go', 'completed', 0],
      ['finish', 'completed', 1],
    ]);
  });
});
