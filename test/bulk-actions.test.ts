import Database from 'libsql';
import { describe, expect, it } from 'vitest';
import { abortableSleep, type TaskHandler } from '../lib/processing/handlers.ts';
import { formatTaskId } from '../lib/tasks/ids.ts';
import type { Runtime } from '../local/runtime.ts';
import { filePath, openDatabase } from '../local/database.ts';
import { startRuntime, submitInput, tempDbUrl, testConfig, waitFor, type TestRepo } from './helpers.ts';
import { forEachStorage, sqldAvailable } from './sqld.ts';

/**
 * DELETE /tasks/:id, POST /tasks/cancel and POST /tasks/retry with a filter: exact
 * {matched, changed} across pages (500 a page), by ids, status, type and created_before, on a
 * file and on sqld; running handlers aborted by a bulk cancel; workers completing while a
 * bulk cancel runs never see a task leave a final state (a trigger records every transition).
 */

async function call(runtime: Runtime, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await runtime.app.fetch(
    new Request(`http://test${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }),
  );
  return { status: response.status, body: response.status === 204 ? {} : ((await response.json()) as Record<string, unknown>) };
}

const sqldOk = await sqldAvailable();

function contract(name: string, open: () => Promise<TestRepo>) {
  describe(`bulk actions on ${name}`, () => {
    it('by type, status and created_before: exact counts across pages; again changes nothing', async () => {
      const { service, driver } = await open();
      await driver.run('DELETE FROM tasks');
      const type = (t: string) => ({ input: submitInput({ type: t, title: t }) });
      await service.submitMany([...Array.from({ length: 700 }, () => type('a')), ...Array.from({ length: 500 }, () => type('b'))]);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const between = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 5));
      await service.submitMany(Array.from({ length: 30 }, () => type('a')));

      expect(await service.cancelMatching({ type: 'a', createdBefore: between })).toEqual({ matched: 700, changed: 700 });
      expect(await service.cancelMatching({ type: 'a' })).toEqual({ matched: 730, changed: 30 });
      expect(await service.cancelMatching({ type: 'a' })).toEqual({ matched: 730, changed: 0 });
      expect(await service.retryMatching({ status: 'pending' })).toEqual({ matched: 500, changed: 0 });
      expect(await service.retryMatching({ status: 'cancelled', createdBefore: between })).toEqual({ matched: 700, changed: 700 });
      const counts = (await service.stats()).counts;
      expect(counts).toMatchObject({ pending: 1200, cancelled: 30 });
      const retried = (await service.list({ status: 'pending', type: 'a', limit: 1 }))[0]!;
      expect(retried).toMatchObject({ attempts: 0, completedAt: null, version: 3 });
    });

    it('by ids: unknown ids are not matched, ineligible ones not changed', async () => {
      const { service } = await open();
      const [a, b, c] = await service.submitMany([{ input: submitInput() }, { input: submitInput() }, { input: submitInput() }]);
      await service.cancel(c!.task.id);
      // A public id, a number, and ids that name nothing (a free id, an unknown old UUID).
      const ids = await service.resolveIds([formatTaskId(a!.task.id), formatTaskId(b!.task.id), formatTaskId(c!.task.id), formatTaskId(c!.task.id + 1), '01890000-0000-7000-8000-000000000000']);
      expect(await service.cancelMatching({ ids })).toEqual({ matched: 3, changed: 2 });
      expect(await service.retryMatching({ ids: [a!.task.id, c!.task.id + 1] })).toEqual({ matched: 1, changed: 1 });
      expect((await service.get(a!.task.id)).status).toBe('pending');
    });

    it('a running task cancelled and retried in bulk waits for its attempt, like a single cancel and retry', async () => {
      const { service, repo, driver } = await open();
      await driver.run('DELETE FROM tasks');
      const { task } = await service.submit(submitInput({ type: 'bulk-lease' }));
      const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 60_000 });
      expect(await service.cancelMatching({ type: 'bulk-lease' })).toEqual({ matched: 1, changed: 1 });
      expect(await service.retryMatching({ type: 'bulk-lease' })).toEqual({ matched: 1, changed: 1 });
      expect(await service.get(task.id)).toMatchObject({ status: 'pending', runAt: claimed!.leaseExpiresAt, leaseExpiresAt: claimed!.leaseExpiresAt });
      expect(await repo.claimDueTasks({ limit: 1, workerId: 'x', leaseMs: 60_000 })).toEqual([]);
    });
  });
}

forEachStorage(sqldOk, contract);

describe('over HTTP', () => {
  it('DELETE /tasks/:id: 204, then 404; 409 while running', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const hold: TaskHandler = async () => gate;
    const rt = await startRuntime({ handlers: { hold } });
    rt.start();
    const pending = await rt.service.submit(submitInput({ delaySeconds: 3600 }));
    expect(await call(rt, 'DELETE', `/tasks/${formatTaskId(pending.task.id)}`)).toEqual({ status: 204, body: {} });
    expect(await call(rt, 'GET', `/tasks/${formatTaskId(pending.task.id)}`)).toMatchObject({ status: 404 });
    expect(await call(rt, 'DELETE', `/tasks/${formatTaskId(pending.task.id)}`)).toEqual({ status: 404, body: { message: 'task not found', code: 'not_found' } });

    const running = await rt.service.submit(submitInput({ type: 'hold' }));
    await waitFor(async () => (await rt.service.get(running.task.id)).status === 'in_progress');
    expect(await call(rt, 'DELETE', `/tasks/${formatTaskId(running.task.id)}`)).toEqual({ status: 409, body: { message: 'task is running; cancel it first', code: 'task_running' } });
    release();
    await waitFor(async () => (await rt.service.get(running.task.id)).status === 'completed');
    expect((await call(rt, 'DELETE', `/tasks/${formatTaskId(running.task.id)}`)).status).toBe(204);
  });

  it('POST /tasks/cancel aborts running handlers; the tasks end cancelled', async () => {
    const aborted: string[] = [];
    const hold: TaskHandler = async (task, { signal }) => {
      try {
        await abortableSleep(60_000, signal);
      } catch (error) {
        aborted.push(task.id);
        throw error;
      }
    };
    const rt = await startRuntime({ handlers: { hold }, env: { TASK_WORKERS: '5' } });
    rt.start();
    const results = await rt.service.submitMany(Array.from({ length: 3 }, () => ({ input: submitInput({ type: 'hold' }) })));
    await rt.service.submit(submitInput({ type: 'hold', delaySeconds: 3600 }));
    await waitFor(() => rt.pool.running === 3);
    expect(await call(rt, 'POST', '/tasks/cancel', { type: 'hold', status: 'in_progress' })).toEqual({ status: 200, body: { matched: 3, changed: 3 } });
    await waitFor(() => aborted.length === 3);
    expect(aborted.sort()).toEqual(results.map((r) => formatTaskId(r.task.id)).sort());
    for (const r of results) expect((await rt.service.get(r.task.id)).status).toBe('cancelled');
    expect(await call(rt, 'POST', '/tasks/cancel', { type: 'hold' })).toEqual({ status: 200, body: { matched: 4, changed: 1 } });
    expect(await call(rt, 'POST', '/tasks/retry', { ids: [formatTaskId(results[0]!.task.id)] })).toEqual({ status: 200, body: { matched: 1, changed: 1 } });
  });

  it('bad filters: 400 naming the field, nothing changed', async () => {
    const rt = await startRuntime({ processing: false });
    const { task } = await rt.service.submit(submitInput());
    const bad = async (body: unknown) => (await call(rt, 'POST', '/tasks/cancel', body)).body;
    expect(await bad({ statuz: 'pending' })).toEqual({ message: 'unknown field "statuz" (the filter takes ids, status, type, created_before)', code: 'invalid_field' });
    expect(await bad({ created_before: 'yesterday' })).toEqual({ message: 'created_before must be an ISO-8601 date-time with a time zone, e.g. 2026-01-02T03:04:05Z', code: 'invalid_field' });
    expect(await bad({ created_before: 1700000000000 })).toMatchObject({ message: 'created_before must be an ISO-8601 date-time string' });
    expect(await bad({})).toMatchObject({ message: 'the filter needs ids, or at least one of status, type, created_before' });
    expect(await bad({ ids: [] })).toMatchObject({ message: 'ids must not be empty' });
    expect(await bad({ ids: 'x' })).toMatchObject({ message: 'ids must be an array of task ids' });
    expect(await bad({ ids: [formatTaskId(task.id)], status: 'pending' })).toMatchObject({ message: 'ids selects tasks by itself: use ids, or status/type/created_before, not both' });
    expect(await bad({ status: 'done' })).toMatchObject({ message: 'status must be one of pending, in_progress, completed, failed, cancelled' });
    expect(await bad([1])).toMatchObject({ code: 'invalid_field' });
    expect((await rt.service.get(task.id)).status).toBe('pending');
  });
});

describe('a bulk cancel while workers complete', () => {
  it('no task leaves a final state; each ends completed or cancelled, exactly as counted', async () => {
    const url = tempDbUrl();
    await (await openDatabase({ url })).close();
    const db = new Database(filePath(url));
    db.exec(`CREATE TABLE transitions (id TEXT NOT NULL, from_status TEXT NOT NULL, to_status TEXT NOT NULL);
      CREATE TRIGGER record_transition AFTER UPDATE OF status ON tasks WHEN old.status <> new.status BEGIN
        INSERT INTO transitions VALUES (old.id, old.status, new.status);
      END;`);
    db.close();
    const quick: TaskHandler = async () => new Promise((resolve) => setTimeout(() => resolve(null), Math.random() * 3));
    const rt = await startRuntime({ config: testConfig({ DATABASE_URL: url, TASK_WORKERS: '10', TASK_QUEUE_SIZE: '50', TASK_POLL_BATCH_SIZE: '50' }), handlers: { quick } });
    const submitted = await rt.service.submitMany(Array.from({ length: 1500 }, () => ({ input: submitInput({ type: 'quick' }) })));
    rt.start();
    await waitFor(() => rt.pool.counts.completed >= 200);
    const [a, b] = await Promise.all([rt.service.cancelMatching({ type: 'quick' }), rt.service.cancelMatching({ status: 'in_progress' })]);
    await waitFor(() => rt.pool.idle);
    const statuses = await rt.driver.all('SELECT status, count(*) AS n FROM tasks GROUP BY status');
    const byStatus = Object.fromEntries(statuses.map((r) => [String(r.status), Number(r.n)]));
    expect(Object.keys(byStatus).sort()).toEqual(['cancelled', 'completed']);
    expect(byStatus.completed! + byStatus.cancelled!).toBe(submitted.length);
    expect(a.changed + b.changed).toBe(byStatus.cancelled);
    const fromFinal = await rt.driver.all("SELECT * FROM transitions WHERE from_status IN ('completed', 'failed', 'cancelled')");
    expect(fromFinal).toEqual([]);
  });
});
