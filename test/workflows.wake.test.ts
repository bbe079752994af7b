import { describe, expect, it } from 'vitest';
import { WorkflowRepository } from '../lib/workflows/repository.ts';
import { openTestRepo, submitInput } from './helpers.ts';

/**
 * The two wake-ups of a waiting workflow run, an event (WorkflowRepository.sendEvent) and its
 * child's end (the trigger of migrations 0006/0009), make it due at once, but not before a
 * lease its last attempt still holds: a run cancelled while its handler ran and retried at
 * once waits for that attempt like any task (docs/architecture.md, "Never two attempts of a
 * task at once").
 */

describe('waking a waiting workflow run', () => {
  it('an event or a child run ending wakes a waiting run at once, but not before the lease of an attempt that may still run', async () => {
    const { driver, repo, service, close } = await openTestRepo();
    try {
      const workflows = new WorkflowRepository(driver);
      const now = Date.now();
      const later = now + 3_600_000;
      const submit = async (runAt?: number) => (await service.submit(submitInput({ type: 'workflow:wake', runAt }))).task;
      const waitOn = (runId: number, childRunId: number) =>
        driver.run(
          `INSERT INTO workflow_steps (run_id, name, kind, status, started_at, event, event_key, child_run_id) VALUES
            (?, 'event', 'wait', 'waiting', ?, 'go', NULL, NULL), (?, 'child', 'invoke', 'waiting', ?, NULL, NULL, ?)`,
          [runId, now, runId, now, childRunId],
        );

      // A run cancelled while running and retried at once, waiting on an event and a child.
      const held = await submit();
      const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 60_000 });
      expect(claimed!.id).toBe(held.id);
      const heldChild = await submit(later);
      await waitOn(held.id, heldChild.id);
      await service.cancel(held.id);
      const lease = (await service.retry(held.id)).runAt;
      expect(lease).toBe(claimed!.leaseExpiresAt);

      // A run suspended until later on the same event and another child.
      const asleep = await submit(later);
      const asleepChild = await submit(later);
      await waitOn(asleep.id, asleepChild.id);

      expect(await workflows.sendEvent('go', null, null, Date.now())).toBe(2);
      expect((await repo.get(held.id))!.runAt).toBe(lease);
      expect((await repo.get(asleep.id))!.runAt).toBeLessThanOrEqual(Date.now());

      await driver.run('UPDATE tasks SET run_at = ? WHERE id = ?', [later, asleep.id]);
      await service.cancel(heldChild.id);
      await service.cancel(asleepChild.id);
      expect((await repo.get(held.id))!.runAt).toBe(lease);
      expect((await repo.get(asleep.id))!.runAt).toBeLessThanOrEqual(Date.now());

      // Once the attempt's process reports its handler stopped, the run is due.
      expect(await repo.clearLease(claimed!)).toBe(true);
      expect((await repo.get(held.id))!.runAt).toBeLessThanOrEqual(Date.now());
    } finally {
      await close();
    }
  });
});
