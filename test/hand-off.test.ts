import { describe, expect, it, onTestFinished } from 'vitest';
import { formatTaskId } from '../lib/tasks/ids.ts';
import { TaskRepository } from '../lib/tasks/repository.ts';
import { sqldAvailable, useSqld } from './sqld.ts';
import { startRuntime, submitInput, waitFor, waitForStatus } from './helpers.ts';

/**
 * A submit into a process with an idle worker inserts its task already claimed by that worker
 * (lib/processing/poller.ts `reserve`, lib/tasks/service.ts): it runs when its insert is
 * answered, with no claim statement after it. Everything else (a busy pool, a paused type, a
 * delay, an idempotency or flow key) inserts it pending as before; a shutdown while such an
 * insert is on its way releases the task rather than leaving it leased.
 */
function countClaims(): { readonly count: number } {
  const original = TaskRepository.prototype.claimDueTasks;
  const counter = { count: 0 };
  TaskRepository.prototype.claimDueTasks = function (this: TaskRepository, options) {
    counter.count++;
    return original.call(this, options);
  };
  onTestFinished(() => void (TaskRepository.prototype.claimDueTasks = original));
  return counter;
}

/** A runtime whose `gate` handler waits until `open()`; `ran` counts starts per task id. */
async function gatedRuntime(env: Record<string, string> = {}) {
  const ran = new Map<string, number>();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const runtime = await startRuntime({
    env: { TASK_WORKERS: '2', TASK_POLL_INTERVAL_SECONDS: '30', ...env },
    handlers: {
      quick: async (task) => void ran.set(task.id, (ran.get(task.id) ?? 0) + 1),
      gate: async (task) => {
        ran.set(task.id, (ran.get(task.id) ?? 0) + 1);
        await gate;
      },
    },
  });
  runtime.start();
  // The first poll (at start) comes back empty: from then on the process is idle.
  await waitFor(() => runtime.poller.polls >= 1 && !runtime.poller.polling, 5_000, 'the first poll');
  return { runtime, ran, open };
}

describe('a submit handed to an idle worker of its process', () => {
  it('is inserted in progress, leased to this process, and runs once with no claim', async () => {
    const { runtime, ran } = await gatedRuntime();
    const claims = countClaims();
    const { task } = await runtime.service.submit(submitInput({ type: 'quick' }));
    expect(task).toMatchObject({ status: 'in_progress', attempts: 1, lockedBy: runtime.workerId, version: 2 });
    expect(task.leaseExpiresAt).toBeGreaterThan(Date.now());
    const done = await waitForStatus(runtime.repo, task.id, 'completed');
    expect(done.attempts).toBe(1);
    expect(ran.get(formatTaskId(task.id))).toBe(1);
    expect(claims.count).toBe(0);
    // The row as stored matches what the submit answered.
    expect(runtime.poller.claimed).toBeGreaterThanOrEqual(1);
  });

  it('not while every worker is busy: the task is inserted pending and claimed when one frees', async () => {
    const { runtime, ran, open } = await gatedRuntime();
    const busy = [await runtime.service.submit(submitInput({ type: 'gate' })), await runtime.service.submit(submitInput({ type: 'gate' }))];
    expect(busy.map((r) => r.task.status)).toEqual(['in_progress', 'in_progress']);
    await waitFor(() => runtime.pool.running === 2, 5_000, 'both workers busy');
    const { task } = await runtime.service.submit(submitInput({ type: 'quick' }));
    expect(task.status).toBe('pending');
    open();
    await waitForStatus(runtime.repo, task.id, 'completed');
    expect([...ran.values()].every((n) => n === 1)).toBe(true);
  });

  it('not for a paused type, a delayed task, an idempotency key or a flow key', async () => {
    const { runtime } = await gatedRuntime();
    await runtime.service.pauseType('quick');
    const paused = (await runtime.service.submit(submitInput({ type: 'quick' }))).task;
    expect(paused.status).toBe('pending');
    const delayed = (await runtime.service.submit(submitInput({ type: 'other', delaySeconds: 60 }))).task;
    const keyed = (await runtime.service.submit(submitInput({ type: 'other' }), 'key-1')).task;
    const flow = (await runtime.service.submit(submitInput({ type: 'other', runAt: Date.now() + 60_000, flowControl: { key: 'k', parallelism: 1 } }))).task;
    for (const task of [delayed, keyed, flow]) expect(task.status).toBe('pending');
    expect((await runtime.repo.get(paused.id))?.status).toBe('pending');
    await runtime.service.resumeType('quick');
    await waitForStatus(runtime.repo, paused.id, 'completed');
  });

  it('a shutdown while such an insert is on its way releases the task: pending, no lease', async () => {
    const { runtime } = await gatedRuntime({ SHUTDOWN_TIMEOUT_SECONDS: '5' });
    const submitted = runtime.service.submit(submitInput({ type: 'quick' }));
    const stopped = runtime.shutdown();
    const { task } = await submitted;
    expect(task.status).toBe('in_progress');
    await stopped;
    // The runtime closed its database: read the row through a fresh one.
    const after = await startRuntime({ config: runtime.config });
    const row = await after.repo.get(task.id);
    // The reservation was made when submit() was called, before the shutdown; the task came
    // back claimed after the poller had stopped, and was released with the pool's leftovers.
    expect(row).toMatchObject({ status: 'pending', leaseExpiresAt: null });
  });
});

const available = await sqldAvailable();

describe.skipIf(!available)('handed to an idle worker, on sqld over the WebSocket', () => {
  const sqld = useSqld();

  it('runs once with no claim; every task of a trickle completes once', async () => {
    await sqld.reset();
    const { runtime, ran } = await gatedRuntime({ DATABASE_URL: sqld.url });
    const claims = countClaims();
    const first = (await runtime.service.submit(submitInput({ type: 'quick' }))).task;
    expect(first.status).toBe('in_progress');
    await waitForStatus(runtime.repo, first.id, 'completed');
    expect(claims.count).toBe(0);
    const ids = [];
    for (let i = 0; i < 50; i++) ids.push((await runtime.service.submit(submitInput({ type: 'quick' }))).task.id);
    await waitFor(async () => (await runtime.repo.stats()).counts.completed === 51, 10_000, 'all completed');
    expect(ids.every((id) => ran.get(formatTaskId(id)) === 1)).toBe(true);
  });
});
