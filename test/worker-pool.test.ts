import { describe, expect, it } from 'vitest';
import { abortableSleep, type TaskHandler } from '../lib/processing/handlers.ts';
import { newTask, openTestRepo, startRuntime, waitFor, waitForStatus } from './helpers.ts';

/** The local pool and poller: concurrency and queue bounds, wake-ups, draining a backlog. */

function tracker(ms: number) {
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const handler: TaskHandler = async (_task, { signal }) => {
    running++;
    peak = Math.max(peak, running);
    started.push(Date.now());
    try {
      await abortableSleep(ms, signal);
    } finally {
      running--;
    }
    return null;
  };
  return { handler, peak: () => peak, started };
}

describe('WorkerPool + Poller', () => {
  it('never runs more than TASK_WORKERS handlers nor holds more than TASK_QUEUE_SIZE waiting', async () => {
    const t = tracker(30);
    const runtime = await startRuntime({
      env: { TASK_WORKERS: '3', TASK_QUEUE_SIZE: '2', TASK_POLL_BATCH_SIZE: '50' },
      handlers: { track: t.handler },
    });
    for (let i = 0; i < 40; i++) await runtime.service.submit(newTask({ type: 'track' }));
    let maxQueued = 0;
    const sampler = setInterval(() => (maxQueued = Math.max(maxQueued, runtime.pool.queued)), 1);
    runtime.start();
    await waitFor(async () => (await runtime.repo.stats()).counts.completed === 40, 20_000, 'all completed');
    clearInterval(sampler);
    expect(t.peak()).toBe(3);
    expect(runtime.pool.peakRunning).toBe(3);
    expect(maxQueued).toBeLessThanOrEqual(2);
    // Claimed in the database never exceeds what the pool can hold.
    expect((await runtime.repo.stats()).counts.in_progress).toBe(0);
  });

  it('picks up a submit at once, without waiting for the poll interval', async () => {
    const runtime = await startRuntime({ env: { TASK_POLL_INTERVAL_SECONDS: '60' } });
    runtime.start();
    await new Promise((resolve) => setTimeout(resolve, 100)); // the start-up poll is done
    const { task } = await runtime.service.submit(newTask());
    const done = await waitForStatus(runtime.repo, task.id, 'completed', 5_000);
    expect(done.startedAt! - task.createdAt).toBeLessThan(1000);
  });

  it('drains a backlog larger than the batch size without waiting an interval per batch', async () => {
    const runtime = await startRuntime({ env: { TASK_POLL_INTERVAL_SECONDS: '60', TASK_POLL_BATCH_SIZE: '5', TASK_WORKERS: '4', TASK_QUEUE_SIZE: '4' } });
    const { repo } = runtime;
    for (let i = 0; i < 100; i++) await runtime.service.submit(newTask());
    runtime.start();
    // 20 batches at one interval each would take 20 minutes.
    await waitFor(async () => (await repo.stats()).counts.completed === 100, 15_000, 'backlog drained');
  });

  it('wakes for a delayed task when it is due, not an interval later', async () => {
    const runtime = await startRuntime({ env: { TASK_POLL_INTERVAL_SECONDS: '60' } });
    runtime.start();
    const { task } = await runtime.service.submit(newTask({ delaySeconds: 2 }));
    const done = await waitForStatus(runtime.repo, task.id, 'completed', 10_000);
    expect(done.startedAt! - task.createdAt).toBeGreaterThanOrEqual(2000);
    expect(done.startedAt! - task.createdAt).toBeLessThan(6000);
  });

  it('runs due tasks by priority, then run_at, with one worker', async () => {
    const order: string[] = [];
    const runtime = await startRuntime({
      env: { TASK_WORKERS: '1', TASK_QUEUE_SIZE: '0', TASK_POLL_BATCH_SIZE: '1' },
      handlers: { rec: async (task) => void order.push(task.title) },
    });
    const past = Date.now() - 10_000;
    await runtime.service.submit(newTask({ type: 'rec', title: 'low-old', priority: 0, runAt: past }));
    await runtime.service.submit(newTask({ type: 'rec', title: 'high', priority: 10 }));
    await runtime.service.submit(newTask({ type: 'rec', title: 'low-new', priority: 0 }));
    await runtime.service.submit(newTask({ type: 'rec', title: 'mid', priority: 5 }));
    runtime.start();
    await waitFor(() => order.length === 4, 5000, 'four runs');
    expect(order).toEqual(['high', 'mid', 'low-old', 'low-new']);
  });

  it('releases queued-but-unstarted tasks at shutdown and lets running ones finish', async () => {
    const t = tracker(300);
    const runtime = await startRuntime({
      env: { TASK_WORKERS: '2', TASK_QUEUE_SIZE: '5', TASK_POLL_BATCH_SIZE: '10', SHUTDOWN_TIMEOUT_SECONDS: '5' },
      handlers: { track: t.handler },
    });
    for (let i = 0; i < 10; i++) await runtime.service.submit(newTask({ type: 'track' }));
    runtime.start();
    await waitFor(() => t.started.length === 2, 5000, 'two running');
    await runtime.shutdown();
    const { repo, close } = await openTestRepo(runtime.config.databaseUrl);
    const stats = await repo.stats();
    expect(stats.counts.in_progress).toBe(0);
    expect(stats.counts.completed).toBe(2);
    expect(stats.counts.pending).toBe(8);
    const released = (await repo.list({ status: 'pending', limit: 100 })).map((task) => task.attempts);
    expect(released.every((a) => a === 0)).toBe(true);
    await close();
  });
});
