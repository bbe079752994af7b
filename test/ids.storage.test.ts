import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@libsql/client';
import { v7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { ScheduleRepository } from '../lib/schedules/repository.ts';
import { formatTaskId, ID_EPOCH_MS, idFloor, IDS_PER_MS } from '../lib/tasks/ids.ts';
import { IF_PREVIOUS_CHANGED, guardedInsertStatement } from '../lib/tasks/inserts.ts';
import { TaskRepository } from '../lib/tasks/repository.ts';
import { buildTask } from '../lib/tasks/model.ts';
import { migrateDatabase } from '../local/database.ts';
import { openTestRepo, startRuntime, submitInput, tempDbUrl, tempDir, waitFor, type TestRepo } from './helpers.ts';
import { ROOT } from './processes.ts';
import { forEachStorage, sqldAvailable, startSqld } from './sqld.ts';
import { migratePreviousSchema } from './support/previous-schema.ts';

/**
 * Task ids assigned by the database (lib/tasks/ids.ts, NEXT_ID in lib/tasks/inserts.ts) on
 * real storage: unique and increasing across processes, never handed out twice, right for
 * multi-row inserts; the query plans the rowid key was chosen for; and migration 0004, which
 * turns a file of UUIDv7 tasks into rowid tasks that keep their order, their state and their
 * old ids.
 */

const sqldOk = await sqldAvailable();
const tick = () => new Promise((resolve) => setTimeout(resolve, 3));

forEachStorage(sqldOk, (storage, open) => {
  describe(`ids on ${storage}`, () => {
    it('are time-ordered: at least the floor of their creation millisecond, and increasing', async () => {
      const { service } = await open();
      const before = Date.now();
      const a = (await service.submit(submitInput())).task;
      const b = (await service.submit(submitInput())).task;
      expect(a.id).toBeGreaterThanOrEqual(idFloor(before));
      expect(a.id).toBeGreaterThanOrEqual(idFloor(a.createdAt));
      expect(b.id).toBeGreaterThan(a.id);
      expect(Number.isSafeInteger(b.id)).toBe(true);
    });

    it('are not handed out again after the newest task is deleted, nor after the table is emptied', async () => {
      const { service, driver } = await open();
      await service.submit(submitInput());
      const newest = (await service.submit(submitInput())).task;
      await service.delete(newest.id);
      await tick();
      const next = (await service.submit(submitInput())).task;
      // max(id) + 1 alone would give the deleted task's id again.
      expect(next.id).toBeGreaterThan(newest.id);
      await driver.run('DELETE FROM tasks');
      await tick();
      const afterEmpty = (await service.submit(submitInput())).task;
      expect(afterEmpty.id).toBeGreaterThan(next.id);
      expect(afterEmpty.id).toBeGreaterThanOrEqual(idFloor(afterEmpty.createdAt));
    });

    it('are not handed out again even within the deleted task\'s millisecond or with the clock behind it (the high-water mark)', async () => {
      const { service, repo } = await open();
      const newest = (await service.submit(submitInput())).task;
      await service.delete(newest.id);
      // The same millisecond as the deleted task: the floor alone would give its id again.
      const sameMs = (await repo.insert(buildTask(submitInput(), { now: newest.createdAt, maxAttempts: 3 })))!;
      expect(sameMs.id).toBeGreaterThan(newest.id);

      // Retention deleting the newest task (finished), then a clock an hour behind.
      const cancelled = await repo.transition({ task: sameMs, to: 'cancelled', fields: { completedAt: Date.now() } });
      expect(await repo.deleteFinished(['cancelled'], cancelled.completedAt! + 1)).toBeGreaterThanOrEqual(1);
      expect(await repo.get(sameMs.id)).toBeNull();
      const behind = (await repo.insert(buildTask(submitInput(), { now: Date.now() - 3_600_000, maxAttempts: 3 })))!;
      expect(behind.id).toBeGreaterThan(sameMs.id);
    });

    it('keep counting up when the clock is behind the newest id (a clock stepped back, another host lagging)', async () => {
      const { repo } = await open();
      const ahead = (await repo.insert(buildTask(submitInput(), { now: Date.now() + 3_600_000, maxAttempts: 3 })))!;
      const behind = (await repo.insert(buildTask(submitInput(), { now: Date.now(), maxAttempts: 3 })))!;
      expect(behind.id).toBe(ahead.id + 1);
    });

    it('a multi-row insert (follow-ups, schedule occurrences) gives every row its own id: none dropped', async () => {
      const { service, repo, driver } = await open();
      const parent = (await service.submit(submitInput())).task;
      const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 });
      const now = Date.now();
      const followUps = [1, 2, 3].map((n) => buildTask(submitInput({ title: `follow-up ${n}` }), { now, maxAttempts: 3, idempotencyKey: `follow-up:${parent.id}:${n}` }));
      await repo.transition({ task: claimed!, to: 'completed', fields: { completedAt: now }, followUps });
      const found = await repo.getByIdempotencyKeys(followUps.map((t) => t.idempotencyKey!));
      const ids = [1, 2, 3].map((n) => found.get(`follow-up:${parent.id}:${n}`)?.task.id);
      expect(ids.every((id) => id !== undefined && id > parent.id)).toBe(true);
      expect(new Set(ids).size).toBe(3);
      expect(ids[1]! - ids[0]!).toBe(1);

      // Occurrences: two in one fire, after a key that exists already (skipped, leaving a gap).
      const schedules = new ScheduleRepository(driver);
      await driver.run("INSERT INTO schedules (name, cron, task, next_run_at, created_at, updated_at) VALUES ('s', '* * * * *', '{}', 1, 1, 1)");
      const schedule = (await schedules.get('s'))!;
      const occurrence = (key: string) => buildTask(submitInput({ title: key }), { now, maxAttempts: 3, idempotencyKey: key });
      const [fired] = await schedules.fire([{ schedule, nextRunAt: 2, lastRunAt: 1, now, tasks: [occurrence(`follow-up:${parent.id}:1`), occurrence('occ:a'), occurrence('occ:b')] }]);
      expect(fired).toEqual({ advanced: true, inserted: 2 });
      const occurrences = await repo.getByIdempotencyKeys(['occ:a', 'occ:b']);
      expect(occurrences.get('occ:b')!.task.id - occurrences.get('occ:a')!.task.id).toBe(1);
      expect(occurrences.get('occ:a')!.task.id).toBeGreaterThan(ids[2]!);
    });
  });
});

describe('ids from three OS processes submitting at once', () => {
  const race = async (url: string) => {
    const run = () => promisify(execFile)('node', ['--import', 'tsx', 'test/fixtures/submit.ts', url, '30'], { cwd: ROOT }).then((r) => JSON.parse(r.stdout) as number[][]);
    const runs = await Promise.all([run(), run(), run()]);
    const all = runs.flat(2);
    expect(all).toHaveLength(900);
    expect(new Set(all).size).toBe(900);
    // Within a process each wave committed after the one before: its ids are all above.
    for (const waves of runs) {
      for (let i = 1; i < waves.length; i++) expect(Math.min(...waves[i]!)).toBeGreaterThan(Math.max(...waves[i - 1]!));
    }
    const client = createClient({ url });
    try {
      expect(Number((await client.execute('SELECT count(*) AS n FROM tasks')).rows[0]!.n)).toBe(900);
    } finally {
      client.close();
    }
  };

  it('to one libSQL file: every id unique, increasing within each process, every row stored', async () => {
    const url = tempDbUrl();
    await migrateDatabase({ url });
    await race(url);
  }, 60_000);

  it.skipIf(!sqldOk)('to one sqld: the same', async () => {
    const sqld = await startSqld();
    try {
      await migrateDatabase({ url: sqld.url });
      await race(sqld.url);
    } finally {
      await sqld.stop();
    }
  }, 60_000);
});

describe('query plans', () => {
  const plan = async (t: TestRepo, sql: string, args: (string | number)[] = []) =>
    (await t.driver.all(`EXPLAIN QUERY PLAN ${sql}`, args)).map((row) => String(row.detail)).join('\n');

  it('newest first by status or type walks (status) / (type) backwards with no sort; an id is a rowid seek; the claim walks its index', async () => {
    const t = await openTestRepo();
    try {
      const byStatus = await plan(t, "SELECT * FROM tasks WHERE status = 'pending' AND id < ? ORDER BY id DESC LIMIT 50", [1e15]);
      expect(byStatus).toMatch(/SEARCH tasks USING INDEX tasks_status_id \(status=\? AND rowid<\?\)/);
      expect(byStatus).not.toMatch(/TEMP B-TREE/);
      const byType = await plan(t, "SELECT * FROM tasks WHERE type = 'x' ORDER BY id DESC LIMIT 50");
      expect(byType).toMatch(/SEARCH tasks USING INDEX tasks_type_id \(type=\?\)/);
      expect(byType).not.toMatch(/TEMP B-TREE/);
      const all = await plan(t, 'SELECT * FROM tasks ORDER BY id DESC LIMIT 50');
      expect(all).toMatch(/SCAN tasks/);
      expect(all).not.toMatch(/TEMP B-TREE|INDEX/);
      expect(await plan(t, 'SELECT * FROM tasks WHERE id = ?', [5])).toMatch(/SEARCH tasks USING INTEGER PRIMARY KEY \(rowid=\?\)/);
      expect(await plan(t, 'SELECT id FROM tasks WHERE legacy_id = ?', ['x'])).toMatch(/USING COVERING INDEX tasks_legacy_id|USING INDEX tasks_legacy_id/);
      const claim = await plan(
        t,
        `SELECT id FROM tasks INDEXED BY tasks_claim_pending WHERE status = 'pending' AND flow_key IS NULL AND run_at <= ? ORDER BY priority DESC, run_at, id LIMIT 10`,
        [Date.now()],
      );
      expect(claim).toMatch(/tasks_claim_pending/);
      expect(claim).not.toMatch(/TEMP B-TREE/);
    } finally {
      await t.close();
    }
  });
});

describe('migration 0004 on a file made by migrations 0000–0003', () => {
  it('keeps every row, orders ids as before, keeps state and leases, resolves old ids, and processes the pending ones', async () => {
    // A database as the previous release left it: migrations 0000–0003 only.
    const dir = tempDir();
    const url = `file:${join(dir, 'old.db')}`;
    await migratePreviousSchema(dir, join(dir, 'old.db'));
    const client = createClient({ url });
    const applied = await client.execute('SELECT count(*) AS n FROM __drizzle_migrations');
    expect(Number(applied.rows[0]!.n)).toBe(4);

    // Old rows: UUIDv7 ids, several in one millisecond (ordered by the uuid counter), a pending
    // task, a running one with a live lease, finished ones, and one with a hand-made id.
    const now = Date.now();
    const t0 = now - 60_000;
    const rows: { id: string; status: string; at: number; version: number; lease: number | null }[] = [];
    const add = (ms: number, status: string, version = 1, lease: number | null = null) => {
      const id = v7({ msecs: ms });
      rows.push({ id, status, at: ms, version, lease });
    };
    add(t0, 'completed', 3);
    add(t0, 'failed', 4);
    add(t0, 'pending');
    add(t0 + 5, 'pending');
    add(t0 + 7, 'in_progress', 2, now + 600_000);
    add(t0 + 9, 'cancelled', 2);
    for (const row of rows) {
      await client.execute({
        sql: `INSERT INTO tasks (id, title, description, status, version, type, run_at, attempts, max_attempts, lease_expires_at, locked_by, created_at, updated_at, completed_at)
          VALUES (?, ?, 'old', ?, ?, 'simulate', ?, ?, 3, ?, ?, ?, ?, ?)`,
        args: [row.id, `old ${row.status}`, row.status, row.version, row.at, row.status === 'pending' ? 0 : 1, row.lease, row.lease ? 'old-worker' : null, row.at, row.at,
          ['completed', 'failed', 'cancelled'].includes(row.status) ? row.at + 1 : null],
      });
    }
    await client.execute({
      sql: "INSERT INTO tasks (id, title, description, status, type, run_at, max_attempts, created_at, updated_at) VALUES ('hand-made', 'hand', 'made', 'pending', 'simulate', ?, 3, ?, ?)",
      args: [t0 + 20, t0 + 20, t0 + 20],
    });
    client.close();

    // The release with this migration starts on it.
    const runtime = await startRuntime({ env: { DATABASE_URL: url } });
    const migrated = (await runtime.repo.list({ limit: 100 })).reverse();
    expect(migrated).toHaveLength(rows.length + 1);
    const legacy = new Map((await runtime.repo.idsByLegacyId([...rows.map((r) => r.id), 'hand-made'])).entries());
    // Ids in the old order, each from its UUID's millisecond (rank within it as the low bits).
    const sortedOld = [...rows].sort((a, b) => (a.id < b.id ? -1 : 1));
    const newIds = sortedOld.map((row) => legacy.get(row.id)!);
    expect(newIds).toEqual([...newIds].sort((a, b) => a - b));
    expect(newIds.slice(0, 3)).toEqual([0, 1, 2].map((i) => (t0 - ID_EPOCH_MS) * IDS_PER_MS + i));
    expect(newIds[3]).toBe(idFloor(t0 + 5));
    // The hand-made id: its created_at's millisecond.
    expect(legacy.get('hand-made')).toBe(idFloor(t0 + 20));
    for (const row of rows) {
      const task = await runtime.repo.get(legacy.get(row.id)!);
      expect(task).toMatchObject({ status: row.status, version: row.version, leaseExpiresAt: row.lease, createdAt: row.at });
    }
    // Old ids still resolve over the API; the task then shows its new id.
    const running = rows.find((r) => r.status === 'in_progress')!;
    const got = await runtime.app.request(`/tasks/${running.id}`);
    expect(got.status).toBe(200);
    expect(await got.json()).toMatchObject({ id: formatTaskId(legacy.get(running.id)!), status: 'in_progress', locked_by: 'old-worker' });
    const failed = rows.find((r) => r.status === 'failed')!;
    expect(await (await runtime.app.request(`/tasks/${failed.id}/retry`, { method: 'POST' })).json()).toMatchObject({ id: formatTaskId(legacy.get(failed.id)!), status: 'pending' });
    expect((await runtime.app.request(`/tasks/${running.id}/cancel`, { method: 'POST' })).status).toBe(200);
    const cancelled = rows.find((r) => r.status === 'cancelled')!;
    expect((await runtime.app.request(`/tasks/${cancelled.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await runtime.app.request(`/tasks/${cancelled.id}`)).status).toBe(404);
    expect((await runtime.app.request(`/tasks/${v7()}`)).status).toBe(404);
    const bulk = await runtime.app.request('/tasks/cancel', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids: ['hand-made'] }) });
    expect(await bulk.json()).toEqual({ matched: 1, changed: 1 });

    // New tasks come after every migrated one; the pending ones (and the retried) get processed.
    const fresh = (await runtime.service.submit(submitInput())).task;
    expect(fresh.id).toBeGreaterThan(Math.max(...legacy.values()));
    runtime.start();
    await waitFor(async () => (await runtime.repo.stats()).counts.pending === 0, 10_000, 'the pending tasks to be processed');
    const stats = await runtime.repo.stats();
    expect(stats.counts).toEqual({ pending: 0, in_progress: 0, completed: 5, failed: 0, cancelled: 2 });
  }, 30_000);
});
