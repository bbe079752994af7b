import * as z from 'zod';
import '../foundation/zod-openapi.ts';
import type { Statement, SqlValue } from '../db/driver.ts';
import { isoTime } from '../foundation/iso-time.ts';
import type { Task } from './model.ts';

/**
 * Every attempt of a task, kept: the rows of `task_attempts` (lib/db/schema.ts) and the one
 * attempt the task row itself describes.
 *
 * What is written, and when (always in the same transaction as the attempt's own final write):
 *   retried / failed / timed_out / released   with the transition processTask writes
 *                                             (lib/processing/outcome.ts puts it in the request)
 *   cancelled                                 when the cancelled handler has returned, with the
 *                                             write that clears its lease (process-task.ts)
 *   lease_expired                             when the worker's death is found: the claim that
 *                                             takes the task again (a trigger, migration 0011) or
 *                                             failExpiredLastAttempts (repository.ts)
 *   completed, running                        never: the task row describes the latest attempt
 *                                             (started_at, completed_at, locked_by), and
 *                                             `attemptHistory` adds it on read
 * So a task that succeeds at its first attempt writes nothing here: no statement, no row.
 *
 * Why a table beside `tasks` and not River's array on the job row: the array rides on the row
 * every claim returns and every list reads, and its trimmed rewrite grows with the history;
 * the table is touched only on the failing path (bench/README.md, "Attempt history (issue 23)").
 *
 * A workflow run's suspension gives its attempt back and is not an attempt: not recorded.
 */

export const ATTEMPT_OUTCOMES = ['retried', 'failed', 'timed_out', 'cancelled', 'released', 'lease_expired'] as const;
/** How a recorded attempt ended. */
export type RecordedOutcome = (typeof ATTEMPT_OUTCOMES)[number];
/** How an attempt ended (or that it is running), as `GET /tasks/:id/attempts` shows it. */
export type AttemptOutcome = RecordedOutcome | 'completed' | 'running';

/** What an attempt's final write records about it (the rest comes from the task as claimed). */
export interface AttemptEnd {
  outcome: RecordedOutcome;
  error: string | null;
}

/** One attempt as stored, or as the task row describes it. */
export interface Attempt {
  attempt: number;
  worker: string | null;
  startedAt: number | null;
  endedAt: number | null;
  outcome: AttemptOutcome;
  error: string | null;
}

const timestamp = () => z.iso.datetime({ offset: false });

export const AttemptSchema = z
  .object({
    attempt: z.number().int().openapi({ description: 'The attempt number the handler saw (restarts at 1 after a retry from the API; a released attempt is given back, so its number repeats)' }),
    worker: z.string().nullable().openapi({ description: 'locked_by of the attempt: the process (host:pid) or function that ran it' }),
    started_at: timestamp().nullable(),
    ended_at: timestamp().nullable().openapi({ description: 'null while running; for lease_expired, when its lease ran out' }),
    outcome: z.enum([...ATTEMPT_OUTCOMES, 'completed', 'running']),
    error: z.string().nullable(),
  })
  .openapi('Attempt');

export const AttemptListSchema = z
  .object({
    task_id: z.string(),
    count: z.number().int(),
    attempts: z.array(AttemptSchema).openapi({ description: 'Oldest first: at most TASK_ATTEMPTS_KEPT recorded attempts, then the one the task row describes (running or completed)' }),
  })
  .openapi('AttemptList');

export type AttemptJson = z.infer<typeof AttemptSchema>;

const INSERT_COLUMNS = 'task_id, n, attempt, worker, started_at, ended_at, outcome, error';
const NEXT_N = 'coalesce((SELECT max(n) FROM task_attempts WHERE task_id = ?), 0) + 1';

/**
 * The statements recording the end of `task`'s attempt (the task as claimed, or as it last
 * wrote it: the attempt, worker and start are its own): the row, only if `guard` holds (an SQL
 * condition: the transition just before it won), then the trim to the newest `kept`.
 */
export function recordAttemptStatements(task: Pick<Task, 'id' | 'attempts' | 'lockedBy' | 'startedAt'>, end: AttemptEnd, endedAt: number, kept: number, guard: { sql: string; args: SqlValue[] }): Statement[] {
  return [
    {
      sql: `INSERT INTO task_attempts (${INSERT_COLUMNS}) SELECT ?, ${NEXT_N}, ?, ?, ?, ?, ?, ? WHERE ${guard.sql}`,
      args: [task.id, task.id, task.attempts, task.lockedBy, task.startedAt, endedAt, end.outcome, end.error, ...guard.args],
    },
    trimStatement(task.id, kept),
  ];
}

/** Keeps the newest `kept` rows of one task. */
export function trimStatement(taskId: number, kept: number): Statement {
  return { sql: 'DELETE FROM task_attempts WHERE task_id = ? AND n <= (SELECT max(n) FROM task_attempts WHERE task_id = ?) - ?', args: [taskId, taskId, kept] };
}

const EXPIRED_LAST = "status = 'in_progress' AND lease_expires_at <= ? AND attempts >= max_attempts";

/**
 * For failExpiredLastAttempts, before its UPDATE in the same transaction: a `lease_expired`
 * row for each task it is about to fail, then the trim of those tasks' rows.
 */
export function expiredLastAttemptStatements(now: number, kept: number): Statement[] {
  return [
    {
      sql: `INSERT INTO task_attempts (${INSERT_COLUMNS})
        SELECT id, coalesce((SELECT max(n) FROM task_attempts a WHERE a.task_id = tasks.id), 0) + 1, attempts, locked_by, started_at, lease_expires_at,
          'lease_expired', 'lease expired on the last attempt (worker died or stalled)'
        FROM tasks INDEXED BY tasks_claim_expired WHERE ${EXPIRED_LAST}`,
      args: [now],
    },
    {
      sql: `DELETE FROM task_attempts WHERE task_id IN (SELECT id FROM tasks INDEXED BY tasks_claim_expired WHERE ${EXPIRED_LAST})
        AND n <= (SELECT max(n) FROM task_attempts b WHERE b.task_id = task_attempts.task_id) - ?`,
      args: [now, kept],
    },
  ];
}

/** The newest `limit` rows of a task, oldest first. */
export const SELECT_ATTEMPTS = `SELECT attempt, worker, started_at, ended_at, outcome, CAST(error AS BLOB) AS error FROM (
  SELECT * FROM task_attempts WHERE task_id = ? ORDER BY n DESC LIMIT ?) ORDER BY n`;

/**
 * The task's attempts, oldest first: the recorded ones, then the latest attempt as the task row
 * describes it when nothing recorded it (running, or completed).
 */
export function attemptHistory(task: Task, recorded: Attempt[]): Attempt[] {
  const fromRow: Attempt | null =
    task.status === 'in_progress'
      ? { attempt: task.attempts, worker: task.lockedBy, startedAt: task.startedAt, endedAt: null, outcome: 'running', error: null }
      : task.status === 'completed'
        ? { attempt: task.attempts, worker: task.lockedBy, startedAt: task.startedAt, endedAt: task.completedAt, outcome: 'completed', error: null }
        : null;
  return fromRow ? [...recorded, fromRow] : recorded;
}

export function attemptToJson(attempt: Attempt): AttemptJson {
  return {
    attempt: attempt.attempt,
    worker: attempt.worker,
    started_at: attempt.startedAt === null ? null : isoTime(attempt.startedAt),
    ended_at: attempt.endedAt === null ? null : isoTime(attempt.endedAt),
    outcome: attempt.outcome,
    error: attempt.error,
  };
}
