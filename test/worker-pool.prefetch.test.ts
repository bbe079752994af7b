import { describe, expect, it } from 'vitest';
import { createLogger } from '../lib/foundation/log.ts';
import type { RunTask } from '../lib/processing/worker-pool.ts';
import { WorkerPool } from '../lib/processing/worker-pool.ts';
import { buildTask, withId, type Task } from '../lib/tasks/model.ts';
import { formatTaskId } from '../lib/tasks/ids.ts';
import { openTestRepo, startRuntime, submitInput, waitFor } from './helpers.ts';

/**
 * Prefetch (issue 24): a task whose handler has stopped and whose final write has not committed
 * yet holds no slot, so the poller claims the next batch while that commit is on its way; the
 * bound on memory moves to twice workers + queue, and what was claimed but not started is
 * still handed back at shutdown. The pool part is pure logic (the run function stands in for
 * processTask, its "commit" a promise the test resolves); the shutdown part runs a runtime.
 */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

let nextId = 1;
const task = (): Task => withId(buildTask({ title: 't', description: 'd', type: 'simulate' }, { now: Date.now(), maxAttempts: 3 }), nextId++);
const tasks = (n: number) => Array.from({ length: n }, task);
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('WorkerPool: prefetch while final writes commit', () => {
  it('frees the slot of a task waiting for its write, up to workers + queue of them, and waits for them at drain', async () => {
    const commit = deferred();
    let started = 0;
    const run: RunTask = async (_t, control) => {
      started++;
      control.handlerDone(); // the handler returned; the final write is pending
      await commit.promise;
      return 'completed';
    };
    const pool = new WorkerPool({ workers: 2, queueSize: 2, run, logger: createLogger('silent') });
    pool.push(tasks(4));
    await tick();
    expect(started).toBe(4);
    expect(pool.idle).toBe(false);
    // Four writes pending: every slot is free for the next claim.
    expect(pool.freeCapacity()).toBe(4);
    pool.push(tasks(4));
    await tick();
    expect(started).toBe(8);
    // Eight pending, four more than workers + queue: those count again.
    expect(pool.freeCapacity()).toBe(0);
    expect(() => pool.push(tasks(1))).toThrow(/pool overflow/);

    let drained = false;
    const drain = pool.drain(60_000).then((unstarted) => ((drained = true), unstarted));
    await tick();
    expect(drained).toBe(false); // a drain waits for pending writes too
    commit.resolve();
    expect(await drain).toEqual([]);
    expect(pool.counts.completed).toBe(8);
    expect(pool.idle).toBe(true);
  });

  it('counts a task waiting for a write that never started its handler (the run failed) as nothing', async () => {
    const run: RunTask = async () => {
      throw new Error('no handler');
    };
    const pool = new WorkerPool({ workers: 1, queueSize: 1, run, logger: createLogger('silent') });
    pool.push(tasks(2));
    await waitFor(() => pool.idle, 1000, 'both runs ended');
    expect(pool.freeCapacity()).toBe(2);
  });
});

describe('prefetched tasks at shutdown', () => {
  it('hands back every claimed task that never started: claimed = completed + released, none left in progress', async () => {
    const gate = deferred();
    let started = 0;
    const runtime = await startRuntime({
      env: { TASK_WORKERS: '2', TASK_QUEUE_SIZE: '6', TASK_POLL_BATCH_SIZE: '4', SHUTDOWN_TIMEOUT_SECONDS: '60' },
      handlers: {
        quick: async () => null,
        held: async () => {
          started++;
          await gate.promise;
          return null;
        },
      },
    });
    // Quick tasks first (claim order is by id within a priority): their writes free slots while
    // the poller prefetches the held ones behind them.
    for (let i = 0; i < 8; i++) await runtime.service.submit(submitInput({ type: 'quick' }));
    for (let i = 0; i < 20; i++) await runtime.service.submit(submitInput({ type: 'held' }));
    runtime.start();
    await waitFor(() => started === 2 && runtime.pool.queued === 6, 10_000, 'two held running, six prefetched');
    const shutdown = runtime.shutdown();
    await waitFor(() => runtime.pool.queued === 0, 10_000, 'the queue handed back');
    gate.resolve();
    await shutdown;

    const { repo, close } = await openTestRepo(runtime.config.databaseUrl);
    try {
      const { counts } = await repo.stats();
      expect(counts).toMatchObject({ in_progress: 0, completed: 10, pending: 18 });
      expect(runtime.poller.claimed).toBe(runtime.pool.counts.completed + 6);
      const pending = await repo.list({ status: 'pending', limit: 100 });
      // Released tasks got their attempt back; the six that were claimed are among them.
      expect(pending.map((t) => t.attempts)).toEqual(Array(18).fill(0));
      expect(pending.every((t) => t.type === 'held')).toBe(true);
      expect(new Set(pending.map((t) => formatTaskId(t.id))).size).toBe(18);
    } finally {
      await close();
    }
  });
});
