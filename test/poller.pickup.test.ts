import { afterEach, describe, expect, it } from 'vitest';
import type { SqlDriver } from '../lib/db/driver.ts';
import { ANY_FLOW_PENDING } from '../lib/flow-control/claim.ts';
import { createLogger } from '../lib/foundation/log.ts';
import { Poller } from '../lib/processing/poller.ts';
import { WorkerPool } from '../lib/processing/worker-pool.ts';
import { TaskRepository } from '../lib/tasks/repository.ts';
import { openTestRepo } from './helpers.ts';
import { RecordingDriver } from './support/recording-driver.ts';

/**
 * Pickup after a submit in this process is at most one round trip late (issue 24): a wake that
 * arrives while a claim is in flight is answered by the next claim at once, before the poller
 * looks up when the next delayed task is due. Asserted on the order of statements sent to a
 * real database (a recording wrapper around the test file's driver), not on time.
 */
class Recording extends RecordingDriver {
  readonly sent: string[] = [];
  constructor(inner: SqlDriver) {
    super(inner, (sql) => {
      // Whether a task with a flow key is pending: asked with a claim or nextRunAt now and then
      // (TaskRepository.claimDueTasks), not a step of the order asserted here.
      if (sql === ANY_FLOW_PENDING) return;
      this.sent.push(/^\s*WITH RECURSIVE[\s\S]*UPDATE tasks/.test(sql) ? 'claim' : /AS run_at/.test(sql) ? 'nextRunAt' : 'other');
    });
  }
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('Poller: pickup after a wake during a claim', () => {
  it('claims again first, and looks for the next due time only after a claim that no wake followed', async () => {
    const store = await openTestRepo();
    cleanups.push(() => store.close());
    const driver = new Recording(store.driver);
    const logger = createLogger('silent');
    const pool = new WorkerPool({ workers: 1, queueSize: 1, run: async () => 'completed', logger });
    const poller = new Poller({ repo: new TaskRepository(driver), pool, workerId: 'w', batchSize: 1, leaseMs: 30_000, logger });
    poller.start(3_600_000);
    cleanups.push(() => poller.stop());
    await poller.poll(); // the start-up poll (and its wake) done
    driver.sent.length = 0;

    const first = poller.poll();
    void poller.poll(); // a wake while the first claim is in flight
    await first;
    expect(driver.sent.slice(0, 3)).toEqual(['claim', 'claim', 'nextRunAt']);
  });
});
