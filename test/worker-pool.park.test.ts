import { describe, expect, it } from 'vitest';
import { createLogger } from '../lib/foundation/log.ts';
import type { RunTask } from '../lib/processing/worker-pool.ts';
import { WorkerPool } from '../lib/processing/worker-pool.ts';
import { buildTask } from '../lib/tasks/model.ts';
import { withId, type Task } from '../lib/tasks/model.ts';

/**
 * `control.park` (a handler's `waitWithoutWorker`): the worker is lent out while the task
 * waits, the task comes back ahead of queued tasks, and handlers on workers never exceed
 * `workers`. Pure pool logic: the run function stands in for processTask, driven by promises
 * the test resolves.
 */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

let nextId = 1;
/** A task as the pool gets it (ids as the insert would give them). */
const task = (title: string): Task => withId(buildTask({ title, description: 'd', type: 'simulate' }, { now: Date.now(), maxAttempts: 3 }), nextId++);
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('WorkerPool: parked handlers', () => {
  it('lends the worker while parked and resumes the parked task before queued ones', async () => {
    const events: string[] = [];
    const hostFree = deferred();
    const bDone = deferred();
    let onWorkers = 0;
    let peak = 0;
    const run: RunTask = async (t, control) => {
      onWorkers++;
      peak = Math.max(peak, onWorkers);
      events.push(`${t.title} start`);
      if (t.title === 'A') {
        onWorkers--;
        await control.park(hostFree.promise);
        onWorkers++;
        peak = Math.max(peak, onWorkers);
        events.push('A resumed');
      }
      if (t.title === 'B') await bDone.promise;
      events.push(`${t.title} done`);
      onWorkers--;
      control.handlerDone();
      return 'completed';
    };
    const pool = new WorkerPool({ workers: 1, queueSize: 5, run, logger: createLogger('silent') });
    pool.push([task('A'), task('B'), task('C')]);
    await tick();
    // A parked: its worker runs B; C waits in the queue.
    expect(events).toEqual(['A start', 'B start']);
    expect(pool.running).toBe(1);
    expect(pool.freeCapacity()).toBe(1 + 5 - 3); // parked A still counts: memory stays bounded

    hostFree.resolve(); // A may go on, but the one worker is B's
    await tick();
    expect(events).toEqual(['A start', 'B start']);

    bDone.resolve(); // B frees the worker: A takes it, not C
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(events).toEqual(['A start', 'B start', 'B done', 'A resumed', 'A done', 'C start', 'C done']);
    expect(peak).toBe(1);
    expect(pool.running).toBe(0);
    expect(pool.idle).toBe(true);
  });

  it('a task stopped while parked gives back nothing it does not hold', async () => {
    const wait = deferred();
    const started: string[] = [];
    const run: RunTask = async (t, control) => {
      started.push(t.title);
      if (t.title === 'A') {
        const parked = control.park(wait.promise);
        control.handlerDone(); // stopped (cancel, timeout) while parked: processTask moves on
        await parked;
        return 'cancelled';
      }
      control.handlerDone();
      return 'completed';
    };
    const pool = new WorkerPool({ workers: 1, queueSize: 5, run, logger: createLogger('silent') });
    pool.push([task('A'), task('B'), task('C')]);
    await tick();
    expect(started).toEqual(['A', 'B', 'C']);
    expect(pool.running).toBe(0);
    wait.resolve();
    await tick();
    expect(pool.running).toBe(0);
    pool.push([task('D'), task('E')]);
    await tick();
    expect(started).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(pool.peakRunning).toBe(1);
    expect(pool.idle).toBe(true);
  });
});
