import type { SqlDriver, SqlValue, Statement } from '../db/driver.ts';
import { ErrOptimisticLock } from '../foundation/errors.ts';
import { CompletionBatcher, isPlainCompletion } from './completions.ts';
import { expiredLastAttemptStatements, recordAttemptStatements, SELECT_ATTEMPTS, type Attempt, type AttemptEnd, type AttemptOutcome } from './attempts.ts';
import { ANY_FLOW_PENDING, FLOW_ARM, FLOW_RECHECK_MS, FLOW_ROOM, nextFlowCursor } from '../flow-control/claim.ts';
import { flowStats, heldBackOf, type FlowStats } from '../flow-control/held-back.ts';
import { formatTaskId } from './ids.ts';
import { batchInsertStatements, claimedInsertStatement, guardedInsertStatement, IF_PREVIOUS_CHANGED, insertedTask, insertStatement, insertUnlessStatement, RAISE_ID_MARK } from './inserts.ts';
import { newestOfKeySql, openTaskOfKey, replaceOpenTaskStatement, throttlingTaskOfKey } from './debounce.ts';
import { columnOf, rowToTask, taskFields, valuesToTask, type NewTask, type Task } from './model.ts';
import { canTransition, STATUSES, type TaskStatus } from './states.ts';

/**
 * All SQL for `tasks`, one operation per method. Every change after the claim goes through
 * `transition()`, which checks the allowed edge (states.ts) and the row's version. The
 * column lists are built from the one field list (model.ts). Writes are group-committed by
 * the driver this is given (lib/db/group-commit.ts, wired in lib/wiring/app-services.ts).
 */

export interface ListFilter {
  status?: TaskStatus;
  type?: string;
  /** Only types starting with this (workflow runs: `workflow:`); a range over the type index. */
  typePrefix?: string;
  /** Return tasks with ids strictly below this one (the cursor). */
  beforeId?: number;
  limit: number;
}

export interface TaskStats {
  counts: Record<TaskStatus, number>;
  total: number;
  oldestPendingCreatedAt: number | null;
  /** Tasks held back by flow control (TaskService.stats() reads it; lib/tasks/lib/flow-control/claim.ts). */
  flow?: FlowStats;
}

export interface ClaimOptions {
  limit: number;
  workerId: string;
  leaseMs: number;
  now?: number;
}

/** Which tasks a bulk action (POST /tasks/cancel, /tasks/retry) selects: ids, or a filter. */
export interface BulkFilter {
  ids?: number[];
  status?: TaskStatus;
  type?: string;
  /** created_at strictly before this (epoch ms). */
  createdBefore?: number;
}

/** One task type as GET /types shows it. */
export interface TypeStats {
  type: string;
  counts: Record<TaskStatus, number>;
  paused: boolean;
  pausedAt: number | null;
  oldestPendingCreatedAt: number | null;
}

/** Columns a transition may set besides status/version/updated_at. */
export type TransitionFields = Partial<Pick<Task, 'runAt' | 'attempts' | 'leaseExpiresAt' | 'lockedBy' | 'lastError' | 'result' | 'progress' | 'startedAt' | 'completedAt'>> & {
  /** Give the attempt back (a release is not a failed attempt). */
  attemptsDelta?: -1;
};

export interface TransitionRequest {
  task: Task;
  to: TaskStatus;
  fields?: TransitionFields;
  now?: number;
  /**
   * New tasks inserted in the same transaction, only if this transition wins (the outbox:
   * a callback exists exactly when its parent finished). Each should carry an idempotency key,
   * so a follow-up is created once whatever happens around it (and can be found by it).
   */
  followUps?: NewTask[];
  /**
   * For a move to pending (a suspension, lib/processing/suspension.ts): an SQL condition
   * checked in the same transaction; when it holds, the task is due at once (`run_at = now`).
   */
  wakeIf?: { sql: string; args: SqlValue[] };
  /**
   * This write ends the attempt that `task` (as claimed, or as it last wrote it) describes:
   * recorded in the same transaction, only if the transition wins (lib/tasks/attempts.ts).
   */
  attempt?: AttemptEnd;
}

/** An attempt ended as cancelled, recorded with the write that clears its lease (`clearLease`). */
export interface AttemptRecordOnClear {
  end: AttemptEnd;
  /** `always`: the cancel is known; `ifCleared`: only if the task still carried this attempt's lease. */
  when: 'always' | 'ifCleared';
}

/** How a submit with a key (lib/tasks/debounce.ts) treats the key's task. */
export type KeyedMode = { kind: 'debounce' } | { kind: 'throttle'; windowMs: number };

/** A submit with a key: the task it stored, or the key's task that took it in (`held`). */
export interface KeyedOutcome {
  task: Task;
  held: boolean;
}

/** One task of a batch: new, with its request hash, and a key mode when it has one. */
export interface BatchEntry {
  task: NewTask;
  requestHash: string | null;
  mode?: KeyedMode;
}

/** Whether `task`, its key's newest, holds a throttled submit: open, or created after `since`. */
function holdsKey(task: Task, since: number): boolean {
  return (task.status === 'pending' && task.startedAt === null) || task.createdAt > since;
}

/** The outcome of one requested transition: the task as written, or the lost race. */
export type TransitionResult = { ok: true; task: Task } | { ok: false; error: ErrOptimisticLock };

// Free text from clients that contains a NUL is read back as a BLOB and decoded: SQLite stores
// an embedded NUL fine, but libsql reads TEXT columns as C strings and would cut the value at
// the NUL. Only such values (instr() compares bytes, NUL included): a BLOB costs an ArrayBuffer
// and a TextDecoder call on a file, and base64 both ways over sqld, for every claimed task
// (issue 24; its effect on a file was within the noise of a loaded machine: bench/README.md,
// "Fewer round trips (issue 24)"). The contract suite reads a NUL back on both. Only these columns:
// the others are validated (ids, type names, ASCII keys) or JSON text, whose NULs are escaped.
const FREE_TEXT = new Set(['title', 'description', 'last_error']);

/** Every column of a task as the repository reads it (exported for the bench's raw ceiling). */
export const COLUMNS_READ = taskFields
  .map(({ name }) => (FREE_TEXT.has(name) ? `CASE WHEN instr(${name}, char(0)) THEN CAST(${name} AS BLOB) ELSE ${name} END AS ${name}` : name))
  .join(', ');

/**
 * The distinct priorities of pending tasks, found by one index seek each (a hand-written skip
 * scan: SQLite has none). With them the claim and `nextRunAt` seek within each priority by
 * `run_at`, instead of walking every pending entry: future tasks (delayed ones, sleeping
 * workflow runs) sit in the claim index too, and a claim that came back short used to walk
 * all of them, as did `nextRunAt` (bench/README.md, "Workflows (issue 20)").
 */
const PENDING_PRIORITIES = `WITH RECURSIVE pending_priorities(priority) AS (
    SELECT max(priority) FROM tasks INDEXED BY tasks_claim_pending WHERE status = 'pending' AND flow_key IS NULL
    UNION ALL
    SELECT (SELECT max(priority) FROM tasks INDEXED BY tasks_claim_pending WHERE status = 'pending' AND flow_key IS NULL AND priority < p.priority)
    FROM pending_priorities p WHERE p.priority IS NOT NULL)`;

/**
 * The claim's arm for tasks without a key: one group, numbered by its turn in claim order
 * (lib/flow-control/claim.ts's FLOW_ARM numbers each key's tasks the same way).
 */
const KEYLESS_ARM = `SELECT id, priority, run_at, row_number() OVER (ORDER BY priority DESC, run_at, id) AS turn, run_at AS turn_at FROM (
          SELECT id, priority, run_at FROM tasks INDEXED BY tasks_claim_pending
          WHERE status = 'pending' AND flow_key IS NULL AND priority IN (SELECT priority FROM pending_priorities WHERE priority IS NOT NULL)
            AND run_at <= ?1 AND type NOT IN (SELECT type FROM paused_types)
          ORDER BY priority DESC, run_at, id LIMIT ?4)`;

/** The claim's arm for in_progress tasks whose lease expired (their worker died), with or without a key. */
const EXPIRED_ARM = `SELECT id, priority, run_at, 1, run_at FROM (SELECT id, priority, run_at FROM tasks INDEXED BY tasks_claim_expired
          WHERE status = 'in_progress' AND lease_expires_at <= ?1 AND attempts < max_attempts
            AND type NOT IN (SELECT type FROM paused_types)
          ORDER BY lease_expires_at LIMIT ?4)`;

/**
 * One statement claims: due pending tasks in claim order, plus in_progress tasks whose lease
 * expired (their worker died). Each arm walks its own partial index; SQLite serialises
 * writers, so two claimers never get the same row for the same lease.
 * INDEXED BY is required, not a hint: without statistics the planner prefers
 * tasks_status_id (status = ?) and sorts every pending row in a temp B-tree on each claim,
 * so a claim costs O(backlog). Through the partial index it reads `limit` index entries
 * whatever the backlog (bench/README.md, "Figures behind the code"), seeking by `run_at`
 * within each pending priority (PENDING_PRIORITIES), so future entries are never walked.
 * Paused types (POST /types/:type/pause) are skipped here, in the statement itself, so every
 * process and function honours a pause at its next claim. The NOT IN subquery is not
 * correlated: SQLite builds it once per statement (an empty or tiny ephemeral table) and
 * probes it per candidate row, which the arm reads anyway for its id; measured in
 * bench/README.md ("paused types").
 *
 * Tasks with a flow key (lib/flow-control/) are not in tasks_claim_pending; the flow
 * arm takes them, up to each key's room, numbered by their turn within their key. Tasks
 * without a key are one group numbered the same way, and the final ORDER BY (priority, turn,
 * turn_at) takes the groups in turns within each priority: a key with a long backlog cannot
 * hold another key's first task back by more than one batch. `turn_at` is a task's run_at,
 * or for a task with a key the later of that and its key's last start (lib/flow-control/claim.ts).
 *
 * Two texts from these pieces: `claim` with the flow arm (and its CTEs, FLOW_ROOM), and
 * `claimKeyless` without them, the same statement otherwise. Run, the flow arm is one seek in
 * an empty index when no task with a key is pending (bench/README.md, "Flow control"); but a
 * libSQL server prepares every statement it is sent, and preparing the flow arm's recursive
 * CTEs about doubled the claim's cost there (bench/README.md, "The keyless claim (issue 24)").
 * So the repository sends the keyless text while it knows no task with a key is pending
 * (TaskRepository.claimDueTasks).
 * Numbered parameters: ?1 now, ?2 the worker, ?3 the lease's end, ?4 limit, and for `claim`
 * ?5 the flow-key cursor.
 */
function claimSql(withFlowArm: boolean, packed: boolean): string {
  const arms = withFlowArm ? [KEYLESS_ARM, FLOW_ARM, EXPIRED_ARM] : [KEYLESS_ARM, EXPIRED_ARM];
  return `${PENDING_PRIORITIES}${withFlowArm ? `, ${FLOW_ROOM}` : ''} UPDATE tasks
    SET status = 'in_progress', started_at = ?1, locked_by = ?2, lease_expires_at = ?3,
        attempts = attempts + 1, version = version + 1, updated_at = ?1
    WHERE id IN (
      SELECT id FROM (
        ${arms.join(`
        UNION ALL
        `)}
      ) ORDER BY priority DESC, turn, turn_at, id LIMIT ?4)
    RETURNING ${packed ? COLUMNS_PACKED : COLUMNS_READ}`;
}

/**
 * Every column of a task as one JSON array text, for a driver that reads rows of many columns
 * cheaper packed (SqlDriver `packRows`: a remote server). JSON escapes a NUL, so free text
 * needs no BLOB detour here (COLUMNS_READ).
 */
const COLUMNS_PACKED = `json_array(${taskFields.map(({ name }) => name).join(', ')})`;

/** The claim's texts for a driver: with and without the flow arm, rows packed or not. */
const CLAIMS = {
  plain: { full: claimSql(true, false), keyless: claimSql(false, false) },
  packed: { full: claimSql(true, true), keyless: claimSql(false, true) },
};

const SQL = {
  get: `SELECT ${COLUMNS_READ} FROM tasks WHERE id = ?`,
  status: 'SELECT status FROM tasks WHERE id = ?',
  getByKey: `SELECT ${COLUMNS_READ}, request_hash FROM tasks WHERE idempotency_key = ?`,
  stats: 'SELECT status, count(*) AS n FROM tasks GROUP BY status',
  oldestPending: "SELECT created_at FROM tasks WHERE status = 'pending' ORDER BY id LIMIT 1",
  // The earliest run_at per pending priority, one index seek each (PENDING_PRIORITIES): no walk
  // over the pending entries, which after a short claim are all future ones.
  nextRunAt: `${PENDING_PRIORITIES} SELECT min((SELECT run_at FROM tasks INDEXED BY tasks_claim_pending WHERE status = 'pending' AND flow_key IS NULL AND priority = p.priority
    AND type NOT IN (SELECT type FROM paused_types) ORDER BY run_at LIMIT 1)) AS run_at FROM pending_priorities p WHERE p.priority IS NOT NULL`,
  // A task whose worker died on its last attempt is not claimed again (a poison task must
  // not crash workers forever): it fails with the reason.
  failExpiredLastAttempts: `UPDATE tasks
    SET status = 'failed', version = version + 1, updated_at = ?, completed_at = ?, lease_expires_at = NULL,
        last_error = 'lease expired on the last attempt (worker died or stalled)'
    WHERE status = 'in_progress' AND lease_expires_at <= ? AND attempts >= max_attempts`,
  // A stopped attempt's handler has returned: its process clears the lease it left on a task
  // that moved on without it (cancelled, retried, released or retried after a timeout while
  // the handler still ran), so a pending task is due at once instead of when the lease ends.
  // The attempt is named by its worker and the lease as it last wrote it: a later claim writes
  // another lease, so a task claimed again is never touched, nor one still in progress.
  clearLease: `UPDATE tasks
    SET lease_expires_at = NULL, version = version + 1, updated_at = ?,
        run_at = CASE WHEN status = 'pending' THEN min(run_at, ?) ELSE run_at END
    WHERE id = ? AND locked_by = ? AND lease_expires_at = ? AND status <> 'in_progress'`,
  // Retention (lib/tasks/retention.ts): a bounded number of old finished rows per statement,
  // found through the partial index on (status, completed_at), so each DELETE holds the write
  // lock for a few milliseconds whatever the history. The status test is in the statement:
  // a task retried (back to pending) between the sweep's decision and the write is not touched.
  deleteFinished: (statuses: number) => `DELETE FROM tasks WHERE rowid IN (
    SELECT rowid FROM tasks INDEXED BY tasks_finished
    WHERE status IN (${Array(statuses).fill('?').join(', ')}) AND completed_at IS NOT NULL AND completed_at < ? LIMIT ?)`,
  deleteUnlessRunning: "DELETE FROM tasks WHERE id = ? AND status <> 'in_progress'",
  pauseType: 'INSERT INTO paused_types (type, paused_at) VALUES (?, ?) ON CONFLICT DO NOTHING',
  resumeType: 'DELETE FROM paused_types WHERE type = ?',
  pausedTypes: 'SELECT type, paused_at FROM paused_types',
  typeCounts: 'SELECT type, status, count(*) AS n FROM tasks GROUP BY type, status',
  oldestPendingByType: "SELECT type, min(created_at) AS created_at FROM tasks WHERE status = 'pending' GROUP BY type",
  // Table-valued pragmas, which sqld answers like any read (a PRAGMA statement it may refuse).
  databaseSize: 'SELECT p.page_count * s.page_size AS bytes, f.freelist_count * s.page_size AS free_bytes FROM pragma_page_count() p, pragma_page_size() s, pragma_freelist_count() f',
} as const;

/** Rows per statement for retention and bulk actions: a few ms of write lock each. */
export const MAINTENANCE_BATCH = 500;

export interface RepositoryOptions {
  /** TASK_ATTEMPTS_KEPT: recorded attempts kept per task, the newest; 0 records none. Default 20. */
  attemptsKept?: number;
}

export class TaskRepository {
  readonly #driver: SqlDriver;
  /** The flow key this repository's claims go on after (lib/flow-control/claim.ts, FLOW_ROOM). */
  #flowCursor = '';
  readonly attemptsKept: number;
  /** Plain completions of one turn, written as one statement (completions.ts). */
  readonly #completions: CompletionBatcher;
  /** The claim's texts for this driver (CLAIMS): rows packed for a remote server. */
  readonly #claims: (typeof CLAIMS)['plain'];
  /**
   * What this repository last knew about tasks with a flow key: whether any is pending
   * (undefined: not asked yet), and when it learned it (the `now` of the claim or `nextRunAt`
   * that asked). `claimDueTasks` sends the keyless claim (CLAIMS `keyless`) only while the
   * answer is "none" and younger than FLOW_RECHECK_MS; otherwise the full claim, and with it,
   * in the same transaction after it, ANY_FLOW_PENDING, whose answer is recorded here. So:
   * - a task with a key that this repository inserts, or moves back to pending, sets the
   *   answer to "pending" at once (`noteFlowPending`, called before the write is sent): the
   *   next claim is the full one and takes it;
   * - one inserted by another object over this database tells it too: lib/wiring/app-services.ts
   *   calls `noteFlowPending` after every task a schedule creates, keyed or not (the schedule
   *   hook knows only a count; one full claim per fire is cheap), and a workflow's child run
   *   never has a key (lib/workflows/engine.ts, remote.ts);
   * - one inserted by another process or instance is claimed at most FLOW_RECHECK_MS (plus one
   *   claim) late while this process keeps claiming; an idle process claims it at its next
   *   poll, as it would a task without a key: a poll after a longer sleep claims in full, and
   *   a poll that came back short asks again in `nextRunAt`. The staleness bound of
   *   docs/flow-control.md ("Cost").
   * `#flowSeq` numbers the questions and the notes: an answer is recorded only when it was
   * asked after the last question answered or note made, so a claim sent before this
   * repository inserted a task with a key cannot record "none" after the insert.
   */
  #flowPending: boolean | undefined = undefined;
  #flowLearnedAt = 0;
  #flowSeq = 0;
  #flowKnownSeq = 0;

  constructor(driver: SqlDriver, options: RepositoryOptions = {}) {
    this.#driver = driver;
    this.#claims = driver.packRows ? CLAIMS.packed : CLAIMS.plain;
    this.attemptsKept = options.attemptsKept ?? 20;
    this.#completions = new CompletionBatcher(driver, (request) => this.#transitionOne(request));
  }

  /**
   * Inserts a new task; returns it with the id the insert gave it (the same object: see
   * `withId`; an `id` it already had is ignored). Returns null when nothing
   * was inserted: the idempotency key exists, or the backlog is at `maxPending`. The caller
   * tells which by looking the key up.
   */
  async insert(task: NewTask, requestHash: string | null = null, maxPending = 0): Promise<Task | null> {
    if (task.flowControl !== null) this.noteFlowPending();
    const { sql, args } = insertStatement(task, requestHash, maxPending);
    return insertedTask(task, await this.#driver.run(sql, args));
  }

  /**
   * Inserts `task` (a new one from buildTask, due now, without a key of any kind) already
   * claimed by `claim.workerId` until `now + claim.leaseMs`: returns the task as claimed, or
   * null when nothing was written (its type is paused, or the backlog is at `maxPending`; the
   * caller then inserts it as usual). See inserts.ts, claimedInsertStatement.
   */
  async insertClaimed(task: NewTask, claim: { workerId: string; leaseMs: number }, maxPending = 0, now = Date.now()): Promise<Task | null> {
    const claimed: NewTask = { ...task, status: 'in_progress', version: 2, attempts: 1, lockedBy: claim.workerId, leaseExpiresAt: now + claim.leaseMs, startedAt: now, updatedAt: now };
    const { sql, args } = claimedInsertStatement(claimed, maxPending);
    return insertedTask(claimed, await this.#driver.run(sql, args));
  }

  /**
   * Inserts `tasks` (new ones from buildTask, keys already checked by the caller) in one transaction: all or
   * none. Each row is its own small prepared statement (two SQL texts whatever the batch size,
   * so the statement caches stay small; 1,000 rows as one multi-row INSERT bound 21,000
   * parameters and ran at half the speed of the same rows one statement each; bench/README.md,
   * "batch"). With `maxPending` > 0 the first row carries the backlog check for the whole
   * batch and each later row is inserted only if the row before it was (`changes() = 1`), so
   * a batch that does not fit inserts nothing. An idempotency key inserted by someone else
   * meanwhile is a unique violation that rolls the transaction back; the caller looks the keys
   * up again. Returns the tasks with the ids the inserts gave them: all, or none when the
   * backlog is full.
   */
  async insertMany(tasks: NewTask[], requestHashes: (string | null)[], maxPending = 0): Promise<Task[]> {
    if (tasks.length === 0) return [];
    if (tasks.some(hasFlowKey)) this.noteFlowPending();
    const results = await this.#driver.batch(batchInsertStatements(tasks, requestHashes, maxPending));
    const inserted: Task[] = [];
    results.forEach((result, i) => {
      const task = insertedTask(tasks[i]!, result);
      if (task) inserted.push(task);
    });
    return inserted;
  }

  /**
   * A debounced submit (lib/tasks/debounce.ts): `task` (with its `debounceKey`) replaces the
   * open task of its key, or is inserted when the key has none. One transaction (group
   * committed with concurrent writes): the replacement, then the insert guarded by "the key
   * has no open task", which inside the transaction is exactly "the replacement found none".
   * Null when it had to be inserted and the backlog is at `maxPending`.
   */
  async debounce(task: NewTask, maxPending = 0): Promise<KeyedOutcome | null> {
    if (task.debounceKey === null) throw new Error('a debounced task has a key');
    if (task.flowControl !== null) this.noteFlowPending();
    const [replaced, inserted] = await this.#driver.batch([
      { ...replaceOpenTaskStatement(task, ` RETURNING ${COLUMNS_READ}`), returning: true },
      insertUnlessStatement(task, openTaskOfKey(task.type, task.debounceKey), maxPending),
    ]);
    const row = replaced!.rows?.[0];
    if (row) return { task: rowToTask(row), held: true };
    const stored = insertedTask(task, inserted!);
    return stored ? { task: stored, held: false } : null;
  }

  /**
   * A throttled submit (lib/tasks/debounce.ts): `task` is inserted unless its key has an open
   * task or a task created less than `windowMs` before it; then that task is returned, `held`.
   * One transaction: the guarded insert, then the key's newest task. Null when it had to be
   * inserted and the backlog is at `maxPending`.
   */
  async throttle(task: NewTask, windowMs: number, maxPending = 0): Promise<KeyedOutcome | null> {
    const key = task.debounceKey;
    if (key === null) throw new Error('a throttled task has a key');
    if (task.flowControl !== null) this.noteFlowPending();
    const since = task.createdAt - windowMs;
    const [inserted, newest] = await this.#driver.batch([
      insertUnlessStatement(task, throttlingTaskOfKey(task.type, key, since), maxPending),
      { sql: newestOfKeySql(COLUMNS_READ), args: [task.type, key], returning: true },
    ]);
    const stored = insertedTask(task, inserted!);
    if (stored) return { task: stored, held: false };
    const row = newest!.rows?.[0];
    const holder = row ? rowToTask(row) : null;
    // Not inserted and nothing holds the key: the backlog was full.
    return holder && holdsKey(holder, since) ? { task: holder, held: true } : null;
  }

  /**
   * A batch with debounced or throttled tasks, in one transaction: the plain ones inserted as
   * `insertMany` does (without its backlog guard), then each keyed one as its own submit would,
   * in order, so a later item of a key replaces (or is held back by) an earlier one, and last
   * each keyed item's key's newest task, read inside the transaction. With `maxPending` > 0
   * the backlog is checked once, before the transaction, counting every keyed task as new:
   * concurrent submits may overshoot it by this batch (a guard inside the transaction could
   * only skip rows, not undo the replacements before it). Null when the backlog cannot take
   * the batch; else, in order, each task as stored or the key's task that took it in.
   */
  async insertManyWithKeys(entries: BatchEntry[], maxPending = 0): Promise<KeyedOutcome[] | null> {
    if (entries.some((entry) => hasFlowKey(entry.task))) this.noteFlowPending();
    if (maxPending > 0) {
      const rows = await this.#driver.all("SELECT count(*) AS n FROM (SELECT 1 FROM tasks WHERE status = 'pending' LIMIT ?)", [maxPending]);
      if (Number(rows[0]!.n) + entries.length > maxPending) return null;
    }
    const plain = entries.filter((entry) => !entry.mode);
    const statements = batchInsertStatements(plain.map((e) => e.task), plain.map((e) => e.requestHash), 0);
    const insertAt: number[] = [];
    for (const { task, mode } of entries) {
      if (!mode) continue;
      const key = task.debounceKey!;
      if (mode.kind === 'debounce') statements.push(replaceOpenTaskStatement(task));
      insertAt.push(statements.length);
      statements.push(insertUnlessStatement(task, mode.kind === 'debounce' ? openTaskOfKey(task.type, key) : throttlingTaskOfKey(task.type, key, task.createdAt - mode.windowMs), 0));
    }
    const readAt = statements.length;
    for (const { task, mode } of entries) {
      if (mode) statements.push({ sql: newestOfKeySql(COLUMNS_READ), args: [task.type, task.debounceKey!], returning: true });
    }
    const results = await this.#driver.batch(statements);
    let plainAt = 0;
    let keyed = 0;
    return entries.map(({ task, mode }) => {
      if (!mode) return { task: insertedTask(task, results[plainAt++]!)!, held: false };
      const inserted = results[insertAt[keyed]!]!.changes === 1;
      const row = results[readAt + keyed++]!.rows?.[0];
      if (!row) throw new Error(`no task of debounce key ${JSON.stringify(task.debounceKey)} after its insert`);
      return { task: rowToTask(row), held: !inserted };
    });
  }

  /** The current ids of tasks by their ids from before migration 0004 (those not found are absent). */
  async idsByLegacyId(legacyIds: string[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    for (let i = 0; i < legacyIds.length; i += MAINTENANCE_BATCH) {
      const chunk = legacyIds.slice(i, i + MAINTENANCE_BATCH);
      const rows = await this.#driver.all(`SELECT id, legacy_id FROM tasks WHERE legacy_id IN (${chunk.map(() => '?').join(', ')})`, chunk);
      for (const row of rows) found.set(String(row.legacy_id), Number(row.id));
    }
    return found;
  }

  /** The tasks holding these idempotency keys, by key (with the hash of the request that made each). */
  async getByIdempotencyKeys(keys: string[]): Promise<Map<string, { task: Task; requestHash: string | null }>> {
    const found = new Map<string, { task: Task; requestHash: string | null }>();
    for (let i = 0; i < keys.length; i += MAINTENANCE_BATCH) {
      const chunk = keys.slice(i, i + MAINTENANCE_BATCH);
      const rows = await this.#driver.all(
        `SELECT ${COLUMNS_READ}, request_hash FROM tasks WHERE idempotency_key IN (${chunk.map(() => '?').join(', ')})`,
        chunk,
      );
      for (const row of rows) found.set(String(row.idempotency_key), { task: rowToTask(row), requestHash: row.request_hash as string | null });
    }
    return found;
  }

  /**
   * Deletes up to `limit` tasks in one of `statuses` (final ones) that finished before
   * `before`; returns how many. Never a pending or in_progress task: the status is tested by
   * the DELETE itself.
   */
  async deleteFinished(statuses: TaskStatus[], before: number, limit = MAINTENANCE_BATCH): Promise<number> {
    const [, deleted] = await this.#driver.batch([RAISE_ID_MARK, { sql: SQL.deleteFinished(statuses.length), args: [...statuses, before, limit] }]);
    return deleted!.changes;
  }

  /** Deletes one task unless it is running; true when deleted. */
  async deleteUnlessRunning(id: number): Promise<boolean> {
    const [, deleted] = await this.#driver.batch([RAISE_ID_MARK, { sql: SQL.deleteUnlessRunning, args: [id] }]);
    return deleted!.changes === 1;
  }

  /**
   * One page of the tasks a bulk filter selects, in id order after `afterId` (keyset: each
   * page is one indexed range, whatever was changed on the pages before).
   */
  async listForBulk(filter: BulkFilter, afterId: number | null, limit = MAINTENANCE_BATCH): Promise<Task[]> {
    const where: string[] = [];
    const args: SqlValue[] = [];
    if (filter.ids) (where.push(`id IN (${filter.ids.map(() => '?').join(', ')})`), args.push(...filter.ids));
    if (filter.status) (where.push('status = ?'), args.push(filter.status));
    if (filter.type) (where.push('type = ?'), args.push(filter.type));
    if (filter.createdBefore !== undefined) (where.push('created_at < ?'), args.push(filter.createdBefore));
    if (afterId !== null) (where.push('id > ?'), args.push(afterId));
    args.push(limit);
    const sql = `SELECT ${COLUMNS_READ} FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
    return (await this.#driver.all(sql, args)).map(rowToTask);
  }

  /** True when the type was not paused before. */
  async pauseType(type: string, now = Date.now()): Promise<boolean> {
    return (await this.#driver.run(SQL.pauseType, [type, now])).changes === 1;
  }

  /** True when the type was paused before. */
  async resumeType(type: string): Promise<boolean> {
    return (await this.#driver.run(SQL.resumeType, [type])).changes === 1;
  }

  /** Paused types and when each was paused. */
  async pausedTypes(): Promise<Map<string, number>> {
    const rows = await this.#driver.all(SQL.pausedTypes);
    return new Map(rows.map((row) => [String(row.type), Number(row.paused_at)]));
  }

  /** Every type with tasks or paused, plus `known` ones (registered handlers), by name. */
  async typeStats(known: Iterable<string> = []): Promise<TypeStats[]> {
    const [counts, oldest, paused] = await Promise.all([this.#driver.all(SQL.typeCounts), this.#driver.all(SQL.oldestPendingByType), this.pausedTypes()]);
    const byType = new Map<string, TypeStats>();
    const entry = (type: string): TypeStats => {
      let stats = byType.get(type);
      if (!stats) {
        const pausedAt = paused.get(type) ?? null;
        stats = { type, counts: Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>, paused: pausedAt !== null, pausedAt, oldestPendingCreatedAt: null };
        byType.set(type, stats);
      }
      return stats;
    };
    for (const type of known) entry(type);
    for (const type of paused.keys()) entry(type);
    for (const row of counts) entry(String(row.type)).counts[row.status as TaskStatus] = Number(row.n);
    for (const row of oldest) entry(String(row.type)).oldestPendingCreatedAt = Number(row.created_at);
    return [...byType.values()].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  }

  /** The database's size and its free pages' size in bytes, or null where the server will not say. */
  async databaseSize(): Promise<{ bytes: number; freeBytes: number } | null> {
    try {
      const row = (await this.#driver.all(SQL.databaseSize))[0];
      if (!row || row.bytes === null) return null;
      return { bytes: Number(row.bytes), freeBytes: Number(row.free_bytes) };
    } catch {
      return null;
    }
  }

  async get(id: number): Promise<Task | null> {
    const rows = await this.#driver.all(SQL.get, [id]);
    return rows[0] ? rowToTask(rows[0]) : null;
  }

  /** Only the status: what a `?wait=` re-read needs (the whole row is read once it is final). */
  async status(id: number): Promise<TaskStatus | null> {
    const rows = await this.#driver.all(SQL.status, [id]);
    return rows[0] ? (rows[0].status as TaskStatus) : null;
  }

  /** The statuses of up to 500 tasks in one query (ids not found are absent): shared `?wait=` re-reads. */
  async statuses(ids: number[]): Promise<Map<number, TaskStatus>> {
    if (ids.length === 0) return new Map();
    const rows = await this.#driver.all(`SELECT id, status FROM tasks WHERE id IN (${ids.map(() => '?').join(', ')})`, ids);
    return new Map(rows.map((row) => [Number(row.id), row.status as TaskStatus]));
  }

  async getByIdempotencyKey(key: string): Promise<{ task: Task; requestHash: string | null } | null> {
    const row = (await this.#driver.all(SQL.getByKey, [key]))[0];
    return row ? { task: rowToTask(row), requestHash: row.request_hash as string | null } : null;
  }

  /** Newest first (ids are time-ordered). */
  async list(filter: ListFilter): Promise<Task[]> {
    const where: string[] = [];
    const args: SqlValue[] = [];
    if (filter.status) (where.push('status = ?'), args.push(filter.status));
    if (filter.type) (where.push('type = ?'), args.push(filter.type));
    if (filter.typePrefix) (where.push('type >= ? AND type < ?'), args.push(filter.typePrefix, prefixEnd(filter.typePrefix)));
    if (filter.beforeId) (where.push('id < ?'), args.push(filter.beforeId));
    args.push(filter.limit);
    const sql = `SELECT ${COLUMNS_READ} FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return (await this.#driver.all(sql, args)).map(rowToTask);
  }

  async stats(): Promise<TaskStats> {
    const [rows, oldest] = await Promise.all([this.#driver.all(SQL.stats), this.#driver.all(SQL.oldestPending)]);
    const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
    let total = 0;
    for (const row of rows) {
      const n = Number(row.n);
      counts[row.status as TaskStatus] = n;
      total += n;
    }
    const first = oldest[0];
    return { counts, total, oldestPendingCreatedAt: first ? Number(first.created_at) : null };
  }

  /**
   * When the poller should claim again after a claim came back short: the earliest `run_at` of
   * any pending task without a flow key; while tasks with a key are pending, at most
   * FLOW_RECHECK_MS from now (their keys gain room when tasks elsewhere end or starts leave
   * the rate's period, which no event here tells).
   */
  async nextRunAt(now = Date.now()): Promise<number | null> {
    const asked = ++this.#flowSeq;
    const [rows, flow] = await Promise.all([this.#driver.all(SQL.nextRunAt), this.#driver.all(ANY_FLOW_PENDING)]);
    this.#learnFlowPending(asked, flow.length > 0, now);
    const runAt = rows[0]?.run_at;
    const plain = runAt === null || runAt === undefined ? null : Number(runAt);
    if (flow.length === 0) return plain;
    return Math.min(plain ?? Infinity, now + FLOW_RECHECK_MS);
  }

  /** `held_back` of each given task that is due and held back by its flow key now (lib/flow-control/). */
  heldBack(tasks: readonly Task[], now = Date.now()): Promise<Map<number, string>> {
    return heldBackOf(this.#driver, tasks, now);
  }

  /** Tasks held back by flow control now: totals and the `top` keys holding most back. */
  flowStats(top = 10, now = Date.now()): Promise<FlowStats> {
    return flowStats(this.#driver, top, now);
  }

  /** Answers when the database does (readiness). */
  async ping(): Promise<void> {
    await this.#driver.all('SELECT 1');
  }

  /**
   * Claims up to `limit` due tasks for `workerId` in one statement. Tasks returned are in
   * claim order (priority, run_at, id). Without the flow arm while this repository knows no
   * task with a key is pending (`#flowPending`).
   */
  async claimDueTasks(options: ClaimOptions): Promise<Task[]> {
    if (options.limit <= 0) return [];
    const now = options.now ?? Date.now();
    const lease = now + options.leaseMs;
    // A unit of the group commit (lib/db/group-commit.ts), last in its turn: one transaction
    // with the turn's completions, after them, so the slots and flow-control room they free
    // are claimable at once. If that transaction fails, this unit is tried alone; a claim that
    // failed changed nothing. Rows as arrays (`asValues`): the claim reads every column of up
    // to a batch of tasks.
    let claimed: Task[];
    if (this.#knowsNoFlowPending(now)) {
      const [result] = await this.#driver.batch([
        { sql: this.#claims.keyless, args: [now, options.workerId, lease, options.limit], returning: true, asValues: true, last: true },
      ]);
      claimed = this.#claimedTasks(result!.values!);
    } else {
      // The question rides in the claim's unit, after it: it sees what the claim left pending,
      // and costs no round trip of its own.
      const asked = ++this.#flowSeq;
      const [result, flow] = await this.#driver.batch([
        { sql: this.#claims.full, args: [now, options.workerId, lease, options.limit, this.#flowCursor], returning: true, asValues: true, last: true },
        { sql: ANY_FLOW_PENDING, args: [], returning: true, asValues: true },
      ]);
      claimed = this.#claimedTasks(result!.values!);
      this.#learnFlowPending(asked, flow!.values!.length > 0, now);
    }
    this.#flowCursor = nextFlowCursor(this.#flowCursor, claimed);
    return claimed.sort(claimOrder);
  }

  /** The claim's rows as tasks: arrays of values, or one packed JSON array each (COLUMNS_PACKED). */
  #claimedTasks(rows: SqlValue[][]): Task[] {
    if (this.#claims === CLAIMS.plain) return rows.map(valuesToTask);
    return rows.map((row) => valuesToTask(JSON.parse(row[0] as string) as unknown[]));
  }

  /**
   * A task with a flow key may be pending now, put there by a write this repository did not
   * make (a schedule's fire, lib/wiring/app-services.ts): the next claim is the full one.
   */
  noteFlowPending(): void {
    this.#flowPending = true;
    this.#flowKnownSeq = ++this.#flowSeq;
  }

  /** The answer to question `asked` (a number from `#flowSeq`), unless a later question or note was recorded first. */
  #learnFlowPending(asked: number, pending: boolean, now: number): void {
    if (asked <= this.#flowKnownSeq) return;
    this.#flowKnownSeq = asked;
    this.#flowPending = pending;
    this.#flowLearnedAt = now;
  }

  /** Whether the keyless claim takes everything a full claim at `now` would (a `now` before the answer's counts as stale). */
  #knowsNoFlowPending(now: number): boolean {
    const age = now - this.#flowLearnedAt;
    return this.#flowPending === false && age >= 0 && age < FLOW_RECHECK_MS;
  }

  /**
   * The handler of a stopped attempt (`attempt`: the task as that attempt last wrote it) has
   * returned: clears the lease the attempt left on its task, if the task still carries it and
   * is no longer in progress, and makes a pending task due at `dueAt` or now, whichever is
   * later (never later than it was). True when the task was changed. Not a transition: the
   * status stays; the attempt is checked, not the version, since others wrote the task since.
   */
  async clearLease(attempt: Pick<Task, 'id' | 'lockedBy' | 'leaseExpiresAt' | 'attempts' | 'startedAt'>, dueAt = 0, now = Date.now(), record?: AttemptRecordOnClear): Promise<boolean> {
    if (attempt.lockedBy === null || attempt.leaseExpiresAt === null) return false;
    const statements: Statement[] = [{ sql: SQL.clearLease, args: [now, Math.max(now, dueAt), attempt.id, attempt.lockedBy, attempt.leaseExpiresAt] }];
    if (record && this.attemptsKept > 0) {
      // The attempt ended as cancelled: recorded whether or not its lease was still there to
      // clear (`always`: the cancel is known), or only if it was (`ifCleared`: a lost final
      // write, which was a cancel only if the task still carries this attempt's lease). Never
      // for a task deleted meanwhile.
      const guard = record.when === 'ifCleared' ? 'changes() = 1' : 'EXISTS (SELECT 1 FROM tasks WHERE id = ?)';
      statements.push(...recordAttemptStatements(attempt, record.end, now, this.attemptsKept, { sql: guard, args: record.when === 'ifCleared' ? [] : [attempt.id] }));
    }
    const [result] = await this.#driver.batch(statements);
    return result!.changes === 1;
  }

  /**
   * Fails in_progress tasks whose lease expired on their last attempt; returns how many. Each
   * such attempt is recorded as `lease_expired` in the same transaction.
   */
  async failExpiredLastAttempts(now = Date.now()): Promise<number> {
    const statements: Statement[] = this.attemptsKept > 0 ? expiredLastAttemptStatements(now, this.attemptsKept) : [];
    statements.push({ sql: SQL.failExpiredLastAttempts, args: [now, now, now] });
    return (await this.#driver.batch(statements)).at(-1)!.changes;
  }

  /** The task's recorded attempts (lib/tasks/attempts.ts), the newest `attemptsKept`, oldest first. */
  async attempts(taskId: number): Promise<Attempt[]> {
    if (this.attemptsKept === 0) return [];
    const rows = await this.#driver.all(SELECT_ATTEMPTS, [taskId, this.attemptsKept]);
    return rows.map((row) => ({
      attempt: Number(row.attempt),
      worker: row.worker === null ? null : String(row.worker),
      startedAt: row.started_at === null ? null : Number(row.started_at),
      endedAt: Number(row.ended_at),
      outcome: row.outcome as AttemptOutcome,
      error: row.error === null ? null : String(row.error),
    }));
  }

  /** One version-checked transition; throws ErrOptimisticLock when the race was lost. */
  async transition(request: TransitionRequest): Promise<Task> {
    const result = await this.#transition(request);
    if (!result.ok) throw result.error;
    return result.task;
  }

  /**
   * Several version-checked transitions, committed together when the driver groups writes.
   * Each request succeeds or loses its race on its own; none throws for another's lost race.
   */
  async transitionMany(requests: TransitionRequest[]): Promise<TransitionResult[]> {
    return Promise.all(requests.map((request) => this.#transition(request)));
  }

  #transition(request: TransitionRequest): Promise<TransitionResult> {
    // Back to pending (a retry, a release, a timeout, a suspension) or with follow-ups: the
    // task with a key is claimable at the next claim, not FLOW_RECHECK_MS later.
    if ((request.to === 'pending' && hasFlowKey(request.task)) || request.followUps?.some(hasFlowKey)) this.noteFlowPending();
    return isPlainCompletion(request, this.attemptsKept) ? this.#completions.add(request, transitioned(request)) : this.#transitionOne(request);
  }

  async #transitionOne(request: TransitionRequest): Promise<TransitionResult> {
    const { statements, task, wakeIfAt } = buildTransition(request, this.attemptsKept);
    const results = await this.#driver.batch(statements);
    // The wake-up fired: the task is due now, not at the run_at it was suspended to.
    if (wakeIfAt !== undefined && results[wakeIfAt]!.changes === 1) task.runAt = task.updatedAt;
    return results[0]!.changes === 1 ? { ok: true, task } : { ok: false, error: new ErrOptimisticLock(formatTaskId(request.task.id), request.task.version) };
  }
}

/** The task as a transition writes it: what processTask and the repository agree on. */
export function transitioned({ task, to, fields = {}, now = Date.now() }: TransitionRequest): Task {
  const next: Task = { ...task, status: to, version: task.version + 1, updatedAt: now };
  // for-in, not Object.entries: no array per field on every completion (issue 24's profile).
  for (const key in fields) {
    const value = fields[key as keyof TransitionFields];
    if (key !== 'attemptsDelta' && value !== undefined) (next as unknown as Record<string, unknown>)[key] = value;
  }
  if (fields.attemptsDelta === -1) next.attempts = Math.max(task.attempts - 1, 0);
  return next;
}

function buildTransition(request: TransitionRequest, attemptsKept: number): { statements: Statement[]; task: Task; wakeIfAt?: number } {
  const { task, to, fields = {} } = request;
  if (!canTransition(task.status, to)) {
    throw new Error(`illegal transition ${task.status} -> ${to} for task ${task.id}`);
  }
  const next = transitioned(request);
  const sets = ['status = ?', 'version = version + 1', 'updated_at = ?'];
  const args: SqlValue[] = [to, next.updatedAt];
  for (const [key, value] of Object.entries(fields) as [keyof TransitionFields, unknown][]) {
    if (key === 'attemptsDelta' || value === undefined) continue;
    sets.push(`${columnOf(key)} = ?`);
    args.push(value as SqlValue);
  }
  if (fields.attemptsDelta === -1) sets.push('attempts = max(attempts - 1, 0)');
  args.push(task.id, task.version);
  const statements: Statement[] = [{ sql: `UPDATE tasks SET ${sets.join(', ')} WHERE id = ? AND version = ?`, args }];
  // The attempt's record (and its trim) last, so the guards below still read the UPDATE's count.
  const record = request.attempt && attemptsKept > 0 ? recordAttemptStatements(task, request.attempt, next.updatedAt, attemptsKept, IF_PREVIOUS_CHANGED) : [];
  if (record.length > 0) {
    // The record is inserted exactly when the UPDATE changed the row, so a guard after it
    // (`changes() = 1`) reads the same answer; its trim comes last.
    statements.push(record[0]!);
  }
  // Follow-ups are inserted only if the UPDATE just before them changed the row.
  if (request.followUps?.length) statements.push(guardedInsertStatement(request.followUps, IF_PREVIOUS_CHANGED));
  let wakeIfAt: number | undefined;
  if (request.wakeIf) {
    wakeIfAt = statements.length;
    statements.push({
      sql: `UPDATE tasks SET run_at = ? WHERE id = ? AND status = 'pending' AND ${IF_PREVIOUS_CHANGED.sql} AND (${request.wakeIf.sql})`,
      args: [next.updatedAt, task.id, ...request.wakeIf.args],
    });
  }
  if (record.length > 1) statements.push(record[1]!);
  return { statements, task: next, wakeIfAt };
}

function hasFlowKey(task: Pick<Task, 'flowControl'>): boolean {
  return task.flowControl !== null;
}

/** The smallest string above every string starting with `prefix` (its last character plus one). */
function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

function claimOrder(a: Task, b: Task): number {
  return b.priority - a.priority || a.runAt - b.runAt || a.id - b.id;
}

