import { describe, expect, it } from 'vitest';
import { createHandlerRegistry, abortableSleep } from '../lib/processing/handlers.ts';
import { createLogger } from '../lib/foundation/log.ts';
import { deadlinePoll } from '../lib/processing/deadline-poll.ts';
import { TaskRepository, type ClaimOptions } from '../lib/tasks/repository.ts';
import type { Task } from '../lib/tasks/model.ts';
import { submitInput, openTestRepo, testConfig } from './helpers.ts';

/** The database answers the first claim, then fails: a network blip to a remote libSQL. */
class FailingClaims extends TaskRepository {
  claims = 0;
  override async claimDueTasks(options: ClaimOptions): Promise<Task[]> {
    if (++this.claims > 1) throw new Error('connection reset by peer');
    return super.claimDueTasks(options);
  }
}

describe('deadlinePoll when a claim fails', () => {
  it('rejects only after the handlers it started have finished and written their outcome', async () => {
    const { driver, service, close } = await openTestRepo();
    try {
      for (let i = 0; i < 4; i++) await service.submit(submitInput({ type: 'slow' }));
      const repo = new FailingClaims(driver);
      const handlers = createHandlerRegistry({ simulateMinMs: 0, simulateMaxMs: 0 }).register('slow', async (_task, { signal }) => {
        await abortableSleep(150, signal);
        return 'done';
      });
      const poll = deadlinePoll(
        { repo, handlers, config: testConfig(), logger: createLogger('silent') },
        { workerId: 'w', concurrency: 2, batchSize: 2, budgetMs: 5000, leaseMs: 30_000 },
      );
      await expect(poll).rejects.toThrow('connection reset by peer');
      // Nothing it claimed is left in_progress for a lease to expire: the two claimed ran to the end.
      expect((await repo.stats()).counts).toMatchObject({ completed: 2, in_progress: 0, pending: 2 });
    } finally {
      await close();
    }
  });
});
