import { describe, expect, it } from 'vitest';
import { ErrOptimisticLock } from '../lib/foundation/errors.ts';
import type { TaskRepository } from '../lib/tasks/repository.ts';
import { buildTask } from '../lib/tasks/model.ts';
import type { TaskService } from '../lib/tasks/service.ts';
import { submitInput } from './helpers.ts';

/**
 * The repository's contract, run against every storage it must work on: a libSQL file
 * (repository.file.test.ts) and a libSQL server, sqld (repository.sqld.test.ts). Same SQL,
 * different drivers and locking: the storage must not change what callers see.
 */
export interface ContractStore {
  repo: TaskRepository;
  service: TaskService;
  /** A second, independent connection to the same database (another process or isolate). */
  openPeer(): Promise<{ repo: TaskRepository; close(): Promise<void> }>;
  close(): Promise<void>;
}

export function repositoryContract(name: string, open: () => Promise<ContractStore>): void {
  const withStore = (test: (store: ContractStore) => Promise<void>) => async () => {
    const store = await open();
    try {
      await test(store);
    } finally {
      await store.close();
    }
  };

  describe(`repository contract: ${name}`, () => {
    it(
      'stores a task and reads it back field for field',
      withStore(async ({ repo, service }) => {
        const { task } = await service.submit(submitInput({ title: 'nul \u0000 and 😀', payload: { n: 1 }, priority: 7 }), 'key-1');
        const read = await repo.get(task.id);
        expect(read).toEqual(task);
        expect(await repo.get(task.id + 1)).toBeNull();
        expect((await repo.getByIdempotencyKey('key-1'))?.task.id).toBe(task.id);
        // The claim reads rows as arrays (SqlDriver.values): the same fields, NUL included.
        const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 1000 });
        expect(claimed).toEqual({ ...task, status: 'in_progress', version: 2, attempts: 1, lockedBy: 'w', startedAt: claimed!.startedAt, leaseExpiresAt: claimed!.startedAt! + 1000, updatedAt: claimed!.startedAt });
      }),
    );

    it(
      'lists newest first, filters, and pages with a cursor without gaps or repeats',
      withStore(async ({ repo, service }) => {
        const ids: number[] = [];
        for (let i = 0; i < 7; i++) ids.push((await service.submit(submitInput({ type: i % 2 ? 'odd' : 'simulate' }))).task.id);
        const seen: number[] = [];
        let beforeId: number | undefined;
        for (;;) {
          const page = await repo.list({ limit: 3, beforeId });
          seen.push(...page.map((t) => t.id));
          if (page.length < 3) break;
          beforeId = page[page.length - 1]!.id;
        }
        expect(seen).toEqual([...ids].reverse());
        expect((await repo.list({ limit: 100, type: 'odd' })).map((t) => t.id)).toEqual([ids[5], ids[3], ids[1]]);
        expect(await repo.list({ limit: 100, status: 'completed' })).toEqual([]);
      }),
    );

    it(
      'counts by status and reports the oldest pending task',
      withStore(async ({ repo, service }) => {
        const first = (await service.submit(submitInput())).task;
        await service.submit(submitInput());
        const third = (await service.submit(submitInput())).task;
        await service.cancel(third.id);
        const stats = await repo.stats();
        expect(stats.counts).toEqual({ pending: 2, in_progress: 0, completed: 0, failed: 0, cancelled: 1 });
        expect(stats.total).toBe(3);
        expect(stats.oldestPendingCreatedAt).toBe(first.createdAt);
      }),
    );

    it(
      'claims each due task once across two concurrent claimers, in priority order',
      withStore(async ({ repo, service, openPeer }) => {
        const peer = await openPeer();
        try {
          for (let i = 0; i < 20; i++) await service.submit(submitInput({ priority: i % 3 }));
          await service.submit(submitInput({ delaySeconds: 3600 }));
          const [a, b] = await Promise.all([
            repo.claimDueTasks({ limit: 15, workerId: 'a', leaseMs: 30_000 }),
            peer.repo.claimDueTasks({ limit: 15, workerId: 'b', leaseMs: 30_000 }),
          ]);
          const ids = [...a, ...b].map((t) => t.id);
          expect(ids).toHaveLength(20);
          expect(new Set(ids).size).toBe(20);
          for (const batch of [a, b]) {
            expect(batch.map((t) => t.priority)).toEqual([...batch.map((t) => t.priority)].sort((x, y) => y - x));
            for (const t of batch) expect(t).toMatchObject({ status: 'in_progress', attempts: 1, version: 2 });
          }
          expect(await repo.claimDueTasks({ limit: 10, workerId: 'a', leaseMs: 30_000 })).toEqual([]);
        } finally {
          await peer.close();
        }
      }),
    );

    it(
      'reclaims a task whose lease expired, and only then',
      withStore(async ({ repo, service }) => {
        const { task } = await service.submit(submitInput());
        const now = Date.now();
        const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'dead', leaseMs: 1000, now });
        expect(claimed?.id).toBe(task.id);
        expect(await repo.claimDueTasks({ limit: 1, workerId: 'b', leaseMs: 1000, now: now + 500 })).toEqual([]);
        const [again] = await repo.claimDueTasks({ limit: 1, workerId: 'b', leaseMs: 1000, now: now + 1001 });
        expect(again).toMatchObject({ id: task.id, lockedBy: 'b', attempts: 2, version: 3 });
      }),
    );

    it(
      'a cancelled running task keeps its lease, a retry waits for it, and only that attempt clears it',
      withStore(async ({ repo, service }) => {
        const { task } = await service.submit(submitInput());
        const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 });
        const lease = claimed!.leaseExpiresAt!;
        expect(await service.cancel(task.id)).toMatchObject({ status: 'cancelled', lockedBy: 'w', leaseExpiresAt: lease });
        const retried = await service.retry(task.id);
        expect(retried).toMatchObject({ status: 'pending', attempts: 0, runAt: lease, lockedBy: 'w', leaseExpiresAt: lease });
        expect(await repo.claimDueTasks({ limit: 1, workerId: 'x', leaseMs: 30_000 })).toEqual([]);

        // Another worker's lease, or another lease of this worker, is not this attempt's.
        expect(await repo.clearLease({ ...claimed!, lockedBy: 'x' })).toBe(false);
        expect(await repo.clearLease({ ...claimed!, leaseExpiresAt: lease - 1 })).toBe(false);
        // Cleared, the task is due now, or at the time given if that is later (a backoff),
        // never later than it was.
        const before = Date.now();
        expect(await repo.clearLease(claimed!, before + 10_000)).toBe(true);
        expect(await repo.get(task.id)).toMatchObject({ status: 'pending', leaseExpiresAt: null, version: retried.version + 1, runAt: before + 10_000 });
        await repo.transition({ task: (await repo.get(task.id))!, to: 'cancelled' });
        const again = await service.retry(task.id);
        expect(again).toMatchObject({ leaseExpiresAt: null });
        expect(again.runAt).toBeLessThanOrEqual(Date.now());
        const [next] = await repo.claimDueTasks({ limit: 1, workerId: 'x', leaseMs: 30_000 });
        expect(next).toMatchObject({ id: task.id, lockedBy: 'x', attempts: 1 });
        // A task in progress is never touched, even by its own attempt.
        expect(await repo.clearLease(next!)).toBe(false);
        expect(await repo.clearLease(claimed!)).toBe(false);
        expect(await repo.get(task.id)).toEqual(next);
      }),
    );

    it(
      'a cancel or retry after the lease ran out leaves no lease: the task is due at once',
      withStore(async ({ repo, service }) => {
        const { task } = await service.submit(submitInput());
        await repo.claimDueTasks({ limit: 1, workerId: 'dead', leaseMs: 1000, now: Date.now() - 5000 });
        expect(await service.cancel(task.id)).toMatchObject({ status: 'cancelled', leaseExpiresAt: null });
        const retried = await service.retry(task.id);
        expect(retried).toMatchObject({ status: 'pending', leaseExpiresAt: null });
        expect(retried.runAt).toBeLessThanOrEqual(Date.now());
      }),
    );

    it(
      'rejects a write with a stale version (ErrOptimisticLock) and leaves the row alone',
      withStore(async ({ repo, service }) => {
        await service.submit(submitInput());
        const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 });
        const done = await repo.transition({ task: claimed!, to: 'completed', fields: { result: '{"ok":true}', completedAt: Date.now() } });
        expect(done.version).toBe(claimed!.version + 1);
        const stale = repo.transition({ task: claimed!, to: 'pending', fields: { leaseExpiresAt: null } });
        await expect(stale).rejects.toBeInstanceOf(ErrOptimisticLock);
        expect(await repo.get(claimed!.id)).toMatchObject({ status: 'completed', version: done.version, result: '{"ok":true}' });

        // A batch: each request wins or loses on its own.
        const { task } = await service.submit(submitInput());
        const results = await repo.transitionMany([
          { task, to: 'cancelled' },
          { task: { ...task, version: task.version + 5 }, to: 'cancelled' },
        ]);
        expect(results.map((r) => r.ok)).toEqual([true, false]);
      }),
    );

    it(
      'settles the completions of one turn together, each fenced by its version: a stale worker\'s completion of a reclaimed task is refused',
      withStore(async ({ repo, service }) => {
        const ids: number[] = [];
        for (let i = 0; i < 4; i++) ids.push((await service.submit(submitInput())).task.id);
        // The first task's worker dies; its lease runs out and worker b claims it again.
        const [stale] = await repo.claimDueTasks({ limit: 1, workerId: 'dead', leaseMs: 1000 });
        const now = stale!.leaseExpiresAt! + 1;
        const claimed = await repo.claimDueTasks({ limit: 4, workerId: 'b', leaseMs: 30_000, now });
        expect(claimed.map((t) => t.id).sort()).toEqual([...ids].sort());
        const reclaimed = claimed.find((t) => t.id === stale!.id)!;
        expect(reclaimed.version).toBe(stale!.version + 1);
        const complete = (task: (typeof claimed)[number], result: string) =>
          ({ task, to: 'completed', now, fields: { result, completedAt: now, leaseExpiresAt: null, lastError: null } }) as const;
        // Requested in one turn: the stale completion rides in the same statement as the others.
        const others = claimed.filter((t) => t !== reclaimed);
        const results = await Promise.all([
          repo.transitionMany([complete(stale!, '"stale"')]),
          ...others.map((task, i) => repo.transition(complete(task, JSON.stringify({ i, text: 'nul \u0000 "quoted" 😀' })))),
        ]);
        expect(results[0]![0]!.ok).toBe(false);
        expect((results[0]![0] as { error: unknown }).error).toBeInstanceOf(ErrOptimisticLock);
        expect(await repo.get(reclaimed.id)).toEqual(reclaimed);
        for (const [i, task] of others.entries()) {
          const read = await repo.get(task.id);
          expect(read).toEqual({ ...task, status: 'completed', version: task.version + 1, updatedAt: now, completedAt: now, leaseExpiresAt: null, result: JSON.stringify({ i, text: 'nul \u0000 "quoted" 😀' }) });
          expect(read).toEqual(results[i + 1]);
        }
        // The worker that holds the task now completes it; the stale one, again, does not.
        const both = await Promise.all([repo.transitionMany([complete(reclaimed, '"fresh"')]), repo.transitionMany([complete(stale!, '"stale"')])]);
        expect(both.map(([r]) => r!.ok)).toEqual([true, false]);
        expect(await repo.get(reclaimed.id)).toMatchObject({ status: 'completed', result: '"fresh"', version: reclaimed.version + 1 });
      }),
    );

    it(
      'inserts follow-up tasks with a transition only when it wins, and each key once',
      withStore(async ({ repo, service }) => {
        const followUp = (parent: number, n: number) =>
          buildTask(submitInput({ title: `callback ${n}` }), { now: Date.now(), maxAttempts: 3, idempotencyKey: `callback:${parent}` });
        await service.submit(submitInput());
        const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 });
        const done = await repo.transition({ task: claimed!, to: 'completed', fields: { completedAt: Date.now() }, followUps: [followUp(claimed!.id, 1)] });
        const created = await repo.getByIdempotencyKey(`callback:${claimed!.id}`);
        expect(created?.task).toMatchObject({ title: 'callback 1', status: 'pending', version: 1 });

        // The same transition again (a stale version) loses, and its follow-up is not written.
        const { task: other } = await service.submit(submitInput());
        await repo.transition({ task: other, to: 'cancelled' });
        await expect(repo.transition({ task: other, to: 'cancelled', followUps: [followUp(other.id, 2)] })).rejects.toBeInstanceOf(ErrOptimisticLock);
        expect(await repo.getByIdempotencyKey(`callback:${other.id}`)).toBeNull();

        // A winning transition whose follow-up key exists already creates no second task.
        expect(done.status).toBe('completed');
        const retried = await service.retry(other.id);
        await repo.transition({ task: retried, to: 'cancelled', followUps: [followUp(claimed!.id, 3)] });
        expect((await repo.getByIdempotencyKey(`callback:${claimed!.id}`))?.task.title).toBe('callback 1');
      }),
    );

    it(
      'records an attempt with its transition only when it wins, a reclaim and an expired last attempt as lease_expired, and deletes them with the task',
      withStore(async ({ repo, service }) => {
        const { task } = await service.submit(submitInput({ maxAttempts: 3 }));
        const [first] = await repo.claimDueTasks({ limit: 1, workerId: 'w1', leaseMs: 30_000 });
        const end = { outcome: 'retried', error: 'boom \u0000 1' } as const;
        const retried = await repo.transition({ task: first!, to: 'pending', fields: { lastError: 'boom', runAt: 0, leaseExpiresAt: null }, attempt: end });
        // The same write again (a stale version) loses and records nothing.
        await expect(repo.transition({ task: first!, to: 'pending', attempt: end })).rejects.toBeInstanceOf(ErrOptimisticLock);
        expect(retried.version).toBe(first!.version + 1);

        // A claim that takes a task whose lease ran out records the dead attempt.
        const [second] = await repo.claimDueTasks({ limit: 1, workerId: 'w2', leaseMs: 1000 });
        const [third] = await repo.claimDueTasks({ limit: 1, workerId: 'w3', leaseMs: 1000, now: second!.leaseExpiresAt! + 1 });
        expect(third).toMatchObject({ id: task.id, attempts: 3, lockedBy: 'w3' });
        // A heartbeat (no started_at) records nothing.
        const renewed = await repo.transition({ task: third!, to: 'in_progress', fields: { leaseExpiresAt: third!.leaseExpiresAt! + 1 } });
        expect(await repo.failExpiredLastAttempts(renewed.leaseExpiresAt! + 1)).toBe(1);
        const attempts = await repo.attempts(task.id);
        expect(attempts.map((a) => [a.attempt, a.worker, a.outcome, a.error])).toEqual([
          [1, 'w1', 'retried', 'boom \u0000 1'],
          [2, 'w2', 'lease_expired', 'lease expired (worker died or stalled)'],
          [3, 'w3', 'lease_expired', 'lease expired on the last attempt (worker died or stalled)'],
        ]);
        expect(attempts[0]!.startedAt).toBe(first!.startedAt);
        expect(attempts[2]!.endedAt).toBe(renewed.leaseExpiresAt);

        await service.delete(task.id);
        expect(await repo.attempts(task.id)).toEqual([]);
      }),
    );

    it(
      'writes progress only under the attempt\'s version, and returns it as JSON',
      withStore(async ({ repo, service }) => {
        const { task } = await service.submit(submitInput());
        const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 });
        const reported = await repo.transition({ task: claimed!, to: 'in_progress', fields: { progress: '{"done":3,"total":10}' } });
        expect((await repo.get(task.id))!.progress).toBe('{"done":3,"total":10}');
        // The stale attempt (the claimed version) cannot overwrite it.
        await expect(repo.transition({ task: claimed!, to: 'in_progress', fields: { progress: '1' } })).rejects.toBeInstanceOf(ErrOptimisticLock);
        const done = await repo.transition({ task: reported, to: 'completed', fields: { completedAt: Date.now(), result: 'null', progress: '100' } });
        expect(await repo.get(task.id)).toEqual(done);
        expect(done.progress).toBe('100');
      }),
    );
  });
}
