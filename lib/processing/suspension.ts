import type { SqlValue } from '../db/driver.ts';

/**
 * What a handler returns to set its task aside until later without failing it: back to
 * pending with `run_at = runAt`, the lease released and the attempt given back (a suspended
 * task holds no worker, no lease and no attempt). Workflow runs (lib/workflows/) suspend on a
 * sleep, a wait for an event, a child run or a step's retry.
 *
 * `wakeIf` is an SQL condition checked in the same transaction as the suspension: when it
 * holds, the task is due at once. It closes the gap between "nothing to wait for any more?"
 * asked by the handler and the suspension's commit: an event or a child's end committed in
 * between is seen here, and one committed after it finds the task pending and wakes it.
 *
 * Recognised by a brand (STYLE.md, rule 19), like TaskFailure.
 */
const SUSPENSION = Symbol.for('task-pool.Suspension');

export interface Suspension {
  readonly [SUSPENSION]: true;
  readonly runAt: number;
  readonly wakeIf?: { sql: string; args: SqlValue[] };
  /**
   * Written as `last_error` when set (null clears it): a remote workflow's run waiting for its
   * app to answer again shows why (lib/workflows/remote.ts). Left as it is when undefined.
   */
  readonly lastError?: string | null;
}

export function suspension(runAt: number, wakeIf?: Suspension['wakeIf'], lastError?: string | null): Suspension {
  return lastError === undefined ? { [SUSPENSION]: true, runAt, wakeIf } : { [SUSPENSION]: true, runAt, wakeIf, lastError };
}

export function isSuspension(value: unknown): value is Suspension {
  return typeof value === 'object' && value !== null && (value as { [SUSPENSION]?: unknown })[SUSPENSION] === true;
}
