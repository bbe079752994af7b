import { describe, expect, it, onTestFinished } from 'vitest';
import type { Row, RunResult, SqlDriver, SqlValue, Statement } from '../lib/db/driver.ts';
import { GroupCommitDriver } from '../lib/db/group-commit.ts';
import { ANY_FLOW_PENDING } from '../lib/flow-control/claim.ts';
import { createLogger } from '../lib/foundation/log.ts';
import type { Task } from '../lib/tasks/model.ts';
import { TaskRepository, type TransitionRequest } from '../lib/tasks/repository.ts';
import { TaskService } from '../lib/tasks/service.ts';
import { openDatabase } from '../local/database.ts';
import { submitInput, tempDbUrl } from './helpers.ts';

/**
 * The claim rides in the group commit (lib/db/group-commit.ts, TaskRepository.claimDueTasks):
 * one transaction with the completions of its turn, after them, so a slot of a flow-control
 * key that a completion frees is claimable in the same commit; and when that shared
 * transaction fails, the claim is tried alone and nothing is lost or claimed twice. A real
 * libSQL file with both file drivers; a wrapper records each batch (one batch = one
 * transaction) and forwards it to the real driver.
 */

class RecordingDriver implements SqlDriver {
  readonly description: string;
  /**
   * Per batch() call, each statement in order: 'claim', 'flowCheck' (ANY_FLOW_PENDING, sent
   * after a claim with its flow arm), 'bad' (the failing INSERT below) or 'write'.
   */
  readonly batches: string[][] = [];
  constructor(readonly inner: SqlDriver) {
    this.description = inner.description;
  }
  all(sql: string, args?: SqlValue[]): Promise<Row[]> {
    return this.inner.all(sql, args);
  }
  values(sql: string, args?: SqlValue[]): Promise<SqlValue[][]> {
    return this.inner.values(sql, args);
  }
  run(sql: string, args?: SqlValue[]): Promise<RunResult> {
    return this.inner.run(sql, args);
  }
  batch(statements: Statement[]): Promise<RunResult[]> {
    this.batches.push(
      statements.map((s) => (/^\s*WITH RECURSIVE[\s\S]*UPDATE tasks/.test(s.sql) ? 'claim' : s.sql === ANY_FLOW_PENDING ? 'flowCheck' : /no_such_table/.test(s.sql) ? 'bad' : 'write')),
    );
    return this.inner.batch(statements);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

async function setup(fileDriver: 'native' | 'client') {
  const raw = await openDatabase({ url: tempDbUrl(), fileDriver });
  onTestFinished(() => raw.close());
  const recorder = new RecordingDriver(raw);
  const writes = new GroupCommitDriver(recorder);
  const repo = new TaskRepository(writes);
  const service = new TaskService(repo, { maxAttempts: 3, maxPending: 0 }, createLogger('silent'));
  const claim = (limit: number) => repo.claimDueTasks({ limit, workerId: 'w', leaseMs: 60_000 });
  const complete = (task: Task): TransitionRequest => {
    const now = Date.now();
    return { task, to: 'completed', now, fields: { result: 'null', completedAt: now, leaseExpiresAt: null, lastError: null } };
  };
  return { raw, recorder, writes, repo, service, claim, complete };
}

describe.each(['native', 'client'] as const)('the claim in the group commit (%s driver)', (fileDriver) => {
  it('shares one transaction with the completions of its turn, after them: a freed flow-control slot is claimed in the same commit', async () => {
    const t = await setup(fileDriver);
    const flowControl = { key: 'k', parallelism: 1 };
    for (let i = 0; i < 3; i++) await t.service.submit(submitInput({ title: `t${i}`, flowControl }));
    const [first] = await t.claim(10);
    expect(first).toBeDefined();
    expect(await t.claim(10)).toEqual([]); // the key's one slot is taken

    t.recorder.batches.length = 0;
    // In one turn: the completion of the running task, then a claim. The completion reaches
    // the group commit a turn later than the claim (CompletionBatcher), yet goes first.
    const completed = t.repo.transition(t.complete(first!));
    const claimed = t.claim(10);
    const [done, next] = await Promise.all([completed, claimed]);
    expect(done.status).toBe('completed');
    expect(next).toHaveLength(1);
    expect(next[0]!.id).not.toBe(first!.id);
    expect(next[0]!.status).toBe('in_progress');
    // With a task with a key pending, the claim asks again whether one is (TaskRepository.claimDueTasks), in its own unit.
    expect(t.recorder.batches).toEqual([['write', 'claim', 'flowCheck']]);
  });

  it('a shared transaction that fails with a claim in it: each unit alone, the claim once, nothing lost or claimed twice', async () => {
    const t = await setup(fileDriver);
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push((await t.service.submit(submitInput({ title: `t${i}` }))).task.id);
    const [first] = await t.claim(1);

    t.recorder.batches.length = 0;
    const completed = t.repo.transition(t.complete(first!));
    const bad = t.writes.run('INSERT INTO no_such_table (x) VALUES (1)');
    const claimed = t.claim(10);
    await expect(bad).rejects.toThrow(/no_such_table/);
    const [done, batch] = await Promise.all([completed, claimed]);
    // One shared transaction (failed, rolled back), then each unit alone; the claim last.
    expect(t.recorder.batches).toEqual([['bad', 'write', 'claim'], ['bad'], ['write'], ['claim']]);

    expect(done.status).toBe('completed');
    expect(batch.map((task) => task.id).sort()).toEqual(ids.filter((id) => id !== first!.id).sort());
    // What the claim returned is what the database holds: each task claimed once (version 2,
    // attempt 1), by this worker, and no claim finds anything more.
    for (const task of batch) {
      const row = await t.repo.get(task.id);
      expect(row).toMatchObject({ status: 'in_progress', version: task.version, attempts: 1, lockedBy: 'w' });
    }
    expect(await t.claim(10)).toEqual([]);
    expect((await t.repo.get(first!.id))?.status).toBe('completed');
  });
});
