import type { Row, SqlDriver, SqlValue, Statement } from '../db/driver.ts';
import type { NewTask, Task } from '../tasks/model.ts';
import { guardedInsertStatement, IF_PREVIOUS_CHANGED, insertedTask } from '../tasks/inserts.ts';
import type { MissedPolicy, Schedule } from './model.ts';

/**
 * All SQL for `schedules` (lib/schedules/README.md says what the folder owns), one
 * operation per method, plus the one statement that inserts an occurrence's tasks, because
 * it must sit in the same transaction as the schedule's advance.
 *
 * Exactly once per occurrence rests on two things, both inside one transaction per fire:
 * - the advance is version-checked (`WHERE name = ? AND version = ?`), and the task insert
 *   right after it only inserts when that advance changed a row (`WHERE changes() = 1`:
 *   SQLite's count of rows changed by the previous statement on this connection, which a
 *   batch runs on). A pause, replace or delete that committed first, or another poller
 *   that fired first, leaves zero rows changed: no task.
 * - the task carries the idempotency key `schedule:<name>:<occurrence>` (unique index), with
 *   ON CONFLICT DO NOTHING: even two fires computed from different versions cannot make two
 *   tasks for one occurrence.
 * Several fires share one commit (`SqlDriver.batch`: one fsync locally, one round trip to a
 * libSQL server); each keeps its own advance-then-insert pair, so one lost race does not
 * affect its neighbours.
 */

const COLUMNS = 'name, cron, timezone, task, missed, paused, next_run_at, last_run_at, version, created_at, updated_at';

const SQL = {
  // PUT replaces everything the client sends. `paused` is kept when the body leaves it out (a
  // deploy script re-applying schedules must not undo an operator's pause), and next_run_at
  // is kept while cron and zone are unchanged (re-applying neither skips nor repeats one).
  upsert: `INSERT INTO schedules (${COLUMNS}) VALUES (?, ?, ?, ?, ?, coalesce(?, 0), ?, NULL, 1, ?, ?)
    ON CONFLICT (name) DO UPDATE SET
      cron = excluded.cron, timezone = excluded.timezone, task = excluded.task, missed = excluded.missed,
      paused = coalesce(?, schedules.paused),
      next_run_at = CASE WHEN schedules.cron = excluded.cron AND schedules.timezone = excluded.timezone
        THEN schedules.next_run_at ELSE excluded.next_run_at END,
      version = schedules.version + 1, updated_at = excluded.updated_at
    RETURNING ${COLUMNS}`,
  get: `SELECT ${COLUMNS} FROM schedules WHERE name = ?`,
  delete: 'DELETE FROM schedules WHERE name = ?',
  setPaused: `UPDATE schedules SET paused = ?, version = version + 1, updated_at = ? WHERE name = ? RETURNING ${COLUMNS}`,
  due: `SELECT ${COLUMNS} FROM schedules INDEXED BY schedules_due
    WHERE paused = 0 AND next_run_at <= ? ORDER BY next_run_at LIMIT ?`,
  nextDueAt: 'SELECT min(next_run_at) AS next_run_at FROM schedules INDEXED BY schedules_due WHERE paused = 0',
  counts: 'SELECT count(*) AS total, coalesce(sum(paused), 0) AS paused FROM schedules',
  advance: `UPDATE schedules SET next_run_at = ?, last_run_at = coalesce(?, last_run_at), version = version + 1, updated_at = ?
    WHERE name = ? AND version = ?`,
  // A trigger is not an occurrence: it leaves next_run_at alone.
  touch: 'UPDATE schedules SET last_run_at = ?, version = version + 1, updated_at = ? WHERE name = ?',
} as const;

/** A schedule as the dashboard lists it: the type its occurrences submit instead of the template. */
export interface ScheduleSummary extends Pick<Schedule, 'name' | 'cron' | 'timezone' | 'missed' | 'paused' | 'nextRunAt' | 'lastRunAt'> {
  type: string;
}

function summarize(s: Schedule): ScheduleSummary {
  const type = (JSON.parse(s.task) as { type?: string }).type ?? 'simulate';
  return { name: s.name, type, cron: s.cron, timezone: s.timezone, missed: s.missed, paused: s.paused, nextRunAt: s.nextRunAt, lastRunAt: s.lastRunAt };
}

export interface NewSchedule {
  name: string;
  cron: string;
  timezone: string;
  /** The validated template as JSON text. */
  task: string;
  missed: MissedPolicy;
  /** Undefined: false for a new schedule, unchanged for a replaced one. */
  paused?: boolean;
  /** The first occurrence from now under this cron and zone (used unless they are unchanged). */
  nextRunAt: number | null;
  now: number;
}

/** One fire: advance `schedule` (at the version read) and insert its occurrences' tasks. */
export interface Fire {
  schedule: Pick<Schedule, 'name' | 'version'>;
  nextRunAt: number | null;
  /** The latest occurrence this fire creates a task for (null: none, e.g. policy `skip`). */
  lastRunAt: number | null;
  tasks: NewTask[];
  now: number;
}

export interface FireResult {
  /** The advance won (false: somebody changed the schedule first; nothing was inserted). */
  advanced: boolean;
  /** Tasks inserted (fewer than asked when an occurrence already had its task). */
  inserted: number;
}

export class ScheduleRepository {
  readonly driver: SqlDriver;

  constructor(driver: SqlDriver) {
    this.driver = driver;
  }

  /** Creates or replaces; `created` when the row is new. */
  async upsert(s: NewSchedule): Promise<{ schedule: Schedule; created: boolean }> {
    const paused = s.paused === undefined ? null : s.paused ? 1 : 0;
    const rows = await this.driver.all(SQL.upsert, [s.name, s.cron, s.timezone, s.task, s.missed, paused, s.nextRunAt, s.now, s.now, paused]);
    const schedule = rowToSchedule(rows[0]!);
    return { schedule, created: schedule.version === 1 };
  }

  async get(name: string): Promise<Schedule | null> {
    const rows = await this.driver.all(SQL.get, [name]);
    return rows[0] ? rowToSchedule(rows[0]) : null;
  }

  /** By name, after `afterName` (the cursor). */
  async list(options: { afterName?: string; limit: number }): Promise<Schedule[]> {
    const where = options.afterName === undefined ? '' : 'WHERE name > ?';
    const args: SqlValue[] = options.afterName === undefined ? [options.limit] : [options.afterName, options.limit];
    return (await this.driver.all(`SELECT ${COLUMNS} FROM schedules ${where} ORDER BY name LIMIT ?`, args)).map(rowToSchedule);
  }

  /** True when a schedule was deleted. Its pending fires lose their version check. */
  async delete(name: string): Promise<boolean> {
    return (await this.driver.run(SQL.delete, [name])).changes === 1;
  }

  async setPaused(name: string, paused: boolean, now: number): Promise<Schedule | null> {
    const rows = await this.driver.all(SQL.setPaused, [paused ? 1 : 0, now, name]);
    return rows[0] ? rowToSchedule(rows[0]) : null;
  }

  /** Unpaused schedules with next_run_at <= now, earliest first. */
  async due(now: number, limit: number): Promise<Schedule[]> {
    return (await this.driver.all(SQL.due, [now, limit])).map(rowToSchedule);
  }

  /** The unpaused schedules due soonest, at most `limit`: the dashboard's "due next". */
  async dueNext(limit: number): Promise<ScheduleSummary[]> {
    return (await this.due(Number.MAX_SAFE_INTEGER, limit)).map(summarize);
  }

  /** `list` as the dashboard's Schedules page shows it. */
  async summaries(options: { afterName?: string; limit: number }): Promise<ScheduleSummary[]> {
    return (await this.list(options)).map(summarize);
  }

  /** The earliest next_run_at of any unpaused schedule: when the local poller should wake. */
  async nextDueAt(): Promise<number | null> {
    const value = (await this.driver.all(SQL.nextDueAt))[0]?.next_run_at;
    return value === null || value === undefined ? null : Number(value);
  }

  async counts(): Promise<{ total: number; paused: number }> {
    const row = (await this.driver.all(SQL.counts))[0]!;
    return { total: Number(row.total), paused: Number(row.paused) };
  }

  /** Fires, all in one transaction, each advance guarding its own inserts. */
  async fire(fires: Fire[]): Promise<FireResult[]> {
    const statements: Statement[] = [];
    const positions = fires.map((fire) => {
      const advance = statements.push({ sql: SQL.advance, args: [fire.nextRunAt, fire.lastRunAt, fire.now, fire.schedule.name, fire.schedule.version] }) - 1;
      const insert = fire.tasks.length > 0 ? statements.push(guardedInsertStatement(fire.tasks, IF_PREVIOUS_CHANGED)) - 1 : null;
      return { advance, insert };
    });
    const results = await this.driver.batch(statements);
    return positions.map(({ advance, insert }) => ({
      advanced: results[advance]!.changes === 1,
      inserted: insert === null ? 0 : results[insert]!.changes,
    }));
  }

  /** Records a trigger and inserts its task; returns it with its id, or null when the schedule does not exist. */
  async trigger(name: string, task: NewTask, now: number): Promise<Task | null> {
    const [, inserted] = await this.driver.batch([{ sql: SQL.touch, args: [now, now, name] }, guardedInsertStatement([task], IF_PREVIOUS_CHANGED)]);
    return insertedTask(task, inserted!);
  }
}

const numOrNull = (v: SqlValue | undefined): number | null => (v === null || v === undefined ? null : Number(v));

export function rowToSchedule(row: Row): Schedule {
  return {
    name: String(row.name),
    cron: String(row.cron),
    timezone: String(row.timezone),
    task: String(row.task),
    missed: row.missed as MissedPolicy,
    paused: Number(row.paused) === 1,
    nextRunAt: numOrNull(row.next_run_at),
    lastRunAt: numOrNull(row.last_run_at),
    version: Number(row.version),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
