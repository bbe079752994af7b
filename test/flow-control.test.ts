import { describe, expect, it } from 'vitest';
import { nextFlowCursor } from '../lib/flow-control/claim.ts';
import { flowStats, heldBackOf } from '../lib/flow-control/held-back.ts';
import { submitInput, type TestRepo } from './helpers.ts';
import { forEachStorage, sqldAvailable } from './sqld.ts';

/**
 * Flow control in the claim (lib/flow-control/, lib/tasks/repository.ts): per-key
 * parallelism and rate, turns between keys, and the reads behind held_back and /stats, on a
 * libSQL file and on sqld. The multi-process proofs are in flow-control.processes.test.ts.
 */

const sqldOk = await sqldAvailable();

async function submitMany(t: TestRepo, n: number, flowControl?: { key: string; parallelism?: number; rate?: number; period_seconds?: number }, extra = {}) {
  const inputs = Array.from({ length: n }, (_, i) => submitInput({ title: `t${i}`, flowControl, ...extra }));
  for (let i = 0; i < inputs.length; i += 500) await t.service.submitMany(inputs.slice(i, i + 500).map((input) => ({ input })));
}

forEachStorage(sqldOk, (storage, openStorage) => {
  // sqld is one server for the file: each test starts from an empty table.
  const open = async () => {
    const t = await openStorage();
    await t.driver.run('DELETE FROM tasks');
    return t;
  };
  describe(`flow control on ${storage}`, () => {
    it('claims at most `parallelism` tasks of a key, and more once one ends', async () => {
      const t = await open();
      await submitMany(t, 5, { key: 'acme', parallelism: 2 });
      const first = await t.repo.claimDueTasks({ limit: 10, workerId: 'w', leaseMs: 600_000 });
      expect(first).toHaveLength(2);
      expect(await t.repo.claimDueTasks({ limit: 10, workerId: 'w', leaseMs: 600_000 })).toHaveLength(0);
      await t.repo.transition({ task: first[0]!, to: 'completed', fields: { completedAt: Date.now(), leaseExpiresAt: null } });
      expect(await t.repo.claimDueTasks({ limit: 10, workerId: 'w', leaseMs: 600_000 })).toHaveLength(1);
    });

    it('starts at most `rate` tasks of a key per period', async () => {
      const t = await open();
      await submitMany(t, 10, { key: 'partner', rate: 3, period_seconds: 60 });
      const now = Date.now();
      expect(await t.repo.claimDueTasks({ limit: 10, workerId: 'w', leaseMs: 600_000, now })).toHaveLength(3);
      expect(await t.repo.claimDueTasks({ limit: 10, workerId: 'w', leaseMs: 600_000, now: now + 1000 })).toHaveLength(0);
      // The period has passed for the first three starts.
      expect(await t.repo.claimDueTasks({ limit: 10, workerId: 'w', leaseMs: 600_000, now: now + 61_000 })).toHaveLength(3);
    });

    it('takes keys in turns: a key with a backlog does not delay another key', async () => {
      const t = await open();
      await submitMany(t, 1000, { key: 'A' });
      await submitMany(t, 10, { key: 'B' });
      const keyOf = (task: { flowControl: string | null }) => JSON.parse(task.flowControl!).key as string;
      const first = await t.repo.claimDueTasks({ limit: 10, workerId: 'w', leaseMs: 600_000 });
      const second = await t.repo.claimDueTasks({ limit: 10, workerId: 'w', leaseMs: 600_000 });
      expect(first.map(keyOf).sort()).toEqual([...Array(5).fill('A'), ...Array(5).fill('B')]);
      expect(second.filter((task) => keyOf(task) === 'B')).toHaveLength(5);
    });

    it('claims of one task each alternate between keys: the key served least recently goes first', async () => {
      const t = await open();
      await submitMany(t, 100, { key: 'A' });
      await submitMany(t, 3, { key: 'B' });
      const now = Date.now() + 10;
      const keys: string[] = [];
      for (let i = 0; i < 6; i++) {
        const [task] = await t.repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 600_000, now: now + i });
        keys.push(JSON.parse(task!.flowControl!).key);
      }
      expect(keys).toEqual(['A', 'B', 'A', 'B', 'A', 'B']);
    });

    it('with more keys than a claim takes, claims go round the keys, passing over keys at their limit', async () => {
      const t = await open();
      // Keys k00..k24, two tasks each. k00..k09 at parallelism 1: the first claim takes one of
      // each, and the later claims, wrapping round, pass over them (at their limit).
      for (let k = 0; k < 25; k++) await submitMany(t, 2, { key: `k${String(k).padStart(2, '0')}`, parallelism: k < 10 ? 1 : 5 });
      const keyOf = (task: { flowControl: string | null }) => JSON.parse(task.flowControl!).key as string;
      const first = await t.repo.claimDueTasks({ limit: 10, workerId: 'w', leaseMs: 600_000 });
      expect(new Set(first.map(keyOf)).size).toBe(10);
      const served = new Set(first.map(keyOf));
      for (let i = 0; i < 2; i++) for (const task of await t.repo.claimDueTasks({ limit: 10, workerId: 'w', leaseMs: 600_000 })) served.add(keyOf(task));
      expect(served.size).toBe(25);
    });

    it('priority wins over turns, and tasks without a key take turns as one group', async () => {
      const t = await open();
      await submitMany(t, 20, { key: 'A' });
      await submitMany(t, 20, undefined);
      await submitMany(t, 3, { key: 'B' }, { priority: 5 });
      const first = await t.repo.claimDueTasks({ limit: 9, workerId: 'w', leaseMs: 600_000 });
      const groups = first.map((task) => (task.flowControl === null ? '-' : JSON.parse(task.flowControl).key));
      expect(groups.filter((g) => g === 'B')).toHaveLength(3);
      expect(groups.filter((g) => g === 'A')).toHaveLength(3);
      expect(groups.filter((g) => g === '-')).toHaveLength(3);
    });

    it('the newest submitted limit of a key wins', async () => {
      const t = await open();
      await submitMany(t, 5, { key: 'k', parallelism: 1 });
      await submitMany(t, 1, { key: 'k', parallelism: 3 });
      expect(await t.repo.claimDueTasks({ limit: 10, workerId: 'w', leaseMs: 600_000 })).toHaveLength(3);
    });

    it('a key\'s limits row follows its newest task, and goes with its last task', async () => {
      const t = await open();
      await t.driver.run('DELETE FROM flow_keys');
      const limits = async () => (await t.driver.all('SELECT key, parallelism, rate, period_ms FROM flow_keys')).map((r) => ({ ...r }));
      await submitMany(t, 1, { key: 'k', parallelism: 2 });
      await submitMany(t, 1, { key: 'k', rate: 3, period_seconds: 0.5 });
      expect(await limits()).toEqual([{ key: 'k', parallelism: null, rate: 3, period_ms: 500 }]);
      const tasks = await t.repo.list({ limit: 10 });
      expect(await t.repo.deleteUnlessRunning(tasks[0]!.id)).toBe(true);
      expect(await limits()).toHaveLength(1);
      expect(await t.repo.deleteUnlessRunning(tasks[1]!.id)).toBe(true);
      expect(await limits()).toEqual([]);
    });

    it('says why a due task is held back, and counts held-back tasks', async () => {
      const t = await open();
      await submitMany(t, 4, { key: 'acme', parallelism: 2 });
      await submitMany(t, 2, { key: 'free', parallelism: 5 });
      expect(await t.repo.claimDueTasks({ limit: 10, workerId: 'w', leaseMs: 600_000 })).toHaveLength(4);
      const pending = await t.repo.list({ status: 'pending', limit: 100 });
      expect(pending).toHaveLength(2);
      const reasons = await heldBackOf(t.driver, pending);
      for (const task of pending) expect(reasons.get(task.id)).toBe('key acme: 2 of 2 running');
      const stats = await flowStats(t.driver);
      expect(stats).toMatchObject({ keysPending: 1, keysHeldBack: 1, tasksHeldBack: 2 });
      expect(stats.busiest[0]).toMatchObject({ key: 'acme', due: 2, running: 2, parallelism: 2 });
    });

    it('a claim with no task with a key pending claims as before', async () => {
      const t = await open();
      await submitMany(t, 30, undefined);
      const claimed = await t.repo.claimDueTasks({ limit: 10, workerId: 'w', leaseMs: 600_000 });
      expect(claimed.map((task) => task.title)).toEqual(Array.from({ length: 10 }, (_, i) => `t${i}`));
    });
  });
});

describe('nextFlowCursor', () => {
  const task = (key: string | null) => ({ flowControl: key === null ? null : JSON.stringify({ key }) });
  it('moves to the last key claimed in scan order from the cursor, wrapping; stays without a keyed task', () => {
    expect(nextFlowCursor('', [task('b'), task('a'), task(null)])).toBe('b');
    expect(nextFlowCursor('m', [task('z'), task('n')])).toBe('z');
    expect(nextFlowCursor('m', [task('z'), task('c'), task('a')])).toBe('c');
    expect(nextFlowCursor('m', [task(null)])).toBe('m');
  });
});
