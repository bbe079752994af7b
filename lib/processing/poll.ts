import type { Config } from '../config.ts';
import { processTask, StopReason, type Outcome, type ProcessDeps } from './process-task.ts';

/**
 * The serverless poll: one invocation claims and processes tasks with at most `concurrency`
 * handlers at once until its time budget is nearly spent, then stops claiming, gives running
 * handlers until the budget's end, aborts the rest (they are released to pending) and
 * returns a summary. Overlapping invocations are safe: the claim hands each task to one.
 *
 * Claims are sized to free slots and re-issued as soon as a slot frees, like the local
 * poller; a claim that returns nothing ends the invocation early.
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
  cancelled: number;
  released: number;
  lost: number;
  expired_failed: number;
  duration_ms: number;
}

export async function pollOnce(deps: ProcessDeps, options: PollOptions): Promise<PollSummary> {
  const started = Date.now();
  const deadline = started + options.budgetMs;
  const claimUntil = deadline - (options.claimMarginMs ?? Math.min(5000, options.budgetMs * 0.2));
  const summary: PollSummary = { claimed: 0, completed: 0, failed: 0, retried: 0, cancelled: 0, released: 0, lost: 0, expired_failed: 0, duration_ms: 0 };
  const count = (outcome: Outcome) => void summary[outcome]++;
  const stop = new AbortController();
  const running = new Set<Promise<void>>();
  let slotFreed: () => void = () => {};

  summary.expired_failed = await deps.repo.failExpiredLastAttempts();
  const hardStop = setTimeout(() => stop.abort(new StopReason('shutdown', 'poll budget spent')), Math.max(0, deadline - Date.now()));
  try {
    try {
      let drained = false;
      while (!drained && Date.now() < claimUntil) {
        const free = options.concurrency - running.size;
        if (free > 0) {
          const tasks = await deps.repo.claimDueTasks({ limit: Math.min(free, options.batchSize), workerId: options.workerId, leaseMs: options.leaseMs });
          summary.claimed += tasks.length;
          for (const task of tasks) {
            const run: Promise<void> = processTask(deps, task, stop.signal)
              .then(count, (error) => {
                deps.logger.error('processing failed', { task_id: task.id, error });
              })
              .finally(() => {
                running.delete(run);
                slotFreed();
              });
            running.add(run);
          }
          if (tasks.length === 0) drained = running.size === 0;
          if (tasks.length === 0 && !drained) await nextSlot();
        } else {
          await nextSlot();
        }
      }
    } finally {
      // However claiming ended (budget, nothing due, a failed claim), handlers already running
      // finish or are stopped at the deadline and released: none is left holding a lease.
      await Promise.all(running);
    }
  } finally {
    clearTimeout(hardStop);
  }
  summary.duration_ms = Date.now() - started;
  return summary;

  // Wait until a handler finishes, or until it is time to stop claiming.
  function nextSlot(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, claimUntil - Date.now()));
      function done() {
        clearTimeout(timer);
        slotFreed = () => {};
        resolve();
      }
      slotFreed = done;
    });
  }
}

/** The poll as configured: TASK_WORKERS at once, TASK_POLL_BATCH_SIZE per claim, POLL_BUDGET_SECONDS. */
export function pollOptionsFromConfig(
  config: Pick<Config, 'workers' | 'pollBatchSize' | 'pollBudgetSeconds' | 'leaseSeconds'>,
  workerId: string,
): PollOptions {
  return {
    workerId,
    concurrency: config.workers,
    batchSize: config.pollBatchSize,
    budgetMs: config.pollBudgetSeconds * 1000,
    leaseMs: config.leaseSeconds * 1000,
  };
}
