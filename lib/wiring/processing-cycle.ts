import type { Logger } from '../foundation/log.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { deadlinePoll, type PollSummary } from '../processing/deadline-poll.ts';
import { StopReason } from '../processing/outcome.ts';
import { Poller } from '../processing/poller.ts';
import { processTask, releaseTasks, type ProcessDeps } from '../processing/process-task.ts';
import { WorkerPool } from '../processing/worker-pool.ts';
import { ScheduleFirer } from '../schedules/firing.ts';
import type { Schedule } from '../schedules/model.ts';
import type { ScheduleService } from '../schedules/service.ts';
import type { NewTask, Task } from '../tasks/model.ts';
import { RetentionSweeper, retentionPolicy } from '../tasks/retention.ts';
import { workflowOfType } from '../workflows/define.ts';
import { WorkflowEventSweeper } from '../workflows/engine.ts';
import { withRunMetrics } from '../workflows/metrics.ts';
import { createAppServices, type AppServices, type AppServicesOptions } from './app-services.ts';
import type { TaskServices } from './task-services.ts';

/**
 * The processing cycle, written once for every adapter (docs/architecture.md, "The processing
 * cycle"). Each poll:
 *
 *   1. every participant's `beforeClaim` (due schedules become tasks),
 *   2. claim up to the pool's free capacity and process (lib/processing/: poller, pool,
 *      processTask), claiming again at once while batches come back full,
 *
 * and, within a bounded share of time, every participant's `upkeep` (retention deletes old
 * finished tasks). Two ways to drive it, differing only in what ends it:
 *
 * - `ProcessingLoop`: a process that lives (local/runtime.ts: `serve`, `worker`). A timer
 *   (TASK_POLL_INTERVAL_SECONDS) and wake-ups (a submit, a freed slot after a full batch, the
 *   next due time) start polls; upkeep runs every poll interval.
 * - `pollWithinBudget`: one invocation with a deadline (functions/: the cron-triggered poll;
 *   `task-pool poll --once`): the participants once, upkeep within a share of the budget,
 *   then claims until the budget is nearly spent.
 *
 * The adapters only configure: the driver, metrics, transports, signals, the platform's
 * request and scheduled events are theirs; what runs and in which order is here.
 */

/**
 * Something the cycle runs besides claiming tasks: due schedules, retention of tasks and of
 * workflow events. (Workflow runs themselves are tasks: the claim takes them.) One object
 * serves both drivers.
 */
export interface CycleParticipant {
  readonly name: string;
  /** Before each claim. Cheap when nothing is due: the loop calls it on every poll. */
  beforeClaim?(): Promise<void>;
  /**
   * Bounded background work, at most `budgetMs` long; never throws (a failure is logged and
   * tried again next time). Returns counts worth logging, if any.
   */
  upkeep?(budgetMs: number): Promise<Record<string, number> | undefined>;
}

/** How a participant asks for the next poll. */
export interface CycleWakeups {
  /** Poll at `time` (epoch ms), if that is sooner than already planned. */
  wakeAt(time: number): void;
}

/** What the cycle runs on: the task services plus schedules (lib/wiring/app-services.ts builds both). */
export type CycleServices = TaskServices & { schedules: ScheduleService };

export interface CycleOptions {
  /** Names this process or isolate in `locked_by` and in logs. */
  workerId: string;
  metrics?: Metrics;
}

/** The participants of the cycle, in the order they run. */
function participantsOf(services: CycleServices, wakeups: CycleWakeups, logger: Logger): { schedules: ScheduleFirer; retention: RetentionSweeper; all: CycleParticipant[] } {
  const { config } = services;
  const schedules = new ScheduleFirer({ schedules: services.schedules, logger, wakeAt: (time) => wakeups.wakeAt(time), recheckMs: config.pollIntervalSeconds * 1000 });
  const retention = new RetentionSweeper({ repo: services.repo, policy: retentionPolicy(config), logger });
  const events = new WorkflowEventSweeper(services.workflowRepo, config.workflowEventRetentionMs, logger);
  return { schedules, retention, all: [schedules, retention, events] };
}

/** Each participant's upkeep in turn, together within `budgetMs`; their counts merged. */
async function runUpkeep(participants: readonly CycleParticipant[], budgetMs: number): Promise<Record<string, number>> {
  const stopAt = Date.now() + budgetMs;
  const counts: Record<string, number> = {};
  for (const participant of participants) {
    if (!participant.upkeep) continue;
    Object.assign(counts, await participant.upkeep(Math.max(0, stopAt - Date.now())));
  }
  return counts;
}

function processDepsOf(services: CycleServices, options: CycleOptions, logger: Logger, loop?: ProcessingLoop): ProcessDeps {
  return {
    repo: services.repo,
    handlers: services.handlers,
    config: services.config,
    logger: logger.child({ worker: options.workerId }),
    onFollowUps: loop && ((tasks: NewTask[]) => tasks.forEach((task) => loop.taskCommitted(task))),
    onRescheduled: loop && ((runAt: number, task?: Task) => {
      loop.taskCommitted({ runAt });
      // Back to pending: its flow key has room again.
      if (task && task.flowControl !== null) loop.wake();
    }),
    onFinished: loop && ((task: Task) => loop.taskEnded(task)),
    // As the task service's: a run's final write is also the run's end (lib/workflows/metrics.ts).
    metrics: options.metrics && withRunMetrics(options.metrics),
    // A stopped handler returned and its task's lease was cleared: a retry waiting for it is due.
    onLeaseCleared: loop && (() => loop.wake()),
    events: services.service.events,
  };
}

/** A budgeted poll's share for upkeep: 10% of its budget, at most 2 s. */
export const pollUpkeepBudgetMs = (pollBudgetMs: number): number => Math.min(2000, pollBudgetMs * 0.1);

/**
 * One budgeted invocation of the cycle (POLL_BUDGET_SECONDS): whatever fell due since the last
 * one, however late the platform's cron is; upkeep within its share; then claim and process
 * until the budget is nearly spent. Logs one line with what it did, and returns the summary.
 */
export async function pollWithinBudget(services: CycleServices, options: CycleOptions): Promise<PollSummary> {
  const { config } = services;
  const logger = services.logger.child({ worker: options.workerId });
  // No process outlives the invocation: nothing to wake; the next cron poll comes anyway.
  const { all } = participantsOf(services, { wakeAt: () => undefined }, logger);
  const started = Date.now();
  for (const participant of all) await participant.beforeClaim?.();
  const upkept = await runUpkeep(all, pollUpkeepBudgetMs(config.pollBudgetSeconds * 1000));
  const budgetMs = config.pollBudgetSeconds * 1000 - (Date.now() - started);
  const summary = await deadlinePoll(processDepsOf(services, options, services.logger), {
    workerId: options.workerId,
    concurrency: config.workers,
    batchSize: config.pollBatchSize,
    budgetMs,
    leaseMs: config.leaseSeconds * 1000,
  });
  logger.info('poll finished', { ...summary, ...upkept });
  return summary;
}

/**
 * The cycle in a process that lives: the pool (TASK_WORKERS, TASK_QUEUE_SIZE), the poller that
 * feeds it, and the participants' work on the poll interval. What the services commit, cancel
 * or resume in this process reaches it through `hooks` (createServicesWithLoop wires them).
 */
export class ProcessingLoop {
  readonly pool: WorkerPool;
  readonly poller: Poller;
  readonly schedules: ScheduleFirer;
  readonly retention: RetentionSweeper;
  readonly participants: readonly CycleParticipant[];
  readonly #services: CycleServices;
  #upkeepTimer: ReturnType<typeof setInterval> | undefined;
  #upkeeping: Promise<unknown> | undefined;
  #started = false;
  #stopping: Promise<void> | undefined;

  constructor(services: CycleServices, options: CycleOptions) {
    this.#services = services;
    const { config, logger } = services;
    const deps = processDepsOf(services, options, logger, this);
    this.pool = new WorkerPool({
      workers: config.workers,
      queueSize: config.queueSize,
      logger,
      run: (task, control) => processTask(deps, task, control),
      onSlotFree: () => this.poller.slotFreed(),
    });
    const participants = participantsOf(services, { wakeAt: (time) => this.poller.wakeAt(time) }, logger);
    this.schedules = participants.schedules;
    this.retention = participants.retention;
    this.participants = participants.all;
    this.poller = new Poller({
      repo: services.repo,
      pool: this.pool,
      workerId: options.workerId,
      batchSize: config.pollBatchSize,
      leaseMs: config.leaseSeconds * 1000,
      logger,
      beforePoll: async () => {
        for (const participant of this.participants) await participant.beforeClaim?.();
      },
    });
  }

  /** Starts polling and upkeep on the poll interval, each at once too. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const intervalMs = this.#services.config.pollIntervalSeconds * 1000;
    this.poller.start(intervalMs);
    // Each upkeep round is bounded to 10% of the interval (at least 20 ms); never two at once.
    const budgetMs = Math.max(20, intervalMs * 0.1);
    const upkeep = () => void (this.#upkeeping ??= runUpkeep(this.participants, budgetMs).finally(() => (this.#upkeeping = undefined)));
    this.#upkeepTimer = setInterval(upkeep, intervalMs);
    upkeep();
  }

  /** A task was committed in this process (a submit, a retry, a follow-up): poll when it is due. */
  taskCommitted(task: Pick<Task, 'runAt'>): void {
    if (task.runAt <= Date.now()) this.poller.wakeForSubmit();
    else this.poller.wakeAt(task.runAt);
  }

  /** A task was cancelled: stop its handler if it runs here. */
  taskCancelled(task: Pick<Task, 'id' | 'type'>): void {
    this.pool.abort(task.id, new StopReason('cancelled', 'task was cancelled'));
    this.taskEnded(task);
  }

  /**
   * A task reached a final state in this process. A workflow run's end may have made its
   * parent due (the database trigger workflow_wake_parent), and a task with a flow key ending
   * gives its key room (lib/flow-control/claim.ts): poll for them now, not at the next tick.
   */
  taskEnded(task: Pick<Task, 'type'> & Partial<Pick<Task, 'flowControl'>>): void {
    if (workflowOfType(task.type) !== null || (task.flowControl ?? null) !== null) this.poller.wake();
  }

  /** A paused type was resumed, or tasks were created outside the poll (a schedule trigger). */
  wake(): void {
    this.poller.wake();
  }

  /** A schedule was created, replaced or resumed in this process. */
  scheduleChanged(schedule: Schedule): void {
    this.schedules.changed(schedule);
  }

  /**
   * Stops polling and upkeep, lets running handlers finish within `drainMs`, stops the rest,
   * and releases every task claimed here but not finished back to pending (version-checked).
   */
  stop(drainMs: number): Promise<void> {
    return (this.#stopping ??= (async () => {
      const inFlight = await this.poller.stop();
      clearInterval(this.#upkeepTimer);
      await this.#upkeeping;
      const unstarted = await this.pool.drain(drainMs);
      await releaseTasks(this.#services.repo, [...inFlight, ...unstarted], this.#services.logger);
    })());
  }
}

export interface ServicesWithLoopOptions extends AppServicesOptions {
  workerId: string;
  /** Run the loop's pool and poller (serve, worker); off for a process that only answers the API. */
  processing: boolean;
}

/**
 * The app services with a processing loop attached: a submit, retry or follow-up committed
 * here wakes this process's poller, a cancel stops its handler, a resumed type or a changed
 * schedule polls again. With processing off, the loop is built but never started, and only a
 * cancel reaches it (nothing runs to stop).
 */
export function createServicesWithLoop(options: ServicesWithLoopOptions): { services: AppServices; loop: ProcessingLoop } {
  const { processing } = options;
  // The services need the hooks before the loop exists; the loop needs the services.
  let loop: ProcessingLoop | undefined;
  const services = createAppServices({
    ...options,
    hooks: {
      onSubmitted: processing ? (task) => loop?.taskCommitted(task) : undefined,
      onCancelled: (task) => loop?.taskCancelled(task),
      onResumed: processing ? () => loop?.wake() : undefined,
      reserveWorker: processing ? () => loop?.poller.reserve() : undefined,
    },
    scheduleHooks: processing ? { onChanged: (schedule) => loop?.scheduleChanged(schedule), onTasksCreated: () => loop?.wake() } : undefined,
  });
  loop = new ProcessingLoop(services, { workerId: options.workerId, metrics: options.metrics });
  return { services, loop };
}
