import type { SqlDriver, SqlValue } from '../db/driver.ts';
import { idFloor } from './ids.ts';
import { rowToTask, taskFields, type Task } from './model.ts';
import { STATUSES, type TaskStatus } from './states.ts';

/**
 * The read-only SQL behind the dashboard (lib/ui/): what a person asks about the queue, each
 * question one method, each bounded so a page answers in milliseconds whatever the table
 * holds (bench scenario `dashboard`: 1,000,000 rows). Where a question could read the whole
 * table, the bound is a number of rows, exported here, and the page says it.
 *
 * - Counts by status walk an index and stop at COUNT_CAP (shown as "10,000+"), which keeps a
 *   page's cost bounded on a table of millions (bench scenario `dashboard`; bench/README.md,
 *   "Figures behind the code"). Exact counts of huge histories or backlogs would need
 *   counters kept on every write, which the hot path would pay for; the overview's signal of a
 *   backlog in trouble is the oldest pending task's age, which is one index seek.
 * - Finishes per minute are range counts over `tasks_finished` (status, completed_at), one per
 *   minute and status: no sort, no table rows.
 * - Per-type figures and the failure groups read the newest TYPE_SAMPLE / FAILED_SAMPLE rows.
 * - A created-time range is an id range: a task created at millisecond t has an id at or
 *   above idFloor(t) (lib/tasks/ids.ts), so it narrows `tasks_status_id` / `tasks_type_id` /
 *   the rowid instead of filtering every row. (Ids keep counting up when a clock steps back,
 *   or past 4,096 tasks in one millisecond: such a task's id time is a little after its
 *   created_at.)
 * - A title search scans at most TITLE_SCAN_ROWS tasks (newest first, within the other filters)
 *   per page; the page tells how far back it looked and offers the next stretch.
 * - Tasks per type and status (the Types and Workflows pages) read one sample of COUNT_CAP
 *   rows per status, grouped by type: each count is exact while its status has fewer than
 *   COUNT_CAP tasks, and a lower bound ("+") past it. GET /types counts every row instead
 *   (GROUP BY type, status): 2.6 s at 1,000,000 rows, during which the native driver holds the
 *   event loop (bench/README.md, `dashboard`).
 */

export const COUNT_CAP = 10_000;
export const TYPE_SAMPLE = 2_000;
export const FAILED_SAMPLE = 5_000;
export const TITLE_SCAN_ROWS = 10_000;
export const CHART_MINUTES = 60;

const MINUTE = 60_000;

export interface TaskSearch {
  /** One status, or several (bulk actions: the statuses the action applies to). */
  statuses?: readonly TaskStatus[];
  type?: string;
  /** Created at or after (ms). */
  createdFrom?: number;
  /** Created at or before (ms). */
  createdTo?: number;
  /** Case-insensitive (ASCII) substring of the title. */
  title?: string;
  /** Exact last_error (a failure group); null: tasks with none. */
  lastError?: string | null;
  /** Only tasks whose id is below this one (paging, newest first). */
  beforeId?: number;
}

export interface SearchPage {
  tasks: Task[];
  /** Where the next page starts (the last task shown, or the end of the scanned stretch). */
  nextBeforeId: number | null;
  /**
   * For a title search: how many tasks it looked through (null: the page filled up before the
   * bound), and whether that was every task matching the other filters.
   */
  scan?: { rows: number | null; complete: boolean };
}

export interface StatusCount {
  status: TaskStatus;
  count: number;
  /** True when the count stopped at COUNT_CAP. */
  capped: boolean;
}

export interface MinuteFinishes {
  /** Start of the minute (ms). */
  minute: number;
  completed: number;
  failed: number;
}

export interface TypeFigures {
  type: string;
  completed: number;
  failed: number;
  avgMs: number | null;
  maxMs: number | null;
}

export interface Overview {
  counts: StatusCount[];
  oldestPendingCreatedAt: number | null;
  /** Pending tasks whose run_at has passed, among the first COUNT_CAP in claim order. */
  duePending: StatusCount;
  perMinute: MinuteFinishes[];
  /** From the newest TYPE_SAMPLE completions and TYPE_SAMPLE failures of the last hour. */
  types: TypeFigures[];
}

export interface FailedGroup {
  type: string;
  lastError: string | null;
  count: number;
  newestId: number;
  newestAt: number | null;
}

/** A type's tasks by status from the per-status samples (`typeCounts`). */
export interface TypeCounts {
  type: string;
  counts: Record<TaskStatus, number>;
  /** created_at of its oldest pending task when that is among the oldest COUNT_CAP pending tasks. */
  oldestPendingCreatedAt: number | null;
  pausedAt: number | null;
}

export interface TypeCountsPage {
  types: TypeCounts[];
  /** Per status: its sample was full, so its counts are lower bounds. */
  capped: Record<TaskStatus, boolean>;
}

/** Types listed at most, found by one index seek each. */
export const TYPE_LIST_CAP = 200;

const COLUMNS = taskFields.map(({ name }) => (['title', 'description', 'last_error'].includes(name) ? `CAST(${name} AS BLOB) AS ${name}` : name)).join(', ');


/** `%`, `_` and `\` taken literally in a LIKE pattern with ESCAPE '\'. */
const likeLiteral = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

function whereOf(search: TaskSearch): { sql: string; args: SqlValue[] } {
  const where: string[] = [];
  const args: SqlValue[] = [];
  if (search.statuses && search.statuses.length > 0) {
    where.push(`status IN (${search.statuses.map(() => '?').join(', ')})`);
    args.push(...search.statuses);
  }
  if (search.type !== undefined) (where.push('type = ?'), args.push(search.type));
  if (search.createdFrom !== undefined) (where.push('id >= ?'), args.push(idFloor(search.createdFrom)));
  if (search.createdTo !== undefined) (where.push('id < ?'), args.push(idFloor(search.createdTo + 1)));
  if (search.beforeId !== undefined) (where.push('id < ?'), args.push(search.beforeId));
  if (search.lastError === null) where.push('last_error IS NULL');
  else if (search.lastError !== undefined) (where.push('last_error = ?'), args.push(search.lastError));
  return { sql: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', args };
}

export class TaskInsights {
  readonly #driver: SqlDriver;

  constructor(driver: SqlDriver) {
    this.#driver = driver;
  }

  async overview(now = Date.now()): Promise<Overview> {
    // Pending: one walk of the claim index (it holds run_at, and only pending rows) counts the
    // backlog and its due part together: about half the time of two walks, and its entries
    // are smaller than tasks_status_id's.
    // Tasks with a flow key sit in their own index (tasks_claim_flow): both are walked.
    const pending = (await this.#driver.all(
      `SELECT count(*) AS n, sum(run_at <= ?) AS due FROM (
        SELECT run_at FROM (SELECT run_at FROM tasks INDEXED BY tasks_claim_pending WHERE status = 'pending' AND flow_key IS NULL LIMIT ${COUNT_CAP})
        UNION ALL SELECT run_at FROM (SELECT run_at FROM tasks INDEXED BY tasks_claim_flow WHERE status = 'pending' AND flow_key IS NOT NULL LIMIT ${COUNT_CAP})
        LIMIT ${COUNT_CAP})`,
      [now],
    ))[0];
    const pendingCount = Number(pending?.n ?? 0);
    const due = Number(pending?.due ?? 0);
    const counts: StatusCount[] = [{ status: 'pending', count: pendingCount, capped: pendingCount >= COUNT_CAP }];
    for (const status of STATUSES.filter((s) => s !== 'pending')) {
      const n = Number((await this.#driver.all(`SELECT count(*) AS n FROM (SELECT 1 FROM tasks WHERE status = ? LIMIT ${COUNT_CAP})`, [status]))[0]?.n ?? 0);
      counts.push({ status, count: n, capped: n >= COUNT_CAP });
    }
    const oldest = await this.#driver.all("SELECT created_at FROM tasks WHERE status = 'pending' ORDER BY id LIMIT 1");
    return {
      counts,
      oldestPendingCreatedAt: oldest[0] ? Number(oldest[0].created_at) : null,
      duePending: { status: 'pending', count: due, capped: pendingCount >= COUNT_CAP },
      perMinute: await this.finishesPerMinute(now),
      types: await this.typeFigures(now - CHART_MINUTES * MINUTE),
    };
  }

  /** Completions and final failures in each of the last CHART_MINUTES whole minutes, oldest first. */
  async finishesPerMinute(now = Date.now()): Promise<MinuteFinishes[]> {
    const first = Math.floor(now / MINUTE) * MINUTE - (CHART_MINUTES - 1) * MINUTE;
    // One range count per minute and status over (status, completed_at): a GROUP BY over the
    // hour's rows sorted them all in a temp B-tree, many times slower (bench/README.md, "Figures behind the code").
    const rows = await this.#driver.all(
      `WITH RECURSIVE m(t) AS (SELECT ? UNION ALL SELECT t + ${MINUTE} FROM m WHERE t + ${MINUTE} <= ?)
       SELECT t,
         (SELECT count(*) FROM tasks INDEXED BY tasks_finished WHERE status = 'completed' AND completed_at >= t AND completed_at < t + ${MINUTE} AND completed_at IS NOT NULL) AS completed,
         (SELECT count(*) FROM tasks INDEXED BY tasks_finished WHERE status = 'failed' AND completed_at >= t AND completed_at < t + ${MINUTE} AND completed_at IS NOT NULL) AS failed
       FROM m`,
      [first, first + (CHART_MINUTES - 1) * MINUTE],
    );
    return rows.map((r) => ({ minute: Number(r.t), completed: Number(r.completed), failed: Number(r.failed) }));
  }

  /** Per type: completions (with durations) and final failures since `since`, newest TYPE_SAMPLE of each. */
  async typeFigures(since: number): Promise<TypeFigures[]> {
    const sample = (status: 'completed' | 'failed') =>
      this.#driver.all(
        `SELECT type, count(*) AS n, avg(completed_at - started_at) AS avg_ms, max(completed_at - started_at) AS max_ms
         FROM (SELECT type, started_at, completed_at FROM tasks INDEXED BY tasks_finished
               WHERE status = ? AND completed_at >= ? AND completed_at IS NOT NULL ORDER BY completed_at DESC LIMIT ${TYPE_SAMPLE})
         GROUP BY type`,
        [status, since],
      );
    const [completed, failed] = [await sample('completed'), await sample('failed')];
    const byType = new Map<string, TypeFigures>();
    const entry = (type: string) => {
      let figures = byType.get(type);
      if (!figures) byType.set(type, (figures = { type, completed: 0, failed: 0, avgMs: null, maxMs: null }));
      return figures;
    };
    for (const row of completed) {
      const figures = entry(String(row.type));
      figures.completed = Number(row.n);
      figures.avgMs = row.avg_ms === null ? null : Number(row.avg_ms);
      figures.maxMs = row.max_ms === null ? null : Number(row.max_ms);
    }
    for (const row of failed) entry(String(row.type)).failed = Number(row.n);
    return [...byType.values()];
  }

  /**
   * One page of tasks, newest first. Without a title, an index walk that stops after `limit`
   * rows. With one, at most TITLE_SCAN_ROWS tasks (within the other filters) are scanned.
   */
  async search(search: TaskSearch, limit: number): Promise<SearchPage> {
    const { sql: where, args } = whereOf(search);
    if (search.title === undefined || search.title === '') {
      const rows = await this.#driver.all(`SELECT ${COLUMNS} FROM tasks ${where} ORDER BY id DESC LIMIT ?`, [...args, limit + 1]);
      const tasks = rows.slice(0, limit).map(rowToTask);
      return { tasks, nextBeforeId: rows.length > limit ? tasks[tasks.length - 1]!.id : null };
    }
    const window = `SELECT id, title FROM tasks ${where} ORDER BY id DESC LIMIT ${TITLE_SCAN_ROWS}`;
    const pattern = `%${likeLiteral(search.title)}%`;
    // The window is a co-routine: the scan stops at the (limit + 1)-th match. (An `id IN (…)`
    // subquery would scan the whole window first.) Then the matching rows by primary key.
    const matched = (await this.#driver.all(`SELECT id FROM (${window}) WHERE title LIKE ? ESCAPE '\\' LIMIT ?`, [...args, pattern, limit + 1])).map((r) => Number(r.id));
    const rows = matched.length === 0 ? [] : await this.#driver.all(`SELECT ${COLUMNS} FROM tasks WHERE id IN (${matched.map(() => '?').join(', ')}) ORDER BY id DESC`, matched);
    const tasks = rows.slice(0, limit).map(rowToTask);
    if (rows.length > limit) return { tasks, nextBeforeId: tasks[tasks.length - 1]!.id, scan: { rows: null, complete: false } };
    const scanned = (await this.#driver.all(`SELECT count(*) AS n, min(id) AS oldest FROM (${window})`, args))[0]!;
    const rowsScanned = Number(scanned.n);
    const complete = rowsScanned < TITLE_SCAN_ROWS;
    return { tasks, nextBeforeId: complete ? null : Number(scanned.oldest), scan: { rows: rowsScanned, complete } };
  }

  /** How many tasks match (no title search), counting at most `cap`. */
  async count(search: TaskSearch, cap: number): Promise<number> {
    const { sql: where, args } = whereOf(search);
    return Number((await this.#driver.all(`SELECT count(*) AS n FROM (SELECT 1 FROM tasks ${where} LIMIT ?)`, [...args, cap]))[0]?.n ?? 0);
  }

  /** Ids of matching tasks (no title search), newest first: the next batch of a bulk action. */
  async ids(search: TaskSearch, limit: number): Promise<number[]> {
    const { sql: where, args } = whereOf(search);
    return (await this.#driver.all(`SELECT id FROM tasks ${where} ORDER BY id DESC LIMIT ?`, [...args, limit])).map((r) => Number(r.id));
  }

  /** Failed tasks grouped by type and error, over the newest FAILED_SAMPLE failures; largest first. */
  async failedGroups(): Promise<{ groups: FailedGroup[]; sampled: number }> {
    const rows = await this.#driver.all(
      `SELECT type, CAST(last_error AS BLOB) AS last_error, count(*) AS n, max(id) AS newest_id, max(completed_at) AS newest_at
       FROM (SELECT type, last_error, id, completed_at FROM tasks WHERE status = 'failed' ORDER BY id DESC LIMIT ${FAILED_SAMPLE})
       GROUP BY type, last_error ORDER BY n DESC, newest_id DESC LIMIT 100`,
    );
    const groups = rows.map((r) => ({
      type: String(r.type),
      lastError: r.last_error === null ? null : String(r.last_error),
      count: Number(r.n),
      newestId: Number(r.newest_id),
      newestAt: r.newest_at === null ? null : Number(r.newest_at),
    }));
    return { groups, sampled: groups.reduce((sum, g) => sum + g.count, 0) };
  }

  /**
   * Due pending tasks without a flow key that the claim takes before `task` (claim order),
   * counting at most `cap`. Tasks with a key take turns with them (lib/flow-control/claim.ts)
   * and are not counted; for a task with a key the page shows `held_back` instead.
   */
  async claimedBefore(task: Task, now: number, cap: number): Promise<number> {
    // Tasks of paused types are not ahead of anything: the claim skips them (repository.ts).
    const rows = await this.#driver.all(
      `SELECT count(*) AS n FROM (SELECT 1 FROM tasks INDEXED BY tasks_claim_pending
         WHERE status = 'pending' AND flow_key IS NULL AND run_at <= ? AND (priority > ? OR (priority = ? AND (run_at < ? OR (run_at = ? AND created_at < ?))))
           AND type NOT IN (SELECT type FROM paused_types)
         LIMIT ?)`,
      [now, task.priority, task.priority, task.runAt, task.runAt, task.createdAt, cap],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Tasks per type and status, each status one sample of at most COUNT_CAP rows: pending and
   * in progress through `tasks_status_id` (the oldest first: the oldest pending task of a type
   * in the sample is its oldest), the final statuses through `tasks_finished` alone (the
   * newest finishes). Listed: `known` types (registered), paused ones, the sampled ones and,
   * when `discover`, every type in the table (one seek of `tasks_type_id` per type, at most
   * TYPE_LIST_CAP), by name.
   */
  async typeCounts(known: Iterable<string>, discover: boolean): Promise<TypeCountsPage> {
    const zero = () => Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
    const byType = new Map<string, TypeCounts>();
    const entry = (type: string) => {
      let found = byType.get(type);
      if (!found) byType.set(type, (found = { type, counts: zero(), oldestPendingCreatedAt: null, pausedAt: null }));
      return found;
    };
    for (const type of known) entry(type);
    const only = discover ? null : new Set(byType.keys());
    for (const row of await this.#driver.all('SELECT type, paused_at FROM paused_types')) {
      if (!only || only.has(String(row.type))) entry(String(row.type)).pausedAt = Number(row.paused_at);
    }
    if (discover) {
      for (let after = ''; byType.size < TYPE_LIST_CAP; ) {
        const row = (await this.#driver.all('SELECT type FROM tasks INDEXED BY tasks_type_id WHERE type > ? ORDER BY type LIMIT 1', [after]))[0];
        if (!row) break;
        after = String(row.type);
        entry(after);
      }
    }
    const capped = Object.fromEntries(STATUSES.map((s) => [s, false])) as Record<TaskStatus, boolean>;
    for (const status of STATUSES) {
      const sample = status === 'pending' || status === 'in_progress'
        ? `SELECT type, created_at FROM tasks INDEXED BY tasks_status_id WHERE status = ? ORDER BY id LIMIT ${COUNT_CAP}`
        : `SELECT type, NULL AS created_at FROM tasks INDEXED BY tasks_finished WHERE status = ? AND completed_at IS NOT NULL ORDER BY completed_at DESC LIMIT ${COUNT_CAP}`;
      let total = 0;
      for (const row of await this.#driver.all(`SELECT type, count(*) AS n, min(created_at) AS oldest FROM (${sample}) GROUP BY type`, [status])) {
        const n = Number(row.n);
        total += n;
        if (only && !only.has(String(row.type))) continue;
        const counts = entry(String(row.type));
        counts.counts[status] = n;
        if (status === 'pending') counts.oldestPendingCreatedAt = Number(row.oldest);
      }
      capped[status] = total >= COUNT_CAP;
    }
    return { types: [...byType.values()].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0)), capped };
  }

  /** When `type` was paused (POST /types/:type/pause), or null when it is not. */
  async typePausedAt(type: string): Promise<number | null> {
    const rows = await this.#driver.all('SELECT paused_at FROM paused_types WHERE type = ?', [type]);
    return rows[0] ? Number(rows[0].paused_at) : null;
  }
}
