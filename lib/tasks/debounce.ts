import type { SqlValue, Statement } from '../db/driver.ts';
import type { NewTask } from './model.ts';

/**
 * Debounce and throttle (`POST /tasks` with `debounce` or `throttle`; docs/debounce.md): the
 * SQL that decides, for a submit with a key, whether a task of that key holds it.
 *
 * Glossary.
 * - **key**: the client's string, scoped by the task type: (`type`, `debounce_key`). Kept on
 *   the task for good (the task JSON shows it), debounce and throttle share it.
 * - **newest task of a key**: the one with the largest id, one seek backwards in
 *   `tasks_debounce` (lib/db/schema.ts) whatever the key's history.
 * - **open**: the newest task of its key is pending and no attempt of it has started
 *   (`started_at IS NULL`: never claimed, or released at shutdown with its attempt given back).
 *   A task that was claimed is never open again: a failed attempt waiting for its retry keeps
 *   its `started_at`, so a new submit makes a new task instead of changing what is being
 *   retried. (A task retried by hand after it finished is not the newest of its key once a
 *   newer one exists, and is then left alone.)
 *
 * Debounce: replace the open task's title, description, payload, priority and max_attempts and
 * move its `run_at` to now + seconds; with no open task, insert one due at now + seconds.
 * Throttle: while a task of the key is open, or the newest was created less than `seconds` ago,
 * store nothing and answer that task; otherwise insert one.
 *
 * Across processes and instances the database decides: each insert is one statement
 * `INSERT … SELECT … WHERE NOT (a task of the key holds it)` (lib/tasks/inserts.ts,
 * `insertUnlessStatement`), which SQLite runs under its write lock, so of two submits racing in
 * two processes on one file, or two instances on one sqld, the second sees the first's task.
 * The replacement is one `UPDATE … WHERE id = (newest of the key) AND open`, so a task claimed
 * in between is not changed and the submit inserts instead.
 *
 * Why not a partial unique index on the key among pending tasks: a task goes back to pending
 * in many places (a failed attempt's retry, a release at shutdown, a workflow's sleep, a retry
 * by hand), and each would then fail with a unique violation whenever a newer task of its key
 * had been submitted while it ran. The index here never changes after the insert (its columns
 * and WHERE are `type` and `debounce_key`), so claims and completions do not touch it.
 */

/** The newest task of (type, key): one backward seek in tasks_debounce. */
const NEWEST_OF_KEY = 'SELECT id, status, started_at, created_at FROM tasks INDEXED BY tasks_debounce WHERE type = ? AND debounce_key = ? ORDER BY id DESC LIMIT 1';
const OPEN = "status = 'pending' AND started_at IS NULL";

/** SQL condition: the key has an open task. */
export function openTaskOfKey(type: string, key: string): { sql: string; args: SqlValue[] } {
  return { sql: `EXISTS (SELECT 1 FROM (${NEWEST_OF_KEY}) WHERE ${OPEN})`, args: [type, key] };
}

/** SQL condition: the key has an open task, or its newest task was created after `since` (epoch ms). */
export function throttlingTaskOfKey(type: string, key: string, since: number): { sql: string; args: SqlValue[] } {
  return { sql: `EXISTS (SELECT 1 FROM (${NEWEST_OF_KEY}) WHERE (${OPEN}) OR created_at > ?)`, args: [type, key, since] };
}

/**
 * The debounce replacement: the open task of `task`'s key takes `task`'s title, description,
 * payload, priority, max_attempts and run_at; `returning` is appended (the repository's column
 * list). Zero rows: the key has no open task.
 */
export function replaceOpenTaskStatement(task: NewTask, returning = ''): Statement {
  if (task.debounceKey === null) throw new Error('a debounced task has a key');
  return {
    sql: `UPDATE tasks SET title = ?, description = ?, payload = ?, priority = ?, max_attempts = ?, run_at = ?, version = version + 1, updated_at = ?
      WHERE id = (SELECT id FROM (${NEWEST_OF_KEY})) AND ${OPEN}${returning}`,
    args: [task.title, task.description, task.payload, task.priority, task.maxAttempts, task.runAt, task.updatedAt, task.type, task.debounceKey],
  };
}

/** The newest task of (type, key), every column given (`columns`: the repository's list). */
export function newestOfKeySql(columns: string): string {
  return `SELECT ${columns} FROM tasks WHERE id = (SELECT id FROM (${NEWEST_OF_KEY}))`;
}
