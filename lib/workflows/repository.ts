import type { Row, SqlDriver, SqlValue, Statement } from '../db/driver.ts';
import { insertStatement } from '../tasks/inserts.ts';
import type { NewTask } from '../tasks/model.ts';
import { STATUSES, type TaskStatus } from '../tasks/states.ts';
import { RUN_TYPE_PREFIX } from './define.ts';
import type { StepRecord } from './protocol.ts';

/**
 * All SQL on `workflow_steps` and `workflow_events` (lib/db/schema.ts), one operation per
 * method. Writes go through the driver it is given: the group-committing one, so the steps of
 * many runs recorded in one turn of the event loop share a commit.
 *
 * Every step record is fenced on the run's lease: it is written only while the run is
 * in progress under the attempt that ran the step (`locked_by` and `attempts`). An execution
 * whose lease was taken over records nothing more; a completed record is never overwritten.
 */

/** Whose execution writes: the run's id and the lease it holds. */
export interface Fence {
  runId: number;
  lockedBy: string;
  attempt: number;
}

/**
 * The name of the event-mark record (migration 0008): empty, which no step's name can be. A
 * remote workflow's run (remote.ts) also keeps there, in `attempts` and `error`, how many
 * advances in a row its app did not answer and why: a count that survives the process, and
 * that no step's retries see.
 */
const EVENT_MARK = '';

const STEP_COLUMNS = ['run_id', 'name', 'kind', 'status', 'attempts', 'output', 'error', 'started_at', 'completed_at', 'wake_at', 'event', 'event_key', 'event_id', 'child_run_id'];
const UPDATED_ON_CONFLICT = STEP_COLUMNS.filter((c) => c !== 'run_id' && c !== 'name' && c !== 'kind' && c !== 'started_at');
const HELD = "EXISTS (SELECT 1 FROM tasks WHERE id = ? AND status = 'in_progress' AND locked_by = ? AND attempts = ?)";

const SQL = {
  steps: `SELECT ${STEP_COLUMNS.join(', ')} FROM workflow_steps WHERE run_id = ? ORDER BY rowid`,
  record: (childRunIdSql: string) => `INSERT INTO workflow_steps (${STEP_COLUMNS.join(', ')})
    SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ${childRunIdSql} WHERE ${HELD}
    ON CONFLICT (run_id, name) DO UPDATE SET ${UPDATED_ON_CONFLICT.map((c) => `${c} = excluded.${c}`).join(', ')}
    WHERE workflow_steps.status <> 'completed'`,
  findEvent: `SELECT id, payload FROM workflow_events INDEXED BY workflow_events_match
    WHERE event = ? AND key IS ? AND created_at >= ? AND id > ? ORDER BY id LIMIT 1`,
  insertEvent: 'INSERT INTO workflow_events (event, key, payload, created_at) VALUES (?, ?, ?, ?)',
  // The runs waiting for this event and key become due; a run that is running or about to
  // suspend finds the event itself (its suspension's wake-up condition, engine.ts). Not before
  // a lease its last attempt still holds: a run cancelled while its handler ran and retried
  // at once waits for that attempt (docs/architecture.md, "Never two attempts of a task at
  // once"; migration 0009 does the same for a child's end).
  wakeWaiting: `UPDATE tasks SET run_at = min(run_at, max(?, coalesce(lease_expires_at, 0))) WHERE status = 'pending' AND id IN (
    SELECT run_id FROM workflow_steps INDEXED BY workflow_steps_waiting_event
    WHERE event = ? AND event_key IS ? AND status = 'waiting' AND kind = 'wait')`,
  child: 'SELECT status, result, last_error FROM tasks WHERE id = ?',
  children: "SELECT child_run_id FROM workflow_steps WHERE run_id = ? AND kind = 'invoke' AND child_run_id IS NOT NULL",
  resetFailed: "DELETE FROM workflow_steps WHERE run_id = ? AND status = 'failed'",
  // Only while the run has ended: no execution of it can write the mark then (the fence needs
  // it in progress), so the count stays 0 until the retried run runs.
  resetAdvanceFailures: `UPDATE workflow_steps SET attempts = 0, error = NULL WHERE run_id = ? AND name = ''
    AND EXISTS (SELECT 1 FROM tasks WHERE id = ? AND status IN ('failed', 'cancelled'))`,
  // A range over the type index (tasks_type_id): runs of every workflow, registered or not.
  runCounts: 'SELECT status, count(*) AS n FROM tasks WHERE type >= ? AND type < ? GROUP BY status',
  advanceFailures: `UPDATE workflow_steps SET attempts = ?, error = ? WHERE run_id = ? AND name = '' AND ${HELD}`,
  deleteEvents: 'DELETE FROM workflow_events WHERE id IN (SELECT id FROM workflow_events INDEXED BY workflow_events_age WHERE created_at < ? LIMIT ?)',
} as const;

/** The SQL condition "an event this wait would take exists" (a suspension's wake-up). */
export function eventArrivedCondition(event: string, key: string | null, since: number, afterId: number): { sql: string; args: SqlValue[] } {
  return { sql: 'EXISTS (SELECT 1 FROM workflow_events WHERE event = ? AND key IS ? AND created_at >= ? AND id > ?)', args: [event, key, since, afterId] };
}

/** The SQL condition "the child run has ended". */
export function childEndedCondition(childRunId: number): { sql: string; args: SqlValue[] } {
  return { sql: "EXISTS (SELECT 1 FROM tasks WHERE id = ? AND status IN ('completed', 'failed', 'cancelled'))", args: [childRunId] };
}

export class WorkflowRepository {
  readonly #driver: SqlDriver;

  constructor(driver: SqlDriver) {
    this.#driver = driver;
  }

  /** The run's step records, in the order they were first recorded. */
  async steps(runId: number): Promise<StepRecord[]> {
    return (await this.run(runId)).steps;
  }

  /**
   * The run's step records and its event mark: the highest event id issued when the run was
   * inserted (the trigger of migration 0008), or null for a run from before that migration.
   */
  async run(runId: number): Promise<{ steps: StepRecord[]; eventMark: number | null; advanceFailures: number }> {
    const steps: StepRecord[] = [];
    let eventMark: number | null = null;
    let advanceFailures = 0;
    for (const row of await this.#driver.all(SQL.steps, [runId])) {
      if (row.name === EVENT_MARK) {
        eventMark = Number(row.event_id);
        advanceFailures = Number(row.attempts);
      } else steps.push(rowToStep(row));
    }
    return { steps, eventMark, advanceFailures };
  }

  /**
   * A remote run's advances in a row that its app did not answer (0 once it answers), and the
   * last reason, on the event-mark record; fenced like a step. False when the fence did not
   * hold or the run has no mark (from before migration 0008).
   */
  async setAdvanceFailures(fence: Fence, count: number, error: string | null): Promise<boolean> {
    return (await this.#driver.run(SQL.advanceFailures, [count, error, fence.runId, ...fenceArgs(fence)])).changes === 1;
  }

  /** The steps of several runs (a page of runs: what each waits for). */
  async stepsOf(runIds: number[]): Promise<Map<number, StepRecord[]>> {
    const byRun = new Map<number, StepRecord[]>();
    if (runIds.length === 0) return byRun;
    const rows = await this.#driver.all(`SELECT ${STEP_COLUMNS.join(', ')} FROM workflow_steps WHERE run_id IN (${runIds.map(() => '?').join(', ')}) ORDER BY rowid`, runIds);
    for (const row of rows) {
      const runId = Number(row.run_id);
      if (row.name === EVENT_MARK) continue;
      let list = byRun.get(runId);
      if (!list) byRun.set(runId, (list = []));
      list.push(rowToStep(row));
    }
    return byRun;
  }

  /** Writes a step's record if the fence holds; false when it does not (the lease is gone). */
  async record(fence: Fence, step: StepRecord): Promise<boolean> {
    const result = await this.#driver.run(SQL.record('?'), [...stepArgs(fence.runId, step), step.childRunId, ...fenceArgs(fence)]);
    return result.changes === 1;
  }

  /**
   * Starts a child run (skipped when its idempotency key exists: a replay after a crash finds
   * the child it started) and records the parent's waiting invoke step pointing at it, in one
   * transaction. Returns the child's id and whether this call created it, or null when the
   * fence did not hold.
   */
  async startChild(fence: Fence, step: StepRecord, child: NewTask): Promise<{ id: number; created: boolean } | null> {
    const key = child.idempotencyKey!;
    const statements: Statement[] = [
      insertStatement(child, null, 0),
      { sql: SQL.record('(SELECT id FROM tasks WHERE idempotency_key = ?)'), args: [...stepArgs(fence.runId, step), key, ...fenceArgs(fence)] },
    ];
    const [inserted, recorded] = await this.#driver.batch(statements);
    if (recorded!.changes !== 1) return null;
    const row = (await this.#driver.all('SELECT id FROM tasks WHERE idempotency_key = ?', [key]))[0];
    return row ? { id: Number(row.id), created: inserted!.changes === 1 } : null;
  }

  /**
   * The oldest event a wait would take: newer than `afterId` (the run's event mark, or the last
   * event an earlier wait took) and, for runs from before the event mark, stamped since `since`.
   */
  async findEvent(event: string, key: string | null, since: number, afterId: number): Promise<{ id: number; payload: string | null } | null> {
    const row = (await this.#driver.all(SQL.findEvent, [event, key, since, afterId]))[0];
    return row ? { id: Number(row.id), payload: (row.payload as string | null) ?? null } : null;
  }

  /** Stores an event and makes every run waiting for it due, in one transaction; returns how many. */
  async sendEvent(event: string, key: string | null, payload: string | null, now: number): Promise<number> {
    const [, woken] = await this.#driver.batch([
      { sql: SQL.insertEvent, args: [event, key, payload, now] },
      { sql: SQL.wakeWaiting, args: [now, event, key] },
    ]);
    return woken!.changes;
  }

  async childState(childRunId: number): Promise<{ status: TaskStatus; result: string | null; error: string | null } | null> {
    const row = (await this.#driver.all(SQL.child, [childRunId]))[0];
    return row ? { status: row.status as TaskStatus, result: (row.result as string | null) ?? null, error: (row.last_error as string | null) ?? null } : null;
  }

  async children(runId: number): Promise<number[]> {
    return (await this.#driver.all(SQL.children, [runId])).map((row) => Number(row.child_run_id));
  }

  /** Workflow runs by status, every status present. */
  async runCounts(): Promise<Record<TaskStatus, number>> {
    const counts = Object.fromEntries(STATUSES.map((status) => [status, 0])) as Record<TaskStatus, number>;
    // `workflow:` … `workflow;`: ';' is the character after ':'.
    const end = RUN_TYPE_PREFIX.slice(0, -1) + String.fromCharCode(RUN_TYPE_PREFIX.charCodeAt(RUN_TYPE_PREFIX.length - 1) + 1);
    for (const row of await this.#driver.all(SQL.runCounts, [RUN_TYPE_PREFIX, end])) counts[row.status as TaskStatus] = Number(row.n);
    return counts;
  }

  /**
   * A retried run runs its failed steps again, and a remote one's count of unanswered advances
   * starts again at 0 (its first backoff is the base one), in one transaction; done while the
   * run has ended, before it is retried. Returns how many steps were reset.
   */
  async resetForRetry(runId: number): Promise<number> {
    const [reset] = await this.#driver.batch([
      { sql: SQL.resetFailed, args: [runId] },
      { sql: SQL.resetAdvanceFailures, args: [runId, runId] },
    ]);
    return reset!.changes;
  }

  /** Retention: at most `limit` events older than `before`. */
  async deleteEventsBefore(before: number, limit: number): Promise<number> {
    return (await this.#driver.run(SQL.deleteEvents, [before, limit])).changes;
  }
}

function stepArgs(runId: number, s: StepRecord): SqlValue[] {
  return [runId, s.name, s.kind, s.status, s.attempts, s.output, s.error, s.startedAt, s.completedAt, s.wakeAt, s.event, s.eventKey, s.eventId];
}

const fenceArgs = (fence: Fence): SqlValue[] => [fence.runId, fence.lockedBy, fence.attempt];

const numberOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

function rowToStep(row: Row): StepRecord {
  return {
    name: String(row.name),
    kind: row.kind as StepRecord['kind'],
    status: row.status as StepRecord['status'],
    attempts: Number(row.attempts),
    output: (row.output as string | null) ?? null,
    error: (row.error as string | null) ?? null,
    startedAt: Number(row.started_at),
    completedAt: numberOrNull(row.completed_at),
    wakeAt: numberOrNull(row.wake_at),
    event: (row.event as string | null) ?? null,
    eventKey: (row.event_key as string | null) ?? null,
    eventId: numberOrNull(row.event_id),
    childRunId: numberOrNull(row.child_run_id),
  };
}
