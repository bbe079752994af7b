import type { Task } from '../tasks/model.ts';
import type { TransitionRequest } from '../tasks/repository.ts';
import { isSuspension } from './suspension.ts';
import { failureSteer, isTaskFailure } from './task-failure.ts';

/**
 * Why a handler stopped decides what is written: a pure function of the task, the reason and
 * the clock, so the table below is tested without a database (test/outcome.test.ts).
 *
 *   returned (JSON result)    → completed, with `result`
 *   returned a suspension     → pending until its time (or at once when its wakeIf holds),
 *                               the lease released and the attempt given back
 *   returned (not JSON)       → as if it threw: the result cannot be stored
 *   threw / timed out         → pending with backoff (or a TaskFailure's retryAt), or failed
 *                               on the last attempt or for a permanent TaskFailure
 *   cancelled (API)           → nothing: the cancel already wrote `cancelled`
 *   lease lost                → nothing: another worker owns the task now
 *   shutdown                  → released to pending, the attempt given back
 *
 * Every write but a completion or a suspension also records the attempt (`request.attempt`:
 * retried, failed, timed_out, released; lib/tasks/attempts.ts), in the same transaction; a
 * cancelled attempt is recorded by processTask once its handler has returned.
 *
 * A handler stopped from outside (timeout, shutdown) may not have returned yet when this is
 * written: it ignores its signal, or is still finishing. Then the write keeps the attempt's
 * lease on the row and a pending task is not due before that lease ends (`run_at` at least
 * the lease), so no other attempt can start while this one may still run; `dueAt` says when it
 * would be due otherwise. Once the handler returns, its process clears the lease and brings
 * `run_at` back to `dueAt` (processTask, TaskRepository.clearLease).
 */

export type Outcome = 'completed' | 'retried' | 'suspended' | 'failed' | 'cancelled' | 'released' | 'lost';

/** Why a running handler was stopped from outside. */
export class StopReason extends Error {
  readonly kind: 'cancelled' | 'shutdown' | 'timeout' | 'lease_lost';
  constructor(kind: StopReason['kind'], message: string) {
    super(message);
    this.name = 'StopReason';
    this.kind = kind;
  }
}

/**
 * How the handler's run ended. `stopped`: stopped from outside; `running` while the handler
 * itself has not returned yet (processTask does not wait for it).
 */
export type HandlerEnd = { kind: 'returned'; value: unknown } | { kind: 'threw'; error: unknown } | { kind: 'stopped'; reason: StopReason; running?: boolean };

export interface RetryPolicy {
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export interface Decision {
  outcome: Outcome;
  /** The transition to write; none when somebody else already wrote the task's next state. */
  request?: TransitionRequest;
  /** The error recorded as `last_error`, for failures and retries. */
  error?: string;
  /**
   * Set when the write keeps the attempt's lease because its handler is still running: when
   * the task would be due without it (a pending task; 0 otherwise: whenever it is retried).
   */
  dueAt?: number;
}

export function decideOutcome(task: Task, end: HandlerEnd, policy: RetryPolicy, now: number, random = Math.random): Decision {
  if (end.kind === 'returned') {
    if (isSuspension(end.value)) {
      const { runAt, wakeIf, lastError } = end.value;
      const fields = { runAt, leaseExpiresAt: null, attemptsDelta: -1 as const, startedAt: null };
      return { outcome: 'suspended', request: { task, to: 'pending', now, fields: lastError === undefined ? fields : { ...fields, lastError }, wakeIf } };
    }
    const result = serialise(end.value);
    if (result.ok) {
      return { outcome: 'completed', request: { task, to: 'completed', now, fields: { result: result.json, completedAt: now, leaseExpiresAt: null, lastError: null } } };
    }
    return failure(task, result.error, policy, now, random);
  }
  if (end.kind === 'threw') return failure(task, end.error, policy, now, random);
  switch (end.reason.kind) {
    case 'cancelled':
      return { outcome: 'cancelled' };
    case 'lease_lost':
      return { outcome: 'lost' };
    case 'shutdown':
      return keepingLease({ outcome: 'released', request: { ...releaseRequest(task, now), attempt: { outcome: 'released', error: null } } }, end.running);
    case 'timeout':
      return keepingLease(failure(task, end.reason, policy, now, random, true), end.running);
  }
}

/**
 * The write for a handler that may still be running: the attempt's lease stays on the row
 * (not cleared), and a pending task waits for it (`run_at` at least the lease's end).
 */
function keepingLease(decision: Decision, running: boolean | undefined): Decision {
  const { request } = decision;
  const lease = request?.task.leaseExpiresAt;
  if (!running || !request || lease === null || lease === undefined) return decision;
  const { leaseExpiresAt: _cleared, ...fields } = request.fields ?? {};
  if (request.to !== 'pending') return { ...decision, dueAt: 0, request: { ...request, fields } };
  const dueAt = fields.runAt ?? request.now ?? 0;
  return { ...decision, dueAt, request: { ...request, fields: { ...fields, runAt: Math.max(dueAt, lease) } } };
}

/**
 * The decision's write for the task as last written: a heartbeat may have renewed the lease
 * since the decision, so the version moves on, and a write that keeps the lease keeps a pending
 * task waiting for the newer lease.
 */
export function requestFor(decision: Decision, task: Task): TransitionRequest {
  const request = decision.request!;
  if (task === request.task) return request;
  const runAt = request.fields?.runAt;
  if (decision.dueAt === undefined || request.to !== 'pending' || runAt === undefined) return { ...request, task };
  return { ...request, task, fields: { ...request.fields, runAt: Math.max(runAt, task.leaseExpiresAt ?? 0) } };
}

/** Back to pending, unleased, with the attempt given back: a release is not a failed attempt. */
export function releaseRequest(task: Task, now = Date.now()): TransitionRequest {
  return { task, to: 'pending', now, fields: { leaseExpiresAt: null, attemptsDelta: -1, startedAt: null } };
}

/** Exponential backoff with jitter: base·2^(attempt-1), capped, then drawn from [½, 1]× that. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

function failure(task: Task, error: unknown, policy: RetryPolicy, now: number, random: () => number, timedOut = false): Decision {
  const lastError = errorText(error);
  // By brand: a user's handlers module may throw its own copy of the class (task-failure.ts).
  const steer = failureSteer(error);
  if (task.attempts < task.maxAttempts && !steer?.permanent) {
    let runAt = now + backoffMs(task.attempts, policy.backoffBaseMs, policy.backoffMaxMs, random);
    if (steer?.retryAt !== undefined && steer.retryAt > now) runAt = Math.min(steer.retryAt, now + policy.backoffMaxMs);
    const attempt = { outcome: timedOut ? 'timed_out' : 'retried', error: lastError } as const;
    return { outcome: 'retried', error: lastError, request: { task, to: 'pending', now, fields: { runAt, lastError, leaseExpiresAt: null }, attempt } };
  }
  const attempt = { outcome: timedOut ? 'timed_out' : 'failed', error: lastError } as const;
  return { outcome: 'failed', error: lastError, request: { task, to: 'failed', now, fields: { lastError, completedAt: now, leaseExpiresAt: null }, attempt } };
}

const MAX_ERROR_LENGTH = 2000;

/** An error as `last_error`: `Name: message` (no name for plain errors), at most 2,000 characters. */
export function errorText(error: unknown): string {
  const plain = error instanceof Error && (error.name === 'Error' || isTaskFailure(error));
  const text = error instanceof Error ? `${plain ? '' : `${error.name}: `}${error.message}` : String(error);
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH)}…` : text;
}

function serialise(value: unknown): { ok: true; json: string } | { ok: false; error: Error } {
  try {
    return { ok: true, json: JSON.stringify(value === undefined ? null : value) ?? 'null' };
  } catch (error) {
    return { ok: false, error: new Error(`handler result is not JSON-serialisable: ${errorText(error)}`) };
  }
}
