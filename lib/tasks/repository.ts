import type { Row, SqlDriver, SqlValue, Statement } from '../db/driver.ts';
import { ErrOptimisticLock } from '../errors.ts';
import { canTransition, STATUSES, type Task, type TaskStatus } from './model.ts';

/**
 * All SQL for `tasks`, one operation per method. Every change after the claim goes through
 * `transition()`, which checks the allowed edge (task-model.ts) and the row's version.
 *
 * Writes that do not need their own transaction (inserts, transitions) are group-committed:
 * every write requested during one turn of the event loop goes to the database as one
 * transaction (`SqlDriver.batch`), and each caller still learns its own row count. A caller
 * is answered only after that commit, so "durable before 202" holds; concurrent requests
 * share one commit (one fsync locally, one round trip remotely) instead of queueing for one
 * each. Measured in bench/README.md.
 */

export interface NewTask {
  id: string;
  title: string;
  description: string;
  type: string;
  payload: string | null;
  priority: number;
  runAt: number;
  maxAttempts: number;
  idempotencyKey: string | null;
  requestHash: string | null;
  now: number;
}

export interface ListFilter {
  status?: TaskStatus;
  type?: string;
  /** Return tasks with ids strictly below this one (the cursor). */
  beforeId?: string;
  limit: number;
}

export interface TaskStats {
  counts: Record<TaskStatus, number>;
  total: number;
  oldestPendingCreatedAt: number | null;
}

export interface ClaimOptions {
  limit: number;
  workerId: string;
  leaseMs: number;
  now?: number;
}

/** Columns a transition may set besides status/version/updated_at. */
export interface TransitionFields {
  runAt?: number;
  attempts?: number;
  /** Give the attempt back (a release is not a failed attempt). */
  attemptsDelta?: -1;
  leaseExpiresAt?: number | null;
  lockedBy?: string | null;
  lastError?: string | null;
  result?: string | null;
  startedAt?: number | null;
  completedAt?: number | null;
}

export interface TransitionRequest {
  task: Task;
  to: TaskStatus;
  fields?: TransitionFields;
  now?: number;
}

/** The outcome of one requested transition: the task as written, or the lost race. */
export type TransitionResult = { ok: true; task: Task } | { ok: false; error: ErrOptimisticLock };

const COLUMN: Record<Exclude<keyof TransitionFields, 'attemptsDelta'>, string> = {
  runAt: 'run_at',
  attempts: 'attempts',
  leaseExpiresAt: 'lease_expires_at',
  lockedBy: 'locked_by',
  lastError: 'last_error',
  result: 'result',
  startedAt: 'started_at',
  completedAt: 'completed_at',
};

const INSERT_COLUMNS =
  'id, title, description, status, version, type, payload, priority, run_at, attempts, max_attempts, idempotency_key, request_hash, created_at, updated_at';
const INSERT_VALUES = "?, ?, ?, 'pending', 1, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?";

// Text the user wrote is read back as a BLOB and decoded: SQLite stores an embedded NUL
// fine, but libsql reads TEXT columns as C strings and would cut the value at the NUL.
const COLUMNS_READ = `id, CAST(title AS BLOB) AS title, CAST(description AS BLOB) AS description, status, version, type,
  payload, priority, run_at, attempts, max_attempts, lease_expires_at, locked_by, CAST(last_error AS BLOB) AS last_error,
  result, idempotency_key, request_hash, created_at, started_at, completed_at, updated_at`;

const SQL = {
  insert: `INSERT INTO tasks (${INSERT_COLUMNS}) VALUES (${INSERT_VALUES}) ON CONFLICT DO NOTHING`,
  // Backpressure in the same statement as the insert, so concurrent submits cannot overshoot.
  // Counting stops at the cap: the cost is bounded by TASK_MAX_PENDING, not by the backlog.
  insertCapped: `INSERT INTO tasks (${INSERT_COLUMNS}) SELECT ${INSERT_VALUES}
    WHERE (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE status = 'pending' LIMIT ?)) < ?
    ON CONFLICT DO NOTHING`,
  get: `SELECT ${COLUMNS_READ} FROM tasks WHERE id = ?`,
  getByKey: `SELECT ${COLUMNS_READ} FROM tasks WHERE idempotency_key = ?`,
  requestHash: 'SELECT request_hash FROM tasks WHERE idempotency_key = ?',
  stats: 'SELECT status, count(*) AS n FROM tasks GROUP BY status',
  oldestPending: "SELECT created_at FROM tasks WHERE status = 'pending' ORDER BY id LIMIT 1",
  // min() over the claim index (it holds run_at): no temp B-tree sorting every pending row.
  // Still a scan of pending entries, but the poller asks only after a claim came back short,
  // when every pending task left is a future one.
  nextRunAt: "SELECT min(run_at) AS run_at FROM tasks INDEXED BY tasks_claim_pending WHERE status = 'pending'",
  // One statement claims: due pending tasks in claim order, plus in_progress tasks whose lease
  // expired (their worker died). Each arm walks its own partial index; SQLite serialises
  // writers, so two claimers never get the same row for the same lease.
  // INDEXED BY is required, not a hint: without statistics the planner prefers
  // tasks_status_id (status = ?) and sorts every pending row in a temp B-tree on each claim,
  // so a claim costs O(backlog). Through the partial index it reads `limit` index entries
  // whatever the backlog (raw libsql, 20k pending, claim 10 + complete 10: 1,650 tasks/s
  // before, ~35,000 after; with 1,000,000 rows in the table the product processed 308
  // tasks/s before; bench/README.md).
  claim: `UPDATE tasks
    SET status = 'in_progress', started_at = ?, locked_by = ?, lease_expires_at = ?,
        attempts = attempts + 1, version = version + 1, updated_at = ?
    WHERE id IN (
      SELECT id FROM (
        SELECT * FROM (SELECT id, priority, run_at, created_at FROM tasks INDEXED BY tasks_claim_pending
          WHERE status = 'pending' AND run_at <= ? ORDER BY priority DESC, run_at, created_at LIMIT ?)
        UNION ALL
        SELECT * FROM (SELECT id, priority, run_at, created_at FROM tasks INDEXED BY tasks_claim_expired
          WHERE status = 'in_progress' AND lease_expires_at <= ? AND attempts < max_attempts
          ORDER BY lease_expires_at LIMIT ?)
      ) ORDER BY priority DESC, run_at, created_at LIMIT ?)
    RETURNING ${COLUMNS_READ}`,
  // A task whose worker died on its last attempt is not claimed again (a poison task must
  // not crash workers forever): it fails with the reason.
  failExpiredLastAttempts: `UPDATE tasks
    SET status = 'failed', version = version + 1, updated_at = ?, completed_at = ?, lease_expires_at = NULL,
        last_error = 'lease expired on the last attempt (worker died or stalled)'
    WHERE status = 'in_progress' AND lease_expires_at <= ? AND attempts >= max_attempts`,
} as const;

export class TaskRepository {
  readonly driver: SqlDriver;
  #queue: { statement: Statement; resolve: (changes: number) => void; reject: (error: unknown) => void }[] = [];
  #flushScheduled = false;

  constructor(driver: SqlDriver) {
    this.driver = driver;
  }

  /**
   * Inserts a task. Returns false when nothing was inserted: the idempotency key exists, or
   * the backlog is at `maxPending`. The caller tells which by looking the key up.
   */
  async insert(task: NewTask, maxPending = 0): Promise<boolean> {
    const args: SqlValue[] = [
      task.id, task.title, task.description, task.type, task.payload, task.priority, task.runAt,
      task.maxAttempts, task.idempotencyKey, task.requestHash, task.now, task.now,
    ];
    const statement = maxPending > 0 ? { sql: SQL.insertCapped, args: [...args, maxPending, maxPending] } : { sql: SQL.insert, args };
    return (await this.#write(statement)) === 1;
  }

  async get(id: string): Promise<Task | null> {
    const rows = await this.driver.all(SQL.get, [id]);
    return rows[0] ? rowToTask(rows[0]) : null;
  }

  async getByIdempotencyKey(key: string): Promise<{ task: Task; requestHash: string | null } | null> {
    const rows = await this.driver.all(SQL.getByKey, [key]);
    const row = rows[0];
    return row ? { task: rowToTask(row), requestHash: row.request_hash as string | null } : null;
  }

  /** Newest first (ids are time-ordered). */
  async list(filter: ListFilter): Promise<Task[]> {
    const where: string[] = [];
    const args: SqlValue[] = [];
    if (filter.status) (where.push('status = ?'), args.push(filter.status));
    if (filter.type) (where.push('type = ?'), args.push(filter.type));
    if (filter.beforeId) (where.push('id < ?'), args.push(filter.beforeId));
    args.push(filter.limit);
    const sql = `SELECT ${COLUMNS_READ} FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return (await this.driver.all(sql, args)).map(rowToTask);
  }

  async stats(): Promise<TaskStats> {
    const [rows, oldest] = await Promise.all([this.driver.all(SQL.stats), this.driver.all(SQL.oldestPending)]);
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

  /** The earliest `run_at` of any pending task, so the poller can wake in time for it. */
  async nextRunAt(): Promise<number | null> {
    const rows = await this.driver.all(SQL.nextRunAt);
    const runAt = rows[0]?.run_at;
    return runAt === null || runAt === undefined ? null : Number(runAt);
  }

  /**
   * Claims up to `limit` due tasks for `workerId` in one statement. Tasks returned are in
   * claim order (priority, run_at, created_at).
   */
  async claimDueTasks(options: ClaimOptions): Promise<Task[]> {
    if (options.limit <= 0) return [];
    const now = options.now ?? Date.now();
    const lease = now + options.leaseMs;
    const rows = await this.driver.all(SQL.claim, [
      now, options.workerId, lease, now,
      now, options.limit,
      now, options.limit,
      options.limit,
    ]);
    return rows.map(rowToTask).sort(claimOrder);
  }

  /** Fails in_progress tasks whose lease expired on their last attempt; returns how many. */
  async failExpiredLastAttempts(now = Date.now()): Promise<number> {
    return (await this.driver.run(SQL.failExpiredLastAttempts, [now, now, now])).changes;
  }

  /** One version-checked transition; throws ErrOptimisticLock when the race was lost. */
  async transition(request: TransitionRequest): Promise<Task> {
    const [result] = await this.transitionMany([request]);
    if (!result!.ok) throw result!.error;
    return result!.task;
  }

  /**
   * Several version-checked transitions, group-committed together. Each request succeeds or
   * loses its race on its own; none throws for another's lost race.
   */
  async transitionMany(requests: TransitionRequest[]): Promise<TransitionResult[]> {
    return Promise.all(
      requests.map(async (request) => {
        const { statement, task } = buildTransition(request);
        const changes = await this.#write(statement);
        return changes === 1
          ? { ok: true as const, task }
          : { ok: false as const, error: new ErrOptimisticLock(request.task.id, request.task.version) };
      }),
    );
  }

  /** Writes queued during this turn of the event loop are committed together. */
  #write(statement: Statement): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ statement, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        nextTurn(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    this.#flushScheduled = false;
    const items = this.#queue;
    this.#queue = [];
    if (items.length === 0) return;
    try {
      const results = await this.driver.batch(items.map((item) => item.statement));
      items.forEach((item, i) => item.resolve(results[i]!.changes));
    } catch (error) {
      if (items.length === 1) return items[0]!.reject(error);
      // One bad statement must not fail its neighbours: retry each on its own.
      for (const item of items) {
        try {
          item.resolve((await this.driver.batch([item.statement]))[0]!.changes);
        } catch (itemError) {
          item.reject(itemError);
        }
      }
    }
  }
}

// setImmediate runs after the I/O callbacks of this turn, so requests that arrived together
// share a commit; setTimeout(0) (the edge fallback) would add a 1 ms clamp on Node.
const nextTurn: (fn: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
    ? (fn) => (globalThis as unknown as { setImmediate: (fn: () => void) => void }).setImmediate(fn)
    : (fn) => setTimeout(fn, 0);

function buildTransition({ task, to, fields = {}, now = Date.now() }: TransitionRequest): { statement: Statement; task: Task } {
  if (!canTransition(task.status, to)) {
    throw new Error(`illegal transition ${task.status} -> ${to} for task ${task.id}`);
  }
  const sets = ['status = ?', 'version = version + 1', 'updated_at = ?'];
  const args: SqlValue[] = [to, now];
  const next: Task = { ...task, status: to, version: task.version + 1, updatedAt: now };
  for (const key of Object.keys(COLUMN) as (keyof typeof COLUMN)[]) {
    const value = fields[key];
    if (value === undefined) continue;
    sets.push(`${COLUMN[key]} = ?`);
    args.push(value);
    (next as unknown as Record<string, unknown>)[key] = value;
  }
  if (fields.attemptsDelta === -1) {
    sets.push('attempts = max(attempts - 1, 0)');
    next.attempts = Math.max(task.attempts - 1, 0);
  }
  args.push(task.id, task.version);
  return { statement: { sql: `UPDATE tasks SET ${sets.join(', ')} WHERE id = ? AND version = ?`, args }, task: next };
}

function claimOrder(a: Task, b: Task): number {
  return b.priority - a.priority || a.runAt - b.runAt || a.createdAt - b.createdAt;
}

const num = (v: SqlValue | undefined): number => Number(v);
const numOrNull = (v: SqlValue | undefined): number | null => (v === null || v === undefined ? null : Number(v));
const strOrNull = (v: SqlValue | undefined): string | null => (v === null || v === undefined ? null : String(v));

export function rowToTask(row: Row): Task {
  return {
    id: String(row.id),
    title: String(row.title),
    description: String(row.description),
    status: row.status as TaskStatus,
    version: num(row.version),
    type: String(row.type),
    payload: strOrNull(row.payload),
    priority: num(row.priority),
    runAt: num(row.run_at),
    attempts: num(row.attempts),
    maxAttempts: num(row.max_attempts),
    leaseExpiresAt: numOrNull(row.lease_expires_at),
    lockedBy: strOrNull(row.locked_by),
    lastError: strOrNull(row.last_error),
    result: strOrNull(row.result),
    idempotencyKey: strOrNull(row.idempotency_key),
    createdAt: num(row.created_at),
    startedAt: numOrNull(row.started_at),
    completedAt: numOrNull(row.completed_at),
    updatedAt: num(row.updated_at),
  };
}
