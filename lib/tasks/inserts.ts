import type { RunResult, SqlValue, Statement } from '../db/driver.ts';
import { idFloor } from './ids.ts';
import { taskFields, withId, type NewTask, type Task } from './model.ts';

/**
 * Every INSERT into `tasks`, the one family of statements that makes rows (the repository's
 * submit and batch, a transition's follow-ups, a schedule's occurrences). They share the id
 * scheme (NEXT_ID, below) and two column lists: every column (a task given whole, as tests and
 * the guarded inserts write it) and only the columns a new task varies (the rest left to the
 * table's defaults, which are a new task's values).
 */

/**
 * A new task's id (lib/tasks/ids.ts), computed by the INSERT itself, inside the write lock, so
 * two processes or hosts can never pick the same one: one past the largest id in the table,
 * at least the floor of the task's creation time (bound: `idFloor(createdAt)`), and at least
 * the high-water mark that deletes leave (`task_id_mark`, below), so a deleted id is never
 * handed out again. The max of the rowid is one B-tree seek to the last leaf, a page the insert
 * writes anyway; the mark is a one-row table the insert only reads.
 */
export const NEXT_ID = 'max(coalesce((SELECT max(id) FROM tasks), 0) + 1, ?, coalesce((SELECT next FROM task_id_mark), 0))';

/**
 * Runs first in every transaction that deletes tasks: raises the high-water mark to one past
 * the largest id now in the table, which may be among the rows about to go. One write to a
 * one-row table per delete statement (retention deletes up to 500 rows a statement).
 */
export const RAISE_ID_MARK: Statement = {
  sql: `INSERT INTO task_id_mark (one, next) SELECT 1, coalesce(max(id), 0) + 1 FROM tasks WHERE true
    ON CONFLICT (one) DO UPDATE SET next = max(next, excluded.next)`,
  args: [],
};
// The id is first in taskFields; every insert below binds idFloor(createdAt) in its place.
const OTHER_FIELDS = taskFields.filter(({ key }) => key !== 'id');
const INSERT_COLUMNS = ['id', ...OTHER_FIELDS.map(({ name }) => name), 'request_hash'].join(', ');
const INSERT_VALUES = [NEXT_ID, ...[...OTHER_FIELDS, 'request_hash'].map(() => '?')].join(', ');
// Only an existing idempotency key makes an insert a no-op. A clash on the id (which the
// write lock rules out) would be an error, not a task silently not stored.
const IF_KEY_EXISTS = 'ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING';

// A new task's columns that vary; the rest (status, version, attempts, and the lease, result
// and timing columns) are left to the table's defaults, which are a new task's values. A batch
// binds 12 parameters a row instead of 21, and binding, not the disk, dominated 1,000-row
// transactions (bench/README.md, "Figures behind the code").
const NEW_TASK_DEFAULTS = new Set(['status', 'version', 'attempts', 'lease_expires_at', 'locked_by', 'last_error', 'result', 'progress', 'started_at', 'completed_at']);
const NEW_FIELDS = OTHER_FIELDS.filter(({ name }) => !NEW_TASK_DEFAULTS.has(name)) as readonly { key: keyof NewTask; name: string }[];
const NEW_COLUMNS = ['id', ...NEW_FIELDS.map(({ name }) => name), 'request_hash'].join(', ');
const NEW_VALUES = [NEXT_ID, ...[...NEW_FIELDS, 'request_hash'].map(() => '?')].join(', ');
const newTaskArgs = (task: NewTask, requestHash: string | null): SqlValue[] => [idFloor(task.createdAt), ...NEW_FIELDS.map(({ key }) => task[key]), requestHash];

/** The values of an insert, in INSERT_COLUMNS order. */
const OTHER_KEYS = OTHER_FIELDS.map(({ key }) => key as keyof NewTask);
const insertArgs = (task: NewTask, requestHash: string | null): SqlValue[] => [idFloor(task.createdAt), ...OTHER_KEYS.map((key) => task[key]), requestHash];

const SQL = {
  insert: `INSERT INTO tasks (${INSERT_COLUMNS}) VALUES (${INSERT_VALUES}) ${IF_KEY_EXISTS}`,
  // Backpressure in the same statement as the insert, so concurrent submits cannot overshoot.
  // Counting stops at the cap: the cost is bounded by TASK_MAX_PENDING, not by the backlog.
  insertCapped: `INSERT INTO tasks (${INSERT_COLUMNS}) SELECT ${INSERT_VALUES}
    WHERE (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE status = 'pending' LIMIT ?)) < ?
    ${IF_KEY_EXISTS}`,
  // Batch submit (insertMany): no ON CONFLICT, a key that exists fails the whole transaction.
  insertStrict: `INSERT INTO tasks (${NEW_COLUMNS}) VALUES (${NEW_VALUES})`,
  insertFirstOfBatch: `INSERT INTO tasks (${NEW_COLUMNS}) SELECT ${NEW_VALUES}
    WHERE (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE status = 'pending' LIMIT ?)) <= ?`,
  insertAfterPrevious: `INSERT INTO tasks (${NEW_COLUMNS}) SELECT ${NEW_VALUES} WHERE changes() = 1`,
} as const;

/** One task, skipped when its idempotency key exists; with `maxPending` > 0, also when the backlog is full. */
export function insertStatement(task: NewTask, requestHash: string | null, maxPending: number): Statement {
  const args = insertArgs(task, requestHash);
  return maxPending > 0 ? { sql: SQL.insertCapped, args: [...args, maxPending, maxPending] } : { sql: SQL.insert, args };
}

/**
 * A task submitted into a process with an idle worker, inserted already claimed by that
 * worker (`claimed`: the task as a claim would have written it: in progress, attempt 1, leased,
 * version 2 as if inserted and claimed), so it runs without a claim after its insert
 * (lib/processing/poller.ts, `reserve`). Inserted only while its type is not paused (a paused
 * type's tasks are not claimed) and, with `maxPending` > 0, while the backlog is below it;
 * otherwise nothing is written and the caller inserts it as usual. No idempotency key: one
 * that exists would also write nothing, and the usual insert tells those cases apart.
 */
export function claimedInsertStatement(claimed: NewTask, maxPending: number): Statement {
  if (claimed.idempotencyKey !== null) throw new Error('a task inserted claimed has no idempotency key');
  const cap = maxPending > 0 ? ` AND (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE status = 'pending' LIMIT ?)) < ?` : '';
  return {
    sql: `INSERT INTO tasks (${INSERT_COLUMNS}) SELECT ${INSERT_VALUES} WHERE NOT EXISTS (SELECT 1 FROM paused_types WHERE type = ?)${cap}`,
    args: [...insertArgs(claimed, null), claimed.type, ...(maxPending > 0 ? [maxPending, maxPending] : [])],
  };
}

/**
 * One task, inserted only when `unless` (an SQL condition: lib/tasks/debounce.ts, "a task of
 * this key holds it") is false when the statement runs, and with `maxPending` > 0 only while
 * the backlog is below it. One statement: SQLite runs it under the write lock, so the check and
 * the insert see the same database, in every process and on every instance of one server.
 */
export function insertUnlessStatement(task: NewTask, unless: { sql: string; args: SqlValue[] }, maxPending: number): Statement {
  const cap = maxPending > 0 ? ` AND (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE status = 'pending' LIMIT ?)) < ?` : '';
  return {
    sql: `INSERT INTO tasks (${NEW_COLUMNS}) SELECT ${NEW_VALUES} WHERE NOT (${unless.sql})${cap}`,
    args: [...newTaskArgs(task, null), ...unless.args, ...(maxPending > 0 ? [maxPending, maxPending] : [])],
  };
}

/**
 * A batch of new tasks, one small prepared statement each (two SQL texts whatever the batch
 * size, so the statement caches stay small; one multi-row INSERT binding every parameter ran
 * at half the speed: bench/README.md, "batch"). With `maxPending` > 0 the first row carries the
 * backlog check for the whole batch and each later row is inserted only if the row before it
 * was (`changes() = 1`), so a batch that does not fit inserts nothing.
 */
export function batchInsertStatements(tasks: NewTask[], requestHashes: (string | null)[], maxPending: number): Statement[] {
  return tasks.map((task, i) => {
    if (task.status !== 'pending' || task.version !== 1 || task.attempts !== 0) throw new Error(`insertMany takes new tasks only (task ${i} is ${task.status})`);
    const args = newTaskArgs(task, requestHashes[i] ?? null);
    if (maxPending <= 0) return { sql: SQL.insertStrict, args };
    return i === 0 ? { sql: SQL.insertFirstOfBatch, args: [...args, maxPending, maxPending - tasks.length] } : { sql: SQL.insertAfterPrevious, args };
  });
}

/**
 * A guard for `guardedInsertStatement`: the statement just before it, in the same batch,
 * changed exactly one row. `changes()` counts the last completed statement on the connection,
 * and a batch runs its statements in order on one connection (both drivers, and the group
 * commit keeps a unit's statements together), so it reads the previous statement's count
 * even while this one inserts several rows. (A condition on the row's new version and status
 * cannot tell this write from another writer's that produced the same version and status.)
 */
export const IF_PREVIOUS_CHANGED = { sql: 'changes() = 1', args: [] as SqlValue[] };

/**
 * The statement inserting `tasks` only if `guard` (an SQL condition) holds when it runs, each
 * task skipped when its idempotency key exists: for tasks written in the same transaction as
 * the write they depend on (a transition's follow-ups here, a schedule's occurrences in
 * lib/schedules/repository.ts). The WHERE also tells SQLite's parser that ON CONFLICT is the
 * upsert clause, not a join's ON.
 *
 * Ids: row i gets `base + i` from one base computed once for the statement (NEXT_ID with the
 * first task's floor). SQLite may materialise an INSERT … SELECT that reads the same table
 * before inserting, so a per-row NEXT_ID would give every row the same id, and a bare ON
 * CONFLICT DO NOTHING would drop all but one of them without a word (the conflict target is
 * the idempotency key only, so such a clash fails the statement instead). A row skipped for
 * its key leaves a gap. A caller that needs the inserted ids finds them by the tasks' idempotency
 * keys (none does: follow-ups only wake the poller and count metrics; a one-row insert can use
 * `insertedTask`).
 */
export function guardedInsertStatement(tasks: NewTask[], guard: { sql: string; args: SqlValue[] }): Statement {
  const width = OTHER_KEYS.length + 2;
  const rows = tasks.map(() => `(${Array(width).fill('?').join(', ')})`).join(', ');
  const columns = Array.from({ length: width - 1 }, (_, i) => `v.column${i + 2}`).join(', ');
  const floor = Math.max(...tasks.map((task) => idFloor(task.createdAt)));
  return {
    sql: `INSERT INTO tasks (${INSERT_COLUMNS}) SELECT base.id + v.column1, ${columns}
      FROM (VALUES ${rows}) AS v, (SELECT ${NEXT_ID} AS id) AS base WHERE ${guard.sql} ${IF_KEY_EXISTS}`,
    args: [...tasks.flatMap((task, i) => [i, ...insertArgs(task, null).slice(1)]), floor, ...guard.args],
  };
}

/** The task a one-row insert wrote, with the id it was given; null when the insert wrote nothing. */
export function insertedTask(task: NewTask, result: RunResult): Task | null {
  if (result.changes !== 1) return null;
  if (result.lastInsertRowid === null) throw new Error('the database driver did not report the inserted task\'s id');
  return withId(task, result.lastInsertRowid);
}

