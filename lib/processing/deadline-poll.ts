import { Poller } from './poller.ts';
import { processTask, releaseTasks, type ProcessDeps } from './process-task.ts';
import { WorkerPool } from './worker-pool.ts';

/**
 * Claiming and processing until a deadline: the same pool and claim loop as the long-lived
 * process (worker-pool.ts, poller.ts), driven by a deadline instead of a timer; the budgeted
 * poll of the processing cycle (lib/wiring/processing-cycle.ts) runs it. One invocation claims whenever a worker
 * frees, with at most `concurrency` handlers at once, until its time budget is nearly spent
 * (or nothing is due and nothing runs); then running handlers get until the budget's end, the
 * rest are stopped and released to pending, and it returns a summary. Overlapping invocations
 * are safe: the claim hands each task to one.
 */
export interface PollOptions {
  workerId: string;
  concurrency: number;
  batchSize: number;
  budgetMs: number;
  leaseMs: number;
  /** Stop claiming this long before the budget ends (default: 20% of it, at most 5 s). */
  claimMarginMs?: number;
}

export interface PollSummary {
  claimed: number;
  completed: number;
  failed: number;
  retried: number;
  /** Workflow runs set aside until a sleep, an event, a child run or a step's retry (lib/workflows/). */
  suspended: number;
  cancelled: number;
  released: number;
  lost: number;
  expired_failed: number;
  duration_ms: number;
}

export async function deadlinePoll(deps: ProcessDeps, options: PollOptions): Promise<PollSummary> {
  const started = Date.now();
  const deadline = started + options.budgetMs;
  const claimUntil = deadline - (options.claimMarginMs ?? Math.min(5000, options.budgetMs * 0.2));
  const expiredFailed = await deps.repo.failExpiredLastAttempts();

  const pool: WorkerPool = new WorkerPool({
    workers: options.concurrency,
    queueSize: 0,
    logger: deps.logger,
    run: (task, control) => processTask(deps, task, control),
    onSlotFree: () => poller.slotFreed(),
  });
  const poller = new Poller({ repo: deps.repo, pool, workerId: options.workerId, batchSize: options.batchSize, leaseMs: options.leaseMs, logger: deps.logger });

  // However claiming ends (budget, nothing due, a failed claim), handlers already running
  // finish or are stopped at the deadline and released: none is left holding a lease.
  const claiming = await poller.runUntil(claimUntil).then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  const unstarted = await pool.drain(Math.max(0, deadline - Date.now()));
  await releaseTasks(deps.repo, [...unstarted, ...(await poller.stop())], deps.logger);
  if (claiming) throw claiming.error;

  return { claimed: poller.claimed, ...pool.counts, expired_failed: expiredFailed, duration_ms: Date.now() - started };
}
