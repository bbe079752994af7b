import Database from 'libsql';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../lib/config/config.ts';
import { parseDuration } from '../lib/config/parsers.ts';
import type { Task } from '../lib/tasks/model.ts';
import { retentionPolicy, sweepFinishedTasks } from '../lib/tasks/retention.ts';
import { buildTask } from '../lib/tasks/model.ts';
import type { TaskStatus } from '../lib/tasks/states.ts';
import { filePath, openDatabase } from '../local/database.ts';
import { createRuntime } from '../local/runtime.ts';
import { openTestRepo, submitInput, tempDbUrl, testConfig, waitFor, type TestRepo } from './helpers.ts';
import { killAll, spawnService, type ServiceProcess } from './processes.ts';
import { forEachStorage, sqldAvailable } from './sqld.ts';

/**
 * Retention (lib/tasks/retention.ts): finished tasks older than their status's age are deleted
 * in bounded batches, on an injectable clock; pending, running and recent ones never, on a
 * file and on sqld. Alongside three real worker processes claiming, a sweep loses no task and
 * deletes no unfinished one (a trigger on the file aborts any such DELETE and records every
 * deleted row).
 */

const DAY = 86_400_000;
const T = Date.UTC(2026, 10, 30, 12);

async function insertAged(repo: TestRepo['repo'], status: TaskStatus, finishedAgoMs: number | null, n: number, title: string = status): Promise<Task[]> {
  const tasks: Task[] = [];
  for (let i = 0; i < n; i++) {
    const task = buildTask(submitInput({ title }), { now: T - 40 * DAY, maxAttempts: 3 });
    task.status = status;
    task.completedAt = finishedAgoMs === null ? null : T - finishedAgoMs;
    if (status === 'in_progress') task.leaseExpiresAt = T + 60_000;
    tasks.push((await repo.insert(task))!);
  }
  return tasks;
}

async function titles(t: TestRepo): Promise<Record<string, number>> {
  const rows = await t.driver.all('SELECT title, count(*) AS n FROM tasks GROUP BY title');
  return Object.fromEntries(rows.map((r) => [String(r.title), Number(r.n)]));
}

const sqldOk = await sqldAvailable();

function contract(name: string, open: () => Promise<TestRepo>) {
  describe(`retention on ${name}`, () => {
    it('deletes finished tasks past their age in batches; pending, running and recent ones stay', async () => {
      const t = await open();
      await t.driver.run('DELETE FROM tasks');
      await insertAged(t.repo, 'completed', 8 * DAY, 35, 'old completed');
      await insertAged(t.repo, 'completed', 6 * DAY, 5, 'recent completed');
      await insertAged(t.repo, 'failed', 31 * DAY, 12, 'old failed');
      await insertAged(t.repo, 'cancelled', 31 * DAY, 3, 'old cancelled');
      await insertAged(t.repo, 'failed', 10 * DAY, 4, 'recent failed');
      await insertAged(t.repo, 'pending', null, 6, 'pending');
      await insertAged(t.repo, 'in_progress', null, 2, 'running');
      // Not a state the product writes, but the DELETE must test the status, not the time alone.
      await insertAged(t.repo, 'pending', 90 * DAY, 2, 'pending with an old completed_at');
      await insertAged(t.repo, 'in_progress', 90 * DAY, 2, 'running with an old completed_at');

      const policy = retentionPolicy(loadConfig({}));
      expect(policy).toEqual({ completedMs: 7 * DAY, failedMs: 30 * DAY });

      // One statement deletes at most its batch.
      expect(await t.repo.deleteFinished(['completed'], T - 7 * DAY, 10)).toBe(10);
      // A spent budget deletes nothing more.
      expect(await sweepFinishedTasks(t.repo, policy, { now: () => T, budgetMs: 0 })).toEqual({ deleted: 0, complete: false });

      const result = await sweepFinishedTasks(t.repo, policy, { now: () => T, batchSize: 10 });
      expect(result).toEqual({ deleted: 25 + 15, complete: true });
      expect(await titles(t)).toEqual({
        'recent completed': 5, 'recent failed': 4, pending: 6, running: 2,
        'pending with an old completed_at': 2, 'running with an old completed_at': 2,
      });

      // Later on the clock the recent ones go too; 0 keeps forever.
      expect((await sweepFinishedTasks(t.repo, { completedMs: 0, failedMs: 0 }, { now: () => T + 365 * DAY })).deleted).toBe(0);
      expect((await sweepFinishedTasks(t.repo, policy, { now: () => T + 30 * DAY })).deleted).toBe(9);
      expect(await titles(t)).toEqual({ pending: 6, running: 2, 'pending with an old completed_at': 2, 'running with an old completed_at': 2 });
    });

    it('reports the database size where the server tells it', async () => {
      const t = await open();
      const size = await t.repo.databaseSize();
      expect(size).not.toBeNull();
      expect(size!.bytes).toBeGreaterThan(0);
      expect(size!.freeBytes).toBeGreaterThanOrEqual(0);
    });
  });
}

forEachStorage(sqldOk, contract);

describe('retention durations', () => {
  it('parses 36h, 7d, 90m, 30s, 500ms, 0; a bad value stops start-up naming the variable', async () => {
    expect([parseDuration('36h'), parseDuration('7d'), parseDuration('90m'), parseDuration('30s'), parseDuration('500ms'), parseDuration('0')]).toEqual([
      36 * 3_600_000, 7 * DAY, 90 * 60_000, 30_000, 500, 0,
    ]);
    for (const bad of ['7x', '7', '-1d', 'd', '1.5.2h', '7 d']) expect(parseDuration(bad)).toBeNull();
    expect(() => loadConfig({ TASK_RETENTION_COMPLETED: '7x' })).toThrow(
      new ConfigError('invalid TASK_RETENTION_COMPLETED="7x": must be a duration like 36h, 7d, 90m or 30s (0 keeps forever)'),
    );
    await expect(createRuntime({ env: { TASK_RETENTION_FAILED: 'soon', DATABASE_URL: tempDbUrl() } })).rejects.toThrow(/TASK_RETENTION_FAILED="soon"/);
  });

  it('the CLI refuses to start with one line naming the variable', async () => {
    const service = spawnService(['serve'], { DATABASE_URL: tempDbUrl(), TASK_RETENTION_FAILED: '7x' });
    expect(await service.exited).toBe(1);
    expect(service.stderr()).toContain('invalid TASK_RETENTION_FAILED="7x"');
  });
});

describe('retention alongside three worker processes', () => {
  const services: ServiceProcess[] = [];
  afterEach(() => killAll(services.splice(0)));

  it('deletes only finished tasks while they claim: no task lost, none unfinished deleted', async () => {
    const url = tempDbUrl();
    const driver = await openDatabase({ url });
    await driver.close();
    // Every DELETE of an unfinished row aborts; every deleted row is recorded.
    const db = new Database(filePath(url));
    db.exec(`CREATE TABLE deleted_audit (id INTEGER NOT NULL, status TEXT NOT NULL);
      CREATE TRIGGER audit_delete BEFORE DELETE ON tasks BEGIN
        SELECT RAISE(ABORT, 'unfinished task deleted') WHERE old.status NOT IN ('completed', 'failed', 'cancelled');
        INSERT INTO deleted_audit VALUES (old.id, old.status);
      END;`);
    db.close();

    const env = { DATABASE_URL: url, TASK_WORKERS: '4', TASK_POLL_BATCH_SIZE: '20', TASK_RETENTION_COMPLETED: '1ms', LOG_LEVEL: 'warn' };
    for (let i = 0; i < 3; i++) services.push(spawnService(['worker', '--handlers', 'test/fixtures/handlers.ts'], env));

    const t = await openTestRepo(url);
    const api = await createRuntime({ config: testConfig({ DATABASE_URL: url }), processing: false, handlers: { noop: async () => null } });
    // History to delete, then 1,200 tasks submitted in batches while the workers claim and a
    // sweep runs in this process too (clock: now, every completed task is already too old).
    await insertAged(t.repo, 'completed', 0, 1000, 'history');
    const ids: number[] = [];
    let sweeping = true;
    let sweptHere = 0;
    const sweeps = (async () => {
      while (sweeping) {
        sweptHere += (await sweepFinishedTasks(t.repo, { completedMs: 1, failedMs: 1 }, { batchSize: 50 })).deleted;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    for (let round = 0; round < 12; round++) {
      const results = await api.service.submitMany(Array.from({ length: 100 }, (_, i) => ({ input: submitInput({ title: `r${round} ${i}`, type: 'noop' }) })));
      ids.push(...results.map((r) => r.task.id));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    // Every submitted task ends completed, whether it is still there or was deleted after.
    const audit = new Database(filePath(url), { readonly: true });
    const deletedStatus = () => new Map((audit.prepare('SELECT id, status FROM deleted_audit').all() as { id: number; status: string }[]).map((r) => [r.id, r.status]));
    await waitFor(async () => {
      const deleted = deletedStatus();
      const left = (await t.driver.all("SELECT count(*) AS n FROM tasks WHERE status <> 'completed' OR title = 'history'"))[0]!.n;
      return Number(left) === 0 && ids.every((id) => deleted.has(id)) ? true : null;
    }, 60_000, 'every task completed and deleted');
    sweeping = false;
    await sweeps;

    const deleted = deletedStatus();
    audit.close();
    expect(new Set(deleted.values())).toEqual(new Set(['completed']));
    expect(deleted.size).toBe(1000 + 1200);
    expect(sweptHere).toBeGreaterThan(0);
    // The workers swept too, and none of them saw its DELETE aborted.
    for (const s of services) expect(s.lines.join('\n')).not.toContain('unfinished task deleted');
    await api.shutdown();
    await t.close();
  });
});
