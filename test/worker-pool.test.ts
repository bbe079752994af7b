import { describe, expect, it } from 'vitest';
import { abortableSleep, type TaskHandler } from '../lib/processing/handlers.ts';
import { formatTaskId } from '../lib/tasks/ids.ts';
import type { WorkerPool } from '../lib/processing/worker-pool.ts';
import { submitInput, openTestRepo, startRuntime, waitFor, waitForStatus } from './helpers.ts';

/**
 * The local pool and poller: concurrency and queue bounds, wake-ups, draining a backlog,
 * shutdown. Everything is asserted on events (handlers starting, held until the test lets
 * them go; counts in the pool and the database), never on how long something took: speed is
 * measured by the bench (bench/README.md).
 */

/**
 * A handler that records each start and then waits until the test opens the gate (or the
 * task is aborted). While the gate is shut, what is running and queued stands still.
 */
function gated() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const started: string[] = [];
  /** pool.queued seen as each handler starts: the queue is never longer than its bound. */
  const queuedAtStart: number[] = [];
  let running = 0;
  let peak = 0;
  let pool: WorkerPool | undefined;
  const handler: TaskHandler = async (task, { signal }) => {
    running++;
    peak = Math.max(peak, running);
    started.push(task.id);
    try {
      // Read once the pool.push() that started this handler has returned: push() appends the
      // whole claim to the queue and then hands tasks to workers, all in one synchronous call,
      // so the queue is longer only inside that call (where no timer or test can observe it).
      await null;
      if (pool) queuedAtStart.push(pool.queued);
      await new Promise<void>((resolve, reject) => {
        void opened.then(resolve);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    } finally {
      running--;
    }
    return null;
  };
  return {
    handler,
    started,
    queuedAtStart,
    peak: () => peak,
    watch: (p: WorkerPool) => void (pool = p),
    open: () => open(),
  };
}

describe('WorkerPool + Poller', () => {
  it('never runs more than TASK_WORKERS handlers nor holds more than TASK_QUEUE_SIZE waiting', async () => {
    const gate = gated();
    const runtime = await startRuntime({
      env: { TASK_WORKERS: '3', TASK_QUEUE_SIZE: '2', TASK_POLL_BATCH_SIZE: '50' },
      handlers: { track: gate.handler },
    });
    gate.watch(runtime.pool);
    for (let i = 0; i < 40; i++) await runtime.service.submit(submitInput({ type: 'track' }));
    runtime.start();
    // With every handler held: the pool fills to 3 running + 2 queued, and that is all that is
    // claimed in the database, however many polls happen meanwhile.
    await waitFor(() => runtime.pool.queued === 2, 10_000, 'the queue to fill');
    await waitFor(async () => (await runtime.repo.stats()).counts.in_progress === 5, 10_000, 'five claimed');
    expect(gate.started).toHaveLength(3);
    expect(runtime.pool.running).toBe(3);
    expect(runtime.pool.freeCapacity()).toBe(0);
    // A poll now (as a submit or the timer would start) claims nothing more.
    const claimed = runtime.poller.claimed;
    await runtime.poller.poll();
    expect(runtime.poller.claimed).toBe(claimed);
    expect((await runtime.repo.stats()).counts.in_progress).toBe(5);
    expect(gate.started).toHaveLength(3);

    gate.open();
    await waitFor(async () => (await runtime.repo.stats()).counts.completed === 40, 20_000, 'all completed');
    expect(new Set(gate.started).size).toBe(40);
    expect(gate.peak()).toBe(3);
    expect(runtime.pool.peakRunning).toBe(3);
    expect(gate.queuedAtStart).toHaveLength(40);
    expect(Math.max(...gate.queuedAtStart)).toBeLessThanOrEqual(2);
    expect((await runtime.repo.stats()).counts.in_progress).toBe(0);
  });

  it('picks up a submit at once, without waiting for the poll interval', async () => {
    const runtime = await startRuntime({ env: { TASK_POLL_INTERVAL_SECONDS: '3600' } });
    runtime.start();
    await waitFor(() => runtime.poller.polls >= 1, 10_000, 'the start-up poll');
    const { task } = await runtime.service.submit(submitInput());
    // The interval timer cannot fire within this wait: only the submit's wake-up can run it.
    await waitForStatus(runtime.repo, task.id, 'completed', 30_000);
  });

  it('drains a backlog larger than the batch size without waiting an interval per batch', async () => {
    const runtime = await startRuntime({ env: { TASK_POLL_INTERVAL_SECONDS: '3600', TASK_POLL_BATCH_SIZE: '5', TASK_WORKERS: '4', TASK_QUEUE_SIZE: '4' } });
    const { repo } = runtime;
    for (let i = 0; i < 100; i++) await runtime.service.submit(submitInput());
    runtime.start();
    // At least 20 claims of 5, and the hourly timer cannot fire within this wait.
    await waitFor(async () => (await repo.stats()).counts.completed === 100, 30_000, 'backlog drained');
    expect(runtime.poller.claimed).toBe(100);
    expect(runtime.poller.polls).toBeGreaterThanOrEqual(20);
  });

  it('wakes for a delayed task when it is due, not an interval later, and not before', async () => {
    const runtime = await startRuntime({ env: { TASK_POLL_INTERVAL_SECONDS: '3600' } });
    runtime.start();
    const { task } = await runtime.service.submit(submitInput({ delaySeconds: 1 }));
    expect(task.runAt).toBeGreaterThan(task.createdAt);
    // Only the wake-up set for run_at can start it: the hourly timer cannot fire in this wait.
    const done = await waitForStatus(runtime.repo, task.id, 'completed', 30_000);
    // The claim only takes tasks whose run_at has come.
    expect(done.startedAt!).toBeGreaterThanOrEqual(task.runAt);
  });

  it('runs due tasks by priority, then run_at, with one worker', async () => {
    const order: string[] = [];
    const runtime = await startRuntime({
      env: { TASK_WORKERS: '1', TASK_QUEUE_SIZE: '0', TASK_POLL_BATCH_SIZE: '1' },
      handlers: { rec: async (task) => void order.push(task.title) },
    });
    const past = Date.now() - 10_000;
    await runtime.service.submit(submitInput({ type: 'rec', title: 'low-old', priority: 0, runAt: past }));
    await runtime.service.submit(submitInput({ type: 'rec', title: 'high', priority: 10 }));
    await runtime.service.submit(submitInput({ type: 'rec', title: 'low-new', priority: 0 }));
    await runtime.service.submit(submitInput({ type: 'rec', title: 'mid', priority: 5 }));
    runtime.start();
    await waitFor(() => order.length === 4, 5000, 'four runs');
    expect(order).toEqual(['high', 'mid', 'low-old', 'low-new']);
  });

  it('releases queued-but-unstarted tasks at shutdown and lets running ones finish', async () => {
    const gate = gated();
    const runtime = await startRuntime({
      env: { TASK_WORKERS: '2', TASK_QUEUE_SIZE: '5', TASK_POLL_BATCH_SIZE: '10', SHUTDOWN_TIMEOUT_SECONDS: '60' },
      handlers: { track: gate.handler },
    });
    for (let i = 0; i < 10; i++) await runtime.service.submit(submitInput({ type: 'track' }));
    runtime.start();
    await waitFor(() => gate.started.length === 2 && runtime.pool.queued === 5, 10_000, 'two running, five queued');
    const shutdown = runtime.shutdown();
    // The drain takes the queue at once, while both handlers are still held.
    await waitFor(() => runtime.pool.queued === 0, 10_000, 'the queue handed back');
    expect(runtime.pool.running).toBe(2);
    expect(runtime.pool.freeCapacity()).toBe(0);
    gate.open();
    await shutdown;
    expect(gate.started).toHaveLength(2);

    const { repo, close } = await openTestRepo(runtime.config.databaseUrl);
    try {
      const stats = await repo.stats();
      expect(stats.counts).toMatchObject({ in_progress: 0, completed: 2, pending: 8 });
      const completed = (await repo.list({ status: 'completed', limit: 100 })).map((task) => formatTaskId(task.id));
      expect(completed.sort()).toEqual([...gate.started].sort());
      // Released tasks got their attempt back: a release is not a failed attempt.
      const released = (await repo.list({ status: 'pending', limit: 100 })).map((task) => task.attempts);
      expect(released).toEqual(Array(8).fill(0));
    } finally {
      await close();
    }
  });

  it('at shutdown, a handler that ignores its abort leaves its task pending until its lease ends; one that stops leaves it due at once', async () => {
    let deafStarted = false;
    let politeStarted = false;
    const runtime = await startRuntime({
      env: { TASK_WORKERS: '2', SHUTDOWN_TIMEOUT_SECONDS: '0.1', TASK_LEASE_SECONDS: '30' },
      handlers: {
        deaf: () => ((deafStarted = true), new Promise(() => {})),
        polite: (_task, { signal }) => ((politeStarted = true), abortableSleep(60_000, signal)),
      },
    });
    const { task: deaf } = await runtime.service.submit(submitInput({ type: 'deaf' }));
    const { task: polite } = await runtime.service.submit(submitInput({ type: 'polite' }));
    runtime.start();
    await waitFor(() => deafStarted && politeStarted, 5000, 'both running');
    const stopping = Date.now();
    await runtime.shutdown();
    // The deaf handler got a short grace after the abort, not its lease.
    expect(Date.now() - stopping).toBeLessThan(5000);

    const { repo, close } = await openTestRepo(runtime.config.databaseUrl);
    try {
      const kept = (await repo.get(deaf.id))!;
      expect(kept).toMatchObject({ status: 'pending', attempts: 0, startedAt: null });
      expect(kept.leaseExpiresAt).toBeGreaterThan(Date.now());
      expect(kept.runAt).toBe(kept.leaseExpiresAt);
      const released = (await repo.get(polite.id))!;
      expect(released).toMatchObject({ status: 'pending', attempts: 0, leaseExpiresAt: null });
      expect(released.runAt).toBeLessThanOrEqual(Date.now());
    } finally {
      await close();
    }
  });
});
