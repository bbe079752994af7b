import { describe, expect, it, onTestFinished } from 'vitest';
import type { Row, RunResult, SqlDriver, SqlValue, Statement } from '../lib/db/driver.ts';
import { GroupCommitDriver } from '../lib/db/group-commit.ts';
import { createLogger } from '../lib/foundation/log.ts';
import { createClient } from '../lib/client/index.ts';
import { abortableSleep, createHandlerRegistry, type TaskHandler } from '../lib/processing/handlers.ts';
import { Heartbeat } from '../lib/processing/heartbeat.ts';
import { StopReason } from '../lib/processing/outcome.ts';
import { processTask, type ProcessDeps } from '../lib/processing/process-task.ts';
import { formatTaskId } from '../lib/tasks/ids.ts';
import { TaskRepository } from '../lib/tasks/repository.ts';
import { TaskService } from '../lib/tasks/service.ts';
import { defineWorkflow } from '../lib/workflows/define.ts';
import { progressBar } from '../lib/ui/pages/task.tsx';
import { openDatabase } from '../local/database.ts';
import { startRuntime, submitInput, tempDbUrl, waitFor, waitForStatus } from './helpers.ts';

/**
 * Every attempt kept (GET /tasks/:id/attempts) and progress (ctx.progress), issue 23: what is
 * recorded for each way an attempt ends, the bound, deletion with the task, and that a task
 * completing at its first attempt costs no statement more; progress throttled, bounded and
 * fenced by the attempt's version.
 */

/** A real driver whose writes (run, batch) are listed: statements are counted, not faked. */
function countingDriver(inner: SqlDriver): SqlDriver & { writes: string[] } {
  const writes: string[] = [];
  return {
    writes,
    description: inner.description,
    all: (sql: string, args?: SqlValue[]): Promise<Row[]> => inner.all(sql, args),
    values: (sql: string, args?: SqlValue[]) => inner.values(sql, args),
    run: (sql: string, args?: SqlValue[]): Promise<RunResult> => (writes.push(sql), inner.run(sql, args)),
    batch: (statements: Statement[]) => (writes.push(...statements.map((s) => s.sql)), inner.batch(statements)),
    close: () => inner.close(),
  };
}

async function open(attemptsKept = 20) {
  const driver = await openDatabase({ url: tempDbUrl(), fileDriver: 'native' });
  onTestFinished(() => driver.close());
  const counted = countingDriver(driver);
  const repo = new TaskRepository(new GroupCommitDriver(counted), { attemptsKept });
  const service = new TaskService(repo, { maxAttempts: 3, maxPending: 0 }, createLogger('silent'));
  const rows = async (taskId?: number) =>
    Number((await driver.all(`SELECT count(*) AS n FROM task_attempts${taskId === undefined ? '' : ' WHERE task_id = ?'}`, taskId === undefined ? [] : [taskId]))[0]!.n);
  return { driver, repo, service, writes: counted.writes, rows };
}

function deps(repo: TaskRepository, handlers: Record<string, TaskHandler>, config: Partial<ProcessDeps['config']> = {}): ProcessDeps {
  const registry = createHandlerRegistry({ simulateMinMs: 0, simulateMaxMs: 0 });
  for (const [type, handler] of Object.entries(handlers)) registry.register(type, handler);
  return { repo, handlers: registry, logger: createLogger('silent'), config: { leaseSeconds: 30, timeoutSeconds: 30, backoffBaseMs: 0, backoffMaxMs: 0, maxAttempts: 3, ...config } };
}

/** Fails on its first `failures` attempts with "boom <attempt>", then returns `{ attempt }`. */
const failsThenSucceeds = (failures: number): TaskHandler => async (_task, { attempt }) => {
  if (attempt <= failures) throw new Error(`boom ${attempt}`);
  return { attempt };
};

describe('attempt history', () => {
  it('a task that failed twice then succeeded: three attempts with their workers, times, outcomes and errors', async () => {
    const { repo, service } = await open();
    const d = deps(repo, { flaky: failsThenSucceeds(2) });
    const { task } = await service.submit(submitInput({ type: 'flaky' }));
    const outcomes = [];
    for (const worker of ['host-a:1', 'host-b:2', 'host-c:3']) {
      const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: worker, leaseMs: 30_000 });
      outcomes.push(await processTask(d, claimed!));
    }
    expect(outcomes).toEqual(['retried', 'retried', 'completed']);

    const { attempts } = await service.attempts(formatTaskId(task.id));
    expect(attempts.map(({ attempt, worker, outcome, error }) => ({ attempt, worker, outcome, error }))).toEqual([
      { attempt: 1, worker: 'host-a:1', outcome: 'retried', error: 'boom 1' },
      { attempt: 2, worker: 'host-b:2', outcome: 'retried', error: 'boom 2' },
      { attempt: 3, worker: 'host-c:3', outcome: 'completed', error: null },
    ]);
    // Times: each attempt ends after it starts, and the next starts after it ended.
    for (const [i, attempt] of attempts.entries()) {
      expect(attempt.startedAt).not.toBeNull();
      expect(attempt.endedAt!).toBeGreaterThanOrEqual(attempt.startedAt!);
      if (i > 0) expect(attempt.startedAt!).toBeGreaterThanOrEqual(attempts[i - 1]!.endedAt!);
    }
    // The completed one is the task row's own.
    const final = (await repo.get(task.id))!;
    expect(attempts[2]).toMatchObject({ startedAt: final.startedAt, endedAt: final.completedAt });
  });

  it('keeps the newest TASK_ATTEMPTS_KEPT (2 here), and 0 keeps none', async () => {
    const kept2 = await open(2);
    const d = deps(kept2.repo, { fail: failsThenSucceeds(99) });
    const { task } = await kept2.service.submit(submitInput({ type: 'fail', maxAttempts: 4 }));
    for (let i = 0; i < 4; i++) {
      const [claimed] = await kept2.repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 });
      await processTask(d, claimed!);
    }
    expect(await kept2.rows(task.id)).toBe(2);
    const { attempts } = await kept2.service.attempts(task.id);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.error])).toEqual([
      [3, 'retried', 'boom 3'],
      [4, 'failed', 'boom 4'],
    ]);

    const off = await open(0);
    const { task: other } = await off.service.submit(submitInput({ type: 'fail', maxAttempts: 2 }));
    const dOff = deps(off.repo, { fail: failsThenSucceeds(99) });
    for (let i = 0; i < 2; i++) await processTask(dOff, (await off.repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 }))[0]!);
    expect((await off.repo.get(other.id))!.status).toBe('failed');
    expect(await off.rows()).toBe(0);
    expect((await off.service.attempts(other.id)).attempts).toEqual([]);
  });

  it('a task that completes at its first attempt writes nothing more: one statement after the claim, no row, version 3', async () => {
    const { repo, service, writes, rows } = await open();
    const d = deps(repo, { ok: async () => 'done' });
    const { task } = await service.submit(submitInput({ type: 'ok' }));
    const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 });
    writes.length = 0;
    expect(await processTask(d, claimed!)).toBe('completed');
    // The completion and nothing else: no INSERT, no trim, no second statement in its batch.
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^UPDATE tasks SET status = \?/);
    expect(await rows()).toBe(0);
    const done = (await repo.get(task.id))!;
    expect(done).toMatchObject({ status: 'completed', version: 3, attempts: 1, progress: null });
    // Its one attempt comes from the row.
    expect((await service.attempts(task.id)).attempts).toEqual([
      { attempt: 1, worker: 'w', startedAt: done.startedAt, endedAt: done.completedAt, outcome: 'completed', error: null },
    ]);
  });

  it('records a timeout as timed_out, a shutdown as released, and a cancel once the handler has returned', async () => {
    const { repo, service, rows } = await open();
    let returned = false;
    const d = deps(
      repo,
      {
        slow: (_task, { signal }) => abortableSleep(30_000, signal),
        // Honours its signal 100 ms late: the cancelled attempt is recorded once it has returned.
        lingering: async (_task, { signal }) => {
          await abortableSleep(30_000, signal).catch(() => new Promise((resolve) => setTimeout(resolve, 100)));
          returned = true;
        },
      },
      { timeoutSeconds: 0.05 },
    );
    const timedOut = (await service.submit(submitInput({ type: 'slow', maxAttempts: 1 }))).task;
    expect(await processTask(d, (await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 }))[0]!)).toBe('failed');
    expect((await service.attempts(timedOut.id)).attempts).toMatchObject([{ attempt: 1, outcome: 'timed_out', error: 'StopReason: timed out after 0.05s' }]);

    const released = (await service.submit(submitInput({ type: 'slow' }))).task;
    let stop: ((reason: StopReason) => void) | undefined;
    const run = processTask({ ...d, config: { ...d.config, timeoutSeconds: 30 } }, (await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 }))[0]!, { bindAbort: (abort) => (stop = abort) });
    stop!(new StopReason('shutdown', 'shutting down'));
    expect(await run).toBe('released');
    expect((await service.attempts(released.id)).attempts).toMatchObject([{ attempt: 1, worker: 'w', outcome: 'released', error: null }]);
    expect((await repo.get(released.id))!.attempts).toBe(0);

    // Ahead of the released task, which is due again.
    const cancelled = (await service.submit(submitInput({ type: 'lingering', priority: 1 }))).task;
    const cancelRun = processTask({ ...d, config: { ...d.config, timeoutSeconds: 30 } }, (await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 }))[0]!, { bindAbort: (abort) => (stop = abort) });
    await service.cancel(cancelled.id);
    stop!(new StopReason('cancelled', 'task was cancelled'));
    expect(await cancelRun).toBe('cancelled');
    // Not yet: the handler has not returned.
    expect(returned).toBe(false);
    expect(await rows(cancelled.id)).toBe(0);
    await waitFor(async () => (await rows(cancelled.id)) === 1, 5000, 'the cancelled attempt recorded');
    expect(returned).toBe(true);
    expect((await service.attempts(cancelled.id)).attempts).toMatchObject([{ attempt: 1, worker: 'w', outcome: 'cancelled', error: null }]);
  });

  it('a reclaimed attempt is recorded as lease_expired by the claim that takes it; an expired last attempt by the sweep that fails it', async () => {
    const { repo, service } = await open();
    const { task } = await service.submit(submitInput({ maxAttempts: 2 }));
    const [first] = await repo.claimDueTasks({ limit: 1, workerId: 'dead:1', leaseMs: 1000 });
    // Its worker died: nothing renews the lease. The next claim after it ran out takes the task.
    const [second] = await repo.claimDueTasks({ limit: 1, workerId: 'alive:2', leaseMs: 1000, now: first!.leaseExpiresAt! + 1 });
    expect(second).toMatchObject({ id: task.id, attempts: 2, lockedBy: 'alive:2' });
    // The second dies on the last attempt: failed by the sweep, recorded with it.
    expect(await repo.failExpiredLastAttempts(second!.leaseExpiresAt! + 1)).toBe(1);
    const { attempts } = await service.attempts(task.id);
    expect(attempts).toEqual([
      { attempt: 1, worker: 'dead:1', startedAt: first!.startedAt, endedAt: first!.leaseExpiresAt, outcome: 'lease_expired', error: 'lease expired (worker died or stalled)' },
      { attempt: 2, worker: 'alive:2', startedAt: second!.startedAt, endedAt: second!.leaseExpiresAt, outcome: 'lease_expired', error: 'lease expired on the last attempt (worker died or stalled)' },
    ]);
  });

  it('go with their task: DELETE, retention and the API\'s 404', async () => {
    const { repo, service, rows } = await open();
    const d = deps(repo, { fail: failsThenSucceeds(99) });
    const ids: number[] = [];
    for (let i = 0; i < 2; i++) {
      const { task } = await service.submit(submitInput({ type: 'fail', maxAttempts: 1 }));
      await processTask(d, (await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 }))[0]!);
      ids.push(task.id);
    }
    expect(await rows()).toBe(2);
    await service.delete(ids[0]!);
    expect(await rows(ids[0])).toBe(0);
    expect(await rows(ids[1])).toBe(1);
    expect(await repo.deleteFinished(['failed'], Date.now() + 1000)).toBe(1);
    expect(await rows()).toBe(0);
    await expect(service.attempts(ids[0]!)).rejects.toMatchObject({ status: 404 });
  });
});

describe('progress', () => {
  it('100 reports in ~300 ms: written at once, then at most once a second, the last value with the completion', async () => {
    const { repo, service, writes } = await open();
    let elapsed = 0;
    const d = deps(repo, {
      busy: async (_task, { progress }) => {
        const started = performance.now();
        for (let i = 1; i <= 100; i++) {
          progress({ done: i, total: 100 });
          await new Promise((resolve) => setTimeout(resolve, 3));
        }
        elapsed = performance.now() - started;
        return 'ok';
      },
    });
    const { task } = await service.submit(submitInput({ type: 'busy' }));
    const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 });
    writes.length = 0;
    expect(await processTask(d, claimed!)).toBe('completed');
    const progressWrites = writes.filter((sql) => sql.includes('progress = ?'));
    // One at the first report, one a second for as long as it ran, the last with the completion.
    expect(progressWrites.length).toBeGreaterThanOrEqual(2);
    expect(progressWrites.length).toBeLessThanOrEqual(Math.ceil(elapsed / 1000) + 1);
    expect(writes.length).toBe(progressWrites.length);
    const done = (await repo.get(task.id))!;
    expect(JSON.parse(done.progress!)).toEqual({ done: 100, total: 100 });
    // Every write bumps the version: insert 1, claim 2, the writes above.
    expect(done.version).toBe(2 + progressWrites.length);
  });

  it('is readable while the task runs, in the task JSON and in a ?wait= answer', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const runtime = await startRuntime({
      handlers: {
        steps: async (_task, { progress }) => {
          progress(42);
          await gate;
          progress('finishing');
          return null;
        },
      },
    });
    runtime.start();
    const { task } = await runtime.service.submit(submitInput({ type: 'steps' }));
    const id = formatTaskId(task.id);
    await waitFor(async () => ((await (await runtime.app.request(`/tasks/${id}`)).json()) as { progress: unknown }).progress === 42, 5000, 'progress 42');
    const held = await runtime.app.request(`/tasks/${id}?wait=0.2`);
    expect(await held.json()).toMatchObject({ status: 'in_progress', progress: 42 });
    release();
    const final = await runtime.app.request(`/tasks/${id}?wait=5`);
    expect(await final.json()).toMatchObject({ status: 'completed', progress: 'finishing' });
  });

  it('over 1 KB, or not JSON: a TypeError naming the problem, nothing written', async () => {
    const { repo, service } = await open();
    const d = deps(repo, {
      big: async (_task, { progress }) => {
        const thrown: string[] = [];
        for (const value of ['x'.repeat(1100), { s: 'é'.repeat(600) }, 10n, undefined]) {
          try {
            progress(value);
            thrown.push('no error');
          } catch (error) {
            thrown.push(`${(error as Error).name}: ${(error as Error).message}`);
          }
        }
        progress('x'.repeat(1022)); // 1,024 bytes as JSON: allowed
        return thrown;
      },
    });
    const { task } = await service.submit(submitInput({ type: 'big' }));
    await processTask(d, (await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 }))[0]!);
    const done = (await repo.get(task.id))!;
    expect(JSON.parse(done.result!)).toEqual([
      'TypeError: progress is 1102 bytes as JSON; at most 1024 are allowed',
      'TypeError: progress is 1208 bytes as JSON; at most 1024 are allowed',
      expect.stringMatching(/^TypeError: progress must be a JSON value: .*BigInt/),
      'TypeError: progress must be a JSON value, not undefined',
    ]);
    expect(JSON.parse(done.progress!)).toBe('x'.repeat(1022));
  });

  it('is fenced by the attempt: once the task moved on (cancelled), a stale attempt\'s progress changes nothing', async () => {
    const { repo, service } = await open();
    const { task } = await service.submit(submitInput());
    const [claimed] = await repo.claimDueTasks({ limit: 1, workerId: 'w', leaseMs: 30_000 });
    const lost: StopReason[] = [];
    const heartbeat = new Heartbeat({ repo, task: claimed!, leaseMs: 30_000, onLost: (reason) => lost.push(reason), log: () => createLogger('silent') });
    heartbeat.progress('"first"');
    await waitFor(async () => (await repo.get(task.id))!.progress === '"first"', 5000, 'first progress');
    await service.cancel(task.id);
    const before = (await repo.get(task.id))!;
    // A second later the next write goes: it loses on the version and tells the attempt why.
    heartbeat.progress('"stale"');
    await waitFor(() => lost.length > 0, 5000, 'the stale write refused');
    await heartbeat.settle();
    expect(lost[0]!.kind).toBe('cancelled');
    expect(await repo.get(task.id)).toEqual(before);
  });
});

describe('GET /tasks/:id/attempts', () => {
  it('answers the history over HTTP and through the typed client; 404 for an unknown task', async () => {
    const runtime = await startRuntime({ env: { TASK_BACKOFF_BASE_MS: '0', TASK_BACKOFF_MAX_MS: '0' }, handlers: { flaky: failsThenSucceeds(2) } });
    runtime.start();
    const { task } = await runtime.service.submit(submitInput({ type: 'flaky' }));
    await waitForStatus(runtime.repo, task.id, 'completed');
    const client = createClient('http://task-pool.test', { fetch: async (input, init) => runtime.app.fetch(new Request(input, init)) });
    const list = await client.attempts(formatTaskId(task.id));
    expect(list).toMatchObject({ task_id: formatTaskId(task.id), count: 3 });
    expect(list.attempts.map((a) => [a.attempt, a.outcome, a.error, a.worker])).toEqual([
      [1, 'retried', 'boom 1', runtime.workerId],
      [2, 'retried', 'boom 2', runtime.workerId],
      [3, 'completed', null, runtime.workerId],
    ]);
    expect(list.attempts[0]!.started_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const missing = await runtime.app.request('/tasks/0000000000000001/attempts');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'not_found' });
  });
});

describe('the dashboard\'s progress bar (lib/ui/pages/task.tsx)', () => {
  it('is drawn for a number 0–100 or {done, total}; anything else is shown as JSON', () => {
    expect(progressBar(42)).toEqual({ percent: 42, label: '42%' });
    expect(progressBar(0)).toEqual({ percent: 0, label: '0%' });
    expect(progressBar({ done: 3, total: 12, eta: 'soon' })).toEqual({ percent: 25, label: '3 of 12' });
    for (const other of [101, -1, 'half', null, [1, 2], { done: 5, total: 0 }, { done: 6, total: 5 }, { done: '1', total: 2 }, Number.NaN]) expect(progressBar(other), JSON.stringify(other)).toBeNull();
  });
});

describe('a workflow run\'s progress', () => {
  it('ctx.progress shows on the run\'s task, across a suspension; its suspension is not an attempt', async () => {
    const report = defineWorkflow('report', async (ctx) => {
      await ctx.step('first half', () => ctx.progress(50));
      await ctx.sleep('pause', '50ms');
      await ctx.step('second half', () => ctx.progress({ done: 2, total: 2 }));
      return 'done';
    });
    const runtime = await startRuntime({ workflows: [report] });
    runtime.start();
    const { run } = await runtime.workflows.startRun('report', {});
    const task = await waitFor(async () => {
      const current = await runtime.service.get(run.id);
      return current.status === 'completed' ? current : null;
    }, 10_000, 'the run to complete');
    expect(JSON.parse(task.progress!)).toEqual({ done: 2, total: 2 });
    // Two executions (before and after the sleep), one attempt: the completed one.
    expect((await runtime.service.attempts(run.id)).attempts.map((a) => a.outcome)).toEqual(['completed']);
  });
});
