import type { Config } from '../config/config.ts';
import { ErrOptimisticLock } from '../foundation/errors.ts';
import { isoTime } from '../foundation/iso-time.ts';
import type { Logger } from '../foundation/log.ts';
import { NO_METRICS, type Metrics } from '../metrics/metrics.ts';
import type { TaskEvents } from '../tasks/events.ts';
import { formatTaskId } from '../tasks/ids.ts';
import { taskToJson, type NewTask, type Task } from '../tasks/model.ts';
import { transitioned, type AttemptRecordOnClear, type TaskRepository, type TransitionRequest } from '../tasks/repository.ts';
import { buildTask } from '../tasks/model.ts';
import { progressJson, type HandlerContext, type HandlerRegistry } from './handlers.ts';
import { Heartbeat } from './heartbeat.ts';
import { logFailure } from '../foundation/log.ts';
import { decideOutcome, releaseRequest, requestFor, StopReason, type HandlerEnd, type Outcome } from './outcome.ts';
import { nextTurn } from '../foundation/next-turn.ts';

/**
 * Runs one claimed task to its next state: the step every pool runs (lib/processing/
 * worker-pool.ts), locally and in the serverless poll.
 *
 * 1. Start the heartbeat (heartbeat.ts) and the timeout.
 * 2. Run the handler until it returns, throws, or is stopped (cancel, shutdown, timeout, lost
 *    lease); a handler that ignores its signal is not waited for once it fires.
 * 3. Decide what to write from why it stopped (outcome.ts, a pure function).
 * 4. Write it, version-checked, with any follow-up tasks in the same transaction; retried with
 *    backoff while the lease is still ours, so a database blip shorter than the lease delays
 *    the write instead of letting the task run a second time.
 * 5. Never two attempts at once: a handler stopped from outside may still be running after
 *    its task moved on (cancelled and retried, or written by step 4 while it ignores its
 *    signal), so the task keeps this attempt's lease and no other attempt starts before it ends
 *    (lib/tasks/service.ts retryDecision, outcome.ts). Once the handler has really returned,
 *    this process clears that lease (TaskRepository.clearLease): a retried task is due at once.
 */

export interface ProcessDeps {
  repo: TaskRepository;
  handlers: HandlerRegistry;
  config: Pick<Config, 'leaseSeconds' | 'timeoutSeconds' | 'backoffBaseMs' | 'backoffMaxMs' | 'maxAttempts'>;
  logger: Logger;
  /** Follow-up tasks were committed (the local poller wakes for them, like for a submit). */
  onFollowUps?(tasks: NewTask[]): void;
  /** The task went back to pending until `runAt` (a retry's backoff, a suspension): the local poller wakes then. */
  onRescheduled?(runAt: number, task?: Task): void;
  /** The task's final state (completed, failed) was written. */
  onFinished?(task: Task): void;
  /** Counts each attempt's outcome and timings (lib/metrics/); none by default. */
  metrics?: Metrics;
  /** Told of every final state written, so `?wait=` requests in this process answer at once. */
  events?: TaskEvents;
  /** A stopped attempt's lease was cleared: its task may be due now (the local poller wakes). */
  onLeaseCleared?(): void;
}

/**
 * How the pool steers one task, without an AbortController per task: creating one and
 * listening to it was a visible share of a no-op task's CPU (bench/README.md, "lazy signal").
 */
export interface TaskControl {
  /** Receives the function that stops this task's handler (cancel, shutdown). */
  bindAbort?(abort: (reason: StopReason) => void): void;
  /** Called once the handler has stopped, before the final write commits: the pool gives the worker its next task then. */
  handlerDone?(): void;
  /** Awaits `wait` without holding a worker (the handler's `waitWithoutWorker`). */
  park?<T>(wait: Promise<T>): Promise<T>;
  /**
   * The handler was stopped and has not returned yet: `released` settles once it has and its
   * lease is cleared (or failed to be). A draining pool waits for it, briefly.
   */
  releasing?(released: Promise<void>): void;
}

/** Resolves with what happened; never rejects for handler errors or lost races. */
export async function processTask(deps: ProcessDeps, claimed: Task, control: TaskControl = {}): Promise<Outcome> {
  const { config } = deps;
  // The child logger is made on first use: most handlers never log through the context, and
  // for a no-op task it was one of the largest costs after the SQL (bench/README.md).
  let childLogger: Logger | undefined;
  const log = (): Logger => (childLogger ??= deps.logger.child({ task_id: formatTaskId(claimed.id), attempt: claimed.attempts, type: claimed.type }));

  const stopper = new Stopper();
  control.bindAbort?.(stopper.abort);
  const heartbeat = new Heartbeat({ repo: deps.repo, task: claimed, leaseMs: config.leaseSeconds * 1000, onLost: stopper.abort, log });
  const timeout = setTimeout(timedOut, config.timeoutSeconds * 1000, stopper, config.timeoutSeconds);

  const handlerStarted = performance.now();
  const end = await runHandler(deps.handlers, claimed, stopper, log, control, heartbeat);
  const handlerSeconds = (performance.now() - handlerStarted) / 1000;
  clearTimeout(timeout);
  control.handlerDone?.();
  // Stopped from outside: from now on, watch for the handler itself to return, and give one
  // that honours its signal a turn to do so, so that what is written need not keep its lease.
  const handlerReturned = end.kind === 'stopped' ? stopper.handlerReturned() : undefined;
  if (handlerReturned) await Promise.race([handlerReturned, new Promise<void>((resolve) => nextTurn(resolve))]);

  // (Module-level functions below rather than closures here: see `Assignment` in worker-pool.ts.)
  const decision = decideOutcome(heartbeat.task, end.kind === 'stopped' ? { ...end, running: !stopper.returned } : end, deps.config, Date.now());
  const { request } = decision;
  if (!request) {
    await heartbeat.settle();
    if (decision.outcome === 'cancelled') log().info('task cancelled while running');
    else log().warn('lease lost: result discarded');
    // The cancel left this attempt's lease on the task (a retry waits for it); a lost lease
    // may be one too (cancelled and retried between two renewals). A cancelled attempt is
    // recorded once its handler has returned, with that write.
    const record = decision.outcome === 'cancelled' ? ({ end: CANCELLED, when: 'always' } as const) : undefined;
    clearLeaseOnReturn(deps, heartbeat.task, 0, handlerReturned!, control, log, record);
    return reportAttempt(deps, claimed, decision.outcome, handlerSeconds);
  }

  let followUps: NewTask[] = [];
  const written = await writeWhileLeased(
    heartbeat,
    (task) => {
      // The decision stands; only the version (and the lease it may keep) moves on if a
      // heartbeat renewed the lease meanwhile. Follow-ups are built from the row this write
      // makes (transitioned).
      const latest = withProgress(requestFor(decision, task), heartbeat.unwrittenProgress);
      followUps = followUpsOf(deps, latest);
      return deps.repo.transition(followUps.length > 0 ? { ...latest, followUps } : latest);
    },
    log,
  );
  if (written === 'lost') {
    log().warn('task changed while running: result discarded', { outcome: decision.outcome });
    // A cancel got there first and left this attempt's lease on the task: the attempt ended
    // cancelled (recorded if the lease is still this attempt's; else it was taken over, and the
    // claim that took it recorded it).
    clearLeaseOnReturn(deps, heartbeat.task, 0, handlerReturned ?? Promise.resolve(), control, log, { end: CANCELLED, when: 'ifCleared' });
    return reportAttempt(deps, claimed, 'lost', handlerSeconds);
  }
  if (decision.outcome === 'retried' || decision.outcome === 'suspended') deps.onRescheduled?.(written.runAt, written);
  // Written while the handler still runs: the task kept the lease until the handler returns.
  if (decision.dueAt !== undefined) clearLeaseOnReturn(deps, written, decision.dueAt, handlerReturned!, control, log);
  if (followUps.length > 0) {
    for (const task of followUps) deps.metrics?.tasksSubmitted(task.type, 1);
    deps.onFollowUps?.(followUps);
  }
  // The common outcome must not build a child logger only for a level that is off.
  const infoOn = deps.logger.level === 'debug' || deps.logger.level === 'info';
  switch (decision.outcome) {
    case 'completed':
    case 'released':
      if (infoOn) log().info(decision.outcome === 'completed' ? 'task completed' : 'task released');
      break;
    case 'suspended':
      // A workflow run logs its own steps (lib/workflows/); this is the task's side of it.
      if (deps.logger.level === 'debug') log().debug('task suspended', { run_at: isoTime(written.runAt) });
      break;
    default:
      log().warn(decision.outcome === 'failed' ? 'task failed' : 'task will be retried', { error: decision.error, run_at: isoTime(written.runAt) });
  }
  return reportAttempt(deps, claimed, decision.outcome, handlerSeconds);
}

/**
 * Once a stopped handler has returned, clears the lease its attempt left on the task (named
 * by `attempt`, the task as this attempt last wrote it): a retried task is then due at once
 * (or at `dueAt`), not when the lease ends. Nothing changes if the task no longer carries
 * that lease. A failure only delays the next attempt until the lease runs out.
 */
function clearLeaseOnReturn(deps: ProcessDeps, attempt: Task, dueAt: number, handlerReturned: Promise<void>, control: TaskControl, log: () => Logger, record?: AttemptRecordOnClear): void {
  const released = handlerReturned.then(async () => {
    try {
      if (await deps.repo.clearLease(attempt, dueAt, Date.now(), record)) deps.onLeaseCleared?.();
    } catch (error) {
      logFailure(log(), 'warn', 'clearing the lease of a stopped attempt failed: its task waits for the lease to run out', error);
    }
  });
  control.releasing?.(released);
}

/** Metrics for the attempt, and news of a final state for `?wait=` (lib/tasks/events.ts); returns `outcome`. */
function reportAttempt(deps: ProcessDeps, claimed: Task, outcome: Outcome, handlerSeconds: number): Outcome {
  if (outcome === 'completed' || outcome === 'failed') {
    deps.events?.finished(claimed.id);
    deps.onFinished?.(claimed);
  }
  const metrics = deps.metrics ?? NO_METRICS;
  if (metrics === NO_METRICS) return outcome;
  const queueWaitSeconds = claimed.attempts === 1 && claimed.startedAt !== null ? Math.max(0, (claimed.startedAt - claimed.createdAt) / 1000) : null;
  metrics.attemptFinished({ type: claimed.type, outcome, handlerSeconds, queueWaitSeconds });
  return outcome;
}

/** Gives claimed tasks that never started back to pending, version-checked. */
export async function releaseTasks(repo: TaskRepository, tasks: Task[], logger: Logger): Promise<void> {
  if (tasks.length === 0) return;
  const results = await repo.transitionMany(tasks.map((task) => releaseRequest(task)));
  const released = results.filter((r) => r.ok).length;
  logger.info('released unstarted tasks', { released, lost: results.length - released });
}

/**
 * One way to stop a handler, whoever asks (the pool for cancel and shutdown, the heartbeat
 * for a lost lease, the timeout). The handler's AbortSignal is made only if it reads it.
 */
class Stopper {
  reason: StopReason | undefined;
  /** The handler's own promise, which a stop does not wait for. */
  running: Promise<unknown> | undefined;
  /** The handler itself has returned or thrown (known once `handlerReturned()` was called). */
  returned = false;
  #controller: AbortController | undefined;
  #reject: ((reason: StopReason) => void) | undefined;

  readonly abort = (reason: StopReason): void => {
    if (this.reason) return;
    this.reason = reason;
    this.#controller?.abort(reason);
    this.#reject?.(reason);
  };

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.reason) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }

  /** Rejects when the handler is stopped. */
  stopped(): Promise<never> {
    return new Promise<never>((_, reject) => {
      if (this.reason) reject(this.reason);
      else this.#reject = reject;
    });
  }

  /**
   * Resolves once the handler itself has returned or thrown, and sets `returned`. Asked only
   * after a stop, so a task that ends normally pays nothing for it.
   */
  handlerReturned(): Promise<void> {
    const done = () => void (this.returned = true);
    // Promise.resolve: a plain-JavaScript handler may return a value rather than a promise.
    return Promise.resolve(this.running).then(done, done);
  }
}

const holdWorker = <T>(wait: Promise<T>): Promise<T> => wait;

/**
 * The handler's context. A class with getters on its prototype rather than an object literal:
 * a literal's getters and methods are closures made for every task (a visible share of a no-op
 * task's CPU under the dev loader, as for `Assignment` in worker-pool.ts). The functions it
 * hands out are made when read, and work when destructured (`{ progress }`).
 */
class TaskContext implements HandlerContext {
  readonly attempt: number;
  readonly #stopper: Stopper;
  readonly #log: () => Logger;
  readonly #control: TaskControl;
  readonly #heartbeat: Heartbeat;

  constructor(attempt: number, stopper: Stopper, log: () => Logger, control: TaskControl, heartbeat: Heartbeat) {
    this.attempt = attempt;
    this.#stopper = stopper;
    this.#log = log;
    this.#control = control;
    this.#heartbeat = heartbeat;
  }

  get signal(): AbortSignal {
    return this.#stopper.signal;
  }

  get logger(): Logger {
    return this.#log();
  }

  get waitWithoutWorker(): <T>(wait: Promise<T>) => Promise<T> {
    const control = this.#control;
    return control.park ? <T>(wait: Promise<T>) => control.park!(wait) : holdWorker;
  }

  get progress(): (value: unknown) => void {
    const heartbeat = this.#heartbeat;
    return (value: unknown) => heartbeat.progress(progressJson(value));
  }
}

/** The handler's time limit ran out (a module-level timer callback: no closure per task). */
function timedOut(stopper: Stopper, seconds: number): void {
  stopper.abort(new StopReason('timeout', `timed out after ${seconds}s`));
}

const CANCELLED = { outcome: 'cancelled', error: null } as const;

/** The final write carries the progress the handler reported last, if no write has yet. */
function withProgress(request: TransitionRequest, progress: string | undefined): TransitionRequest {
  return progress === undefined ? request : { ...request, fields: { ...request.fields, progress } };
}

async function runHandler(handlers: HandlerRegistry, task: Task, stopper: Stopper, log: () => Logger, control: TaskControl, heartbeat: Heartbeat): Promise<HandlerEnd> {
  try {
    const handler = handlers.get(task.type);
    if (!handler) throw new Error(`no handler registered for type ${JSON.stringify(task.type)}`);
    stopper.running = handler(taskToJson(task), new TaskContext(task.attempts, stopper, log, control, heartbeat));
    return { kind: 'returned', value: await Promise.race([stopper.running, stopper.stopped()]) };
  } catch (error) {
    return stopper.reason ? { kind: 'stopped', reason: stopper.reason } : { kind: 'threw', error };
  }
}

/** The follow-ups a final transition of a type that declares them carries (the outbox, repository.ts). */
function followUpsOf(deps: ProcessDeps, request: TransitionRequest): NewTask[] {
  if (request.to !== 'completed' && request.to !== 'failed') return [];
  const followUps = deps.handlers.options(request.task.type).followUps;
  if (!followUps) return [];
  const now = request.now ?? Date.now();
  return followUps(transitioned(request)).map((followUp) =>
    buildTask(followUp, { now, maxAttempts: deps.config.maxAttempts, idempotencyKey: followUp.idempotencyKey }),
  );
}

const FINAL_WRITE_RETRY_MS = { first: 50, max: 1000 };

/**
 * The final write, retried while the lease is ours (renewed by the heartbeat meanwhile). A
 * lost race ends it at once ('lost'); any other error is retried until the lease would end
 * before the next try, then thrown: the task is claimed again when its lease expires.
 */
async function writeWhileLeased(heartbeat: Heartbeat, write: (task: Task) => Promise<Task>, log: () => Logger): Promise<Task | 'lost'> {
  for (let delay = FINAL_WRITE_RETRY_MS.first; ; delay = Math.min(delay * 2, FINAL_WRITE_RETRY_MS.max)) {
    try {
      return await heartbeat.finish(write);
    } catch (error) {
      if (error instanceof ErrOptimisticLock) {
        heartbeat.stop();
        return 'lost';
      }
      const leaseEnds = heartbeat.task.leaseExpiresAt ?? 0;
      if (Date.now() + delay >= leaseEnds) {
        heartbeat.stop();
        throw error;
      }
      if (delay === FINAL_WRITE_RETRY_MS.first) logFailure(log(), 'warn', 'final write failed: retrying while the lease holds', error, { lease_expires_at: isoTime(leaseEnds) });
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
