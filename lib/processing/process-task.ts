import type { Config } from '../config.ts';
import { ErrOptimisticLock } from '../errors.ts';
import type { HandlerContext, HandlerRegistry } from './handlers.ts';
import type { Logger } from '../log.ts';
import { taskToJson, type Task } from '../tasks/model.ts';
import type { TaskRepository, TransitionRequest } from '../tasks/repository.ts';
import { TaskFailure } from './task-failure.ts';

/**
 * Runs one claimed task to its next state: the step shared by the local pool and the
 * serverless poll. While the handler runs, the lease is renewed every third of its length
 * (version-checked, so a heartbeat also tells us when the task was cancelled or taken over).
 *
 * Why the handler stopped decides what is written:
 *   returned                 → completed, with `result`
 *   threw / timed out        → pending with backoff, or failed on the last attempt
 *   cancelled (API)          → nothing: the cancel already wrote `cancelled`
 *   lease lost               → nothing: another worker owns the task now
 *   shutdown                 → released to pending, the attempt given back
 */

export type Outcome = 'completed' | 'retried' | 'failed' | 'cancelled' | 'released' | 'lost';

/**
 * How the local pool steers one task without an AbortController per task: creating one and
 * listening to it was ~8% of a no-op task's CPU in a profile (bench/README.md, "lazy signal").
 */
export interface TaskControl {
  /** Receives the function that stops this task's handler (cancel, shutdown). */
  bindAbort?(abort: (reason: StopReason) => void): void;
  /**
   * Called once the handler has stopped (and no heartbeat write is in flight), before the
   * final write is committed: the pool gives the worker its next task then.
   */
  handlerDone?(): void;
}

/** Why a running handler's signal was aborted. */
export class StopReason extends Error {
  readonly kind: 'cancelled' | 'shutdown' | 'timeout' | 'lease_lost';
  constructor(kind: StopReason['kind'], message: string) {
    super(message);
    this.name = 'StopReason';
    this.kind = kind;
  }
}

export interface ProcessDeps {
  repo: TaskRepository;
  handlers: HandlerRegistry;
  config: Pick<Config, 'leaseSeconds' | 'timeoutSeconds' | 'backoffBaseMs' | 'backoffMaxMs'>;
  logger: Logger;
}

/** Exponential backoff with jitter: base·2^(attempt-1), capped, then drawn from [½, 1]× that. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

const MAX_ERROR_LENGTH = 2000;

function errorText(error: unknown): string {
  const plain = error instanceof Error && (error.name === 'Error' || error instanceof TaskFailure);
  const text = error instanceof Error ? `${plain ? '' : `${error.name}: `}${error.message}` : String(error);
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH)}…` : text;
}

/**
 * `stop` aborts the handler from outside: pass a StopReason('cancelled' | 'shutdown') as the
 * abort reason. Resolves with what happened; never rejects for handler errors or lost races.
 * `control` is the local pool's cheaper alternative to an AbortSignal per task (see TaskControl).
 */
export async function processTask(deps: ProcessDeps, claimed: Task, stop?: AbortSignal, control?: TaskControl): Promise<Outcome> {
  const { repo, handlers, config } = deps;
  // The child logger and the handler's AbortController are made on first use: most handlers
  // return without logging through the context or reading the signal, and for a no-op task
  // those were the largest costs after the SQL (with the pool's per-task AbortController:
  // 14,200 → 23,000 tasks/s processed; bench/README.md, "lazy signal").
  let childLogger: Logger | undefined;
  const log = (): Logger => (childLogger ??= deps.logger.child({ task_id: claimed.id, attempt: claimed.attempts, type: claimed.type }));
  let current = claimed;
  let controller: AbortController | undefined;
  /** Why the handler was stopped; set once, by the first abort. */
  let stopped: StopReason | undefined;
  let rejectRace: ((reason: StopReason) => void) | undefined;
  const abort = (reason: StopReason) => {
    if (stopped) return;
    stopped = reason;
    controller?.abort(reason);
    rejectRace?.(reason);
  };
  control?.bindAbort?.(abort);
  const signal = (): AbortSignal => {
    if (!controller) {
      controller = new AbortController();
      if (stopped) controller.abort(stopped);
    }
    return controller.signal;
  };

  const onStop = () => abort(stop!.reason instanceof StopReason ? stop!.reason : new StopReason('shutdown', 'shutting down'));
  if (stop?.aborted) onStop();
  stop?.addEventListener('abort', onStop, { once: true });

  const timeoutMs = config.timeoutSeconds * 1000;
  const timeout = setTimeout(() => abort(new StopReason('timeout', `timed out after ${config.timeoutSeconds}s`)), timeoutMs);

  // Heartbeats are serialised with the final write through `writing`, so a late heartbeat can
  // never race the completion for the same version.
  let writing: Promise<unknown> = Promise.resolve();
  const leaseMs = config.leaseSeconds * 1000;
  const heartbeat = setInterval(() => {
    writing = writing.then(async () => {
      if (stopped) return;
      try {
        current = await repo.transition({ task: current, to: 'in_progress', fields: { leaseExpiresAt: Date.now() + leaseMs } });
      } catch (error) {
        if (!(error instanceof ErrOptimisticLock)) return log().warn('heartbeat failed', { error });
        const row = await repo.get(current.id).catch(() => null);
        abort(
          row?.status === 'cancelled'
            ? new StopReason('cancelled', 'task was cancelled')
            : new StopReason('lease_lost', 'lease lost to another worker'),
        );
      }
    });
  }, Math.max(50, leaseMs / 3));

  let value: unknown;
  let failure: unknown;
  let succeeded = false;
  try {
    const handler = handlers.get(current.type);
    if (!handler) throw new Error(`no handler registered for type ${JSON.stringify(current.type)}`);
    const aborted = new Promise<never>((_, reject) => {
      if (stopped) reject(stopped);
      else rejectRace = reject;
    });
    const context: HandlerContext = {
      get signal() {
        return signal();
      },
      attempt: current.attempts,
      get logger() {
        return log();
      },
    };
    // A handler that ignores its signal is not waited for once the signal fires.
    value = await Promise.race([handler(taskToJson(current), context), aborted]);
    succeeded = true;
  } catch (error) {
    failure = stopped ?? error;
  } finally {
    clearTimeout(timeout);
    clearInterval(heartbeat);
    stop?.removeEventListener('abort', onStop);
    await writing;
    control?.handlerDone?.();
  }

  let request: TransitionRequest;
  let outcome: Outcome;
  if (succeeded) {
    const result = serialise(value);
    if (result.ok) {
      request = { task: current, to: 'completed', fields: { result: result.json, completedAt: Date.now(), leaseExpiresAt: null, lastError: null } };
      outcome = 'completed';
    } else {
      failure = result.error;
      ({ request, outcome } = failureTransition(current, failure, deps));
    }
  } else if (failure instanceof StopReason && failure.kind === 'cancelled') {
    log().info('task cancelled while running');
    return 'cancelled';
  } else if (failure instanceof StopReason && failure.kind === 'lease_lost') {
    log().warn('lease lost: result discarded');
    return 'lost';
  } else if (failure instanceof StopReason && failure.kind === 'shutdown') {
    request = releaseRequest(current);
    outcome = 'released';
  } else {
    ({ request, outcome } = failureTransition(current, failure, deps));
  }

  try {
    await repo.transition(request);
  } catch (error) {
    if (error instanceof ErrOptimisticLock) {
      log().warn('task changed while running: result discarded', { outcome });
      return 'lost';
    }
    throw error;
  }
  // The common outcome must not build a child logger only for a level that is off.
  const infoOn = deps.logger.level === 'debug' || deps.logger.level === 'info';
  if (outcome === 'completed' || outcome === 'released') {
    if (infoOn) log().info(outcome === 'completed' ? 'task completed' : 'task released');
  } else log().warn(outcome === 'failed' ? 'task failed' : 'task will be retried', { error: errorText(failure), run_at: request.fields?.runAt });
  return outcome;
}

/** Back to pending, unleased, with the attempt given back: a release is not a failed attempt. */
export function releaseRequest(task: Task): TransitionRequest {
  return { task, to: 'pending', fields: { leaseExpiresAt: null, attemptsDelta: -1, startedAt: null } };
}

function failureTransition(task: Task, failure: unknown, deps: ProcessDeps): { request: TransitionRequest; outcome: Outcome } {
  const lastError = errorText(failure);
  const now = Date.now();
  const steer = failure instanceof TaskFailure ? failure : undefined;
  if (task.attempts < task.maxAttempts && !steer?.permanent) {
    const { backoffBaseMs, backoffMaxMs } = deps.config;
    let runAt = now + backoffMs(task.attempts, backoffBaseMs, backoffMaxMs);
    if (steer?.retryAt !== undefined && steer.retryAt > now) runAt = Math.min(steer.retryAt, now + backoffMaxMs);
    return { request: { task, to: 'pending', now, fields: { runAt, lastError, leaseExpiresAt: null } }, outcome: 'retried' };
  }
  return { request: { task, to: 'failed', now, fields: { lastError, completedAt: now, leaseExpiresAt: null } }, outcome: 'failed' };
}

function serialise(value: unknown): { ok: true; json: string } | { ok: false; error: Error } {
  try {
    return { ok: true, json: JSON.stringify(value === undefined ? null : value) ?? 'null' };
  } catch (error) {
    return { ok: false, error: new Error(`handler result is not JSON-serialisable: ${errorText(error)}`) };
  }
}
