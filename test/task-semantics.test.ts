import { describe, expect, it } from 'vitest';
import { ErrOptimisticLock } from '../lib/foundation/errors.ts';
import { abortableSleep, createHandlerRegistry, type TaskHandler } from '../lib/processing/handlers.ts';
import { createLogger } from '../lib/foundation/log.ts';
import { backoffMs } from '../lib/processing/outcome.ts';
import { processTask, type ProcessDeps } from '../lib/processing/process-task.ts';
import { submitInput, openTestRepo, startRuntime, tempDbUrl, testConfig, waitFor, waitForStatus } from './helpers.ts';

/** Leases, lost races, retries with backoff, timeouts and cancellation (issue 3). */

function deps(repo: ProcessDeps['repo'], handlers: Record<string, TaskHandler>, config: Partial<ProcessDeps['config']> = {}): ProcessDeps {
  const registry = createHandlerRegistry({ simulateMinMs: 0, simulateMaxMs: 0 });
  for (const [type, handler] of Object.entries(handlers)) registry.register(type, handler);
  return { repo, handlers: registry, logger: createLogger('silent'), config: { leaseSeconds: 30, timeoutSeconds: 30, backoffBaseMs: 10, backoffMaxMs: 1000, maxAttempts: 3, ...config } };
}

describe('version checks', () => {
  it('a stale-version transition throws ErrOptimisticLock and changes nothing', async () => {
    const { repo, service, close } = await openTestRepo();
    const { task } = await service.submit(submitInput());
    const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'a', leaseMs: 10_000 });
    await expect(repo.transition({ task, to: 'cancelled' })).rejects.toBeInstanceOf(ErrOptimisticLock);
    expect(await repo.get(task.id)).toEqual(claimed);
    await close();
  });
});

describe('lost lease', () => {
  it('a handler that outlives its lease is taken over; its late completion is rejected by version', async () => {
    const { repo, service, close } = await openTestRepo();
    const { task } = await service.submit(submitInput({ type: 'slow' }));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = deps(repo, { slow: async () => (await gate, 'first') }, { leaseSeconds: 60 });
    const second = deps(repo, { slow: async () => 'second' });

    // Worker A claims with a short lease and stalls (no heartbeat lands before it expires).
    const [claimedByA] = await repo.claimDueTasks({ limit: 1, workerId: 'A', leaseMs: 200 });
    const runA = processTask(first, claimedByA!);
    await new Promise((resolve) => setTimeout(resolve, 300));

    // Worker B finds the expired lease, claims the task again and completes it.
    const [claimedByB] = await repo.claimDueTasks({ limit: 1, workerId: 'B', leaseMs: 10_000 });
    expect(claimedByB).toMatchObject({ id: task.id, attempts: 2, lockedBy: 'B' });
    expect(await processTask(second, claimedByB!)).toBe('completed');

    release();
    expect(await runA).toBe('lost');
    const final = await repo.get(task.id);
    expect(final).toMatchObject({ status: 'completed', result: '"second"', lockedBy: 'B', attempts: 2 });
    await close();
  });

  it('a live handler keeps its lease through heartbeats', async () => {
    const { repo, service, close } = await openTestRepo();
    const { task } = await service.submit(submitInput({ type: 'slow' }));
    const d = deps(repo, { slow: (_t, { signal }) => abortableSleep(2500, signal).then(() => 'done') }, { leaseSeconds: 1 });
    const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'A', leaseMs: 1000 });
    const run = processTask(d, claimed!);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect(await repo.claimDueTasks({ limit: 1, workerId: 'B', leaseMs: 1000 })).toEqual([]);
    expect(await run).toBe('completed');
    const final = await repo.get(task.id);
    expect(final!.version).toBeGreaterThan(4); // claim, heartbeats, completion
    await close();
  });

  it('a task whose worker died on its last attempt fails instead of being claimed forever', async () => {
    const { repo, service, close } = await openTestRepo();
    const { task } = await service.submit(submitInput({ maxAttempts: 1 }));
    await repo.claimDueTasks({ limit: 1, workerId: 'dead', leaseMs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await repo.claimDueTasks({ limit: 1, workerId: 'B', leaseMs: 1000 })).toEqual([]);
    expect(await repo.failExpiredLastAttempts()).toBe(1);
    expect(await repo.get(task.id)).toMatchObject({ status: 'failed', lastError: expect.stringMatching(/lease expired/) });
    await close();
  });
});

describe('retries', () => {
  it('a handler failing twice then succeeding ends completed with attempts 3', async () => {
    let calls = 0;
    const attempts: number[] = [];
    const runtime = await startRuntime({
      env: { TASK_BACKOFF_BASE_MS: '20' },
      handlers: {
        flaky: async (_task, { attempt }) => {
          attempts.push(attempt);
          if (++calls < 3) throw new Error(`boom ${calls}`);
          return { ok: true };
        },
      },
    });
    runtime.start();
    const { task } = await runtime.service.submit(submitInput({ type: 'flaky' }));
    const done = await waitForStatus(runtime.repo, task.id, 'completed', 10_000);
    expect(done.attempts).toBe(3);
    expect(attempts).toEqual([1, 2, 3]);
    expect(JSON.parse(done.result!)).toEqual({ ok: true });
  });

  it('a handler always failing ends failed after max_attempts with last_error, and backoff grows', async () => {
    const starts: number[] = [];
    const runtime = await startRuntime({
      env: { TASK_BACKOFF_BASE_MS: '300' },
      handlers: {
        broken: async () => {
          starts.push(Date.now());
          throw new Error('always broken');
        },
      },
    });
    runtime.start();
    const { task } = await runtime.service.submit(submitInput({ type: 'broken', maxAttempts: 4 }));
    const done = await waitForStatus(runtime.repo, task.id, 'failed', 15_000);
    expect(done).toMatchObject({ attempts: 4, lastError: 'always broken' });
    expect(done.completedAt).not.toBeNull();
    expect(starts).toHaveLength(4);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    // Backoff ceilings 300, 600, 1200 ms, each jittered within its upper half.
    expect(gaps[0]).toBeGreaterThanOrEqual(150);
    expect(gaps[2]!).toBeGreaterThan(gaps[0]!);
    expect(gaps[2]).toBeGreaterThanOrEqual(600);
  });

  it('backoff doubles per attempt, is jittered within the upper half, and is capped', () => {
    expect(backoffMs(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(backoffMs(2, 1000, 60_000, () => 1)).toBe(2000);
    expect(backoffMs(3, 1000, 60_000, () => 0)).toBe(2000);
    expect(backoffMs(20, 1000, 60_000, () => 1)).toBe(60_000);
  });

  it('a result that cannot be serialised is a failed attempt, not a crash', async () => {
    const { repo, service, close } = await openTestRepo();
    await service.submit(submitInput({ type: 'bigint', maxAttempts: 1 }));
    const d = deps(repo, { bigint: async () => 10n });
    const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'A', leaseMs: 1000 });
    expect(await processTask(d, claimed!)).toBe('failed');
    expect((await repo.get(claimed!.id))!.lastError).toMatch(/not JSON-serialisable/);
    await close();
  });
});

describe('timeouts', () => {
  it('aborts the handler signal after TASK_TIMEOUT_SECONDS and counts a failed attempt', async () => {
    let seen: unknown;
    const runtime = await startRuntime({
      env: { TASK_TIMEOUT_SECONDS: '0.2' },
      handlers: {
        hang: (_task, { signal }) =>
          new Promise((_, reject) => signal.addEventListener('abort', () => ((seen = signal.reason), reject(signal.reason)))),
      },
    });
    runtime.start();
    const { task } = await runtime.service.submit(submitInput({ type: 'hang', maxAttempts: 1 }));
    const done = await waitForStatus(runtime.repo, task.id, 'failed', 10_000);
    expect(done.lastError).toMatch(/timed out after 0.2s/);
    expect(seen).toBeInstanceOf(Error);
  });

  it('does not wait for a handler that ignores its signal, but its next attempt waits for its lease to run out', async () => {
    const starts: number[] = [];
    const deaf: TaskHandler = () => (starts.push(Date.now()), new Promise(() => {}));
    const runtime = await startRuntime({
      env: { TASK_TIMEOUT_SECONDS: '0.2', TASK_LEASE_SECONDS: '1', TASK_BACKOFF_BASE_MS: '10', TASK_WORKERS: '1' },
      handlers: { deaf, quick: async () => 'ok' },
    });
    runtime.start();
    const { task } = await runtime.service.submit(submitInput({ type: 'deaf', maxAttempts: 2 }));
    await waitFor(() => starts.length === 1, 5000, 'first attempt');
    const { task: quick } = await runtime.service.submit(submitInput({ type: 'quick' }));
    const done = await waitForStatus(runtime.repo, task.id, 'failed', 10_000);
    expect(done.attempts).toBe(2);
    // The first handler never returned: the second attempt waited for its 1 s lease, while
    // the only worker ran another task.
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(900);
    expect((await runtime.repo.get(quick.id))!.completedAt!).toBeLessThan(starts[1]!);
  });

  it('a handler that returns late after its timeout: the next attempt starts once it has returned, not when its lease ends', async () => {
    const runs: { start: number; end?: number }[] = [];
    const late: TaskHandler = async (_task, { signal }) => {
      const run: { start: number; end?: number } = { start: Date.now() };
      runs.push(run);
      try {
        await abortableSleep(60_000, signal).catch(async (reason: unknown) => {
          await new Promise((resolve) => setTimeout(resolve, 300));
          throw reason;
        });
      } finally {
        run.end = Date.now();
      }
    };
    const runtime = await startRuntime({ env: { TASK_TIMEOUT_SECONDS: '0.2', TASK_LEASE_SECONDS: '30', TASK_BACKOFF_BASE_MS: '10' }, handlers: { late } });
    runtime.start();
    const { task } = await runtime.service.submit(submitInput({ type: 'late', maxAttempts: 2 }));
    await waitForStatus(runtime.repo, task.id, 'failed', 10_000);
    expect(runs).toHaveLength(2);
    expect(runs[1]!.start).toBeGreaterThanOrEqual(runs[0]!.end!);
    expect(runs[1]!.start - runs[0]!.end!).toBeLessThan(5000);
    // On the last attempt the handler again outlived its timeout: the failed task keeps the
    // lease until the handler returns, then its process clears it.
    await waitFor(async () => (await runtime.repo.get(task.id))!.leaseExpiresAt === null, 5000, 'lease cleared');
  });
});

describe('cancel', () => {
  it('a cancelled pending task never runs', async () => {
    let ran = false;
    const runtime = await startRuntime({ handlers: { mark: async () => void (ran = true) } });
    const { task } = await runtime.service.submit(submitInput({ type: 'mark' }));
    await runtime.service.cancel(task.id);
    runtime.start();
    await runtime.poller.poll();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(ran).toBe(false);
    expect((await runtime.repo.get(task.id))!.status).toBe('cancelled');
  });

  it('cancelling a running task aborts its handler in this process and it ends cancelled', async () => {
    let aborted = false;
    let started = false;
    const runtime = await startRuntime({
      handlers: {
        wait: (_task, { signal }) => {
          started = true;
          return abortableSleep(30_000, signal).catch((error) => {
            aborted = signal.aborted;
            throw error;
          });
        },
      },
    });
    runtime.start();
    const { task } = await runtime.service.submit(submitInput({ type: 'wait' }));
    await waitFor(() => started, 5000, 'handler start');
    const cancelled = await runtime.service.cancel(task.id);
    expect(cancelled.status).toBe('cancelled');
    await waitFor(() => aborted, 5000, 'handler aborted');
    await waitFor(() => runtime.pool.counts.cancelled === 1, 5000, 'pool saw the cancel');
    expect((await runtime.repo.get(task.id))!.status).toBe('cancelled');
  });

  it('a cancel from another process reaches the handler at its next heartbeat', async () => {
    const url = tempDbUrl();
    let aborted = false;
    let started = false;
    const worker = await startRuntime({
      config: testConfig({ DATABASE_URL: url, TASK_LEASE_SECONDS: '1' }),
      handlers: {
        wait: (_task, { signal }) => {
          started = true;
          return abortableSleep(30_000, signal).catch((error) => {
            aborted = true;
            throw error;
          });
        },
      },
    });
    const api = await startRuntime({ config: testConfig({ DATABASE_URL: url }), processing: false, handlers: { wait: async () => null } });
    worker.start();
    const { task } = await api.service.submit(submitInput({ type: 'wait' }));
    await waitFor(() => started, 5000, 'handler start');
    await api.service.cancel(task.id);
    await waitFor(() => aborted, 5000, 'handler aborted by heartbeat');
    expect((await api.repo.get(task.id))!.status).toBe('cancelled');
  });

  it('cancelled and retried from another process between two heartbeats: the handler is stopped as cancelled, and the retry runs once it has returned', async () => {
    const url = tempDbUrl();
    const runs: { start: number; end?: number }[] = [];
    const wait: TaskHandler = async (_task, { signal }) => {
      const run: { start: number; end?: number } = { start: Date.now() };
      runs.push(run);
      try {
        await abortableSleep(60_000, signal);
      } finally {
        run.end = Date.now();
      }
    };
    const worker = await startRuntime({ config: testConfig({ DATABASE_URL: url, TASK_LEASE_SECONDS: '3', SHUTDOWN_TIMEOUT_SECONDS: '0' }), handlers: { wait } });
    const api = await startRuntime({ config: testConfig({ DATABASE_URL: url }), processing: false, handlers: { wait: async () => null } });
    worker.start();
    const { task } = await api.service.submit(submitInput({ type: 'wait' }));
    await waitFor(() => runs.length === 1, 5000, 'handler start');
    await api.service.cancel(task.id);
    const retried = await api.service.retry(task.id);
    // Pending, but not due before the running attempt's lease ends.
    expect(retried.runAt).toBe(retried.leaseExpiresAt);
    expect(retried.runAt).toBeGreaterThan(Date.now());
    await waitFor(() => runs.length === 2, 5000, 'the retried run');
    expect(runs[1]!.start).toBeGreaterThanOrEqual(runs[0]!.end!);
    // It did not wait for the lease: the worker reported its handler stopped.
    expect(runs[1]!.start).toBeLessThan(retried.leaseExpiresAt!);
    expect(worker.pool.counts).toMatchObject({ cancelled: 1, lost: 0 });
  });

  it("a cancel between the handler's return and its final write: the result is discarded, the lease cleared", async () => {
    const { repo, service, close } = await openTestRepo();
    const { task } = await service.submit(submitInput({ type: 'x' }));
    const d = deps(repo, { x: async () => (await service.cancel(task.id), 'done') });
    const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'A', leaseMs: 30_000 });
    expect(await processTask(d, claimed!)).toBe('lost');
    await waitFor(async () => (await repo.get(task.id))!.leaseExpiresAt === null, 5000, 'lease cleared');
    expect(await repo.get(task.id)).toMatchObject({ status: 'cancelled', result: null, lockedBy: 'A' });
    await close();
  });

  it('retry moves a failed task back to pending with attempts reset, and it runs again', async () => {
    let fail = true;
    const runtime = await startRuntime({
      handlers: {
        once: async () => {
          if (fail) throw new Error('first time');
          return 'ok';
        },
      },
    });
    runtime.start();
    const { task } = await runtime.service.submit(submitInput({ type: 'once', maxAttempts: 1 }));
    await waitFor(async () => (await runtime.repo.get(task.id))?.status === 'failed', 5000, 'failed');
    fail = false;
    const retried = await runtime.service.retry(task.id);
    expect(retried).toMatchObject({ status: 'pending', attempts: 0 });
    const done = await waitForStatus(runtime.repo, task.id, 'completed', 5000);
    expect(done.attempts).toBe(1);
  });
});
