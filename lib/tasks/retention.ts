import type { Config } from '../config/config.ts';
import { logFailure, type Logger } from '../foundation/log.ts';
import { MAINTENANCE_BATCH, type TaskRepository } from './repository.ts';
import type { TaskStatus } from './states.ts';

/**
 * Retention: finished tasks are deleted once they are older than TASK_RETENTION_COMPLETED
 * (completed) or TASK_RETENTION_FAILED (failed and cancelled), by `completed_at`; 0 keeps
 * them. Pending and running tasks are never touched: the DELETE itself tests the status
 * (TaskRepository.deleteFinished), so a task retried a moment ago is safe.
 *
 * Deletion is bounded three ways, so history never competes with the queue for long:
 * - each statement deletes at most MAINTENANCE_BATCH rows (500: a few ms of write lock,
 *   found through the partial index `tasks_finished`);
 * - between statements the sweep yields to the event loop (a timer, after pending I/O), so claims, completions and
 *   HTTP requests of this process get the lock in between;
 * - each sweep stops after `budgetMs` and continues at the next one.
 *
 * Who sweeps: the long-lived process on its poll interval (local/runtime.ts), and each
 * serverless poll before it claims, with a bounded share of its budget (functions/context.ts,
 * `task-pool poll --once`). Several sweeping at once is safe: each DELETE is atomic.
 * SQLite reuses the freed pages for new rows, so under steady load the file stops growing
 * (measured in bench/README.md, "retention"); it does not shrink without VACUUM.
 */
export interface RetentionPolicy {
  /** Age after which completed tasks go; 0 keeps them. */
  completedMs: number;
  /** Age after which failed and cancelled tasks go; 0 keeps them. */
  failedMs: number;
}

export interface SweepOptions {
  /** The clock the ages are measured on (tests inject one). */
  now?: () => number;
  /** Rows per DELETE. */
  batchSize?: number;
  /** Stop starting new DELETEs after this long (real time). */
  budgetMs?: number;
}

export interface SweepResult {
  deleted: number;
  /** False when the budget ran out with old tasks left. */
  complete: boolean;
}

export const retentionPolicy = (config: Pick<Config, 'retentionCompletedMs' | 'retentionFailedMs'>): RetentionPolicy => ({
  completedMs: config.retentionCompletedMs,
  failedMs: config.retentionFailedMs,
});

const GROUPS: { statuses: TaskStatus[]; age: keyof RetentionPolicy }[] = [
  { statuses: ['completed'], age: 'completedMs' },
  { statuses: ['failed', 'cancelled'], age: 'failedMs' },
];

/** One bounded sweep: deletes old finished tasks in batches until none is left or the budget is spent. */
export async function sweepFinishedTasks(repo: TaskRepository, policy: RetentionPolicy, options: SweepOptions = {}): Promise<SweepResult> {
  const now = options.now ?? Date.now;
  const batchSize = options.batchSize ?? MAINTENANCE_BATCH;
  const stopAt = Date.now() + (options.budgetMs ?? Infinity);
  let deleted = 0;
  for (const { statuses, age } of GROUPS) {
    if (policy[age] <= 0) continue;
    for (;;) {
      if (Date.now() >= stopAt) return { deleted, complete: false };
      const n = await repo.deleteFinished(statuses, now() - policy[age], batchSize);
      deleted += n;
      if (n < batchSize) break;
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
    }
  }
  return { deleted, complete: true };
}

/**
 * Retention's seat in the processing cycle (lib/wiring/processing-cycle.ts): each upkeep
 * round deletes what has aged out, within the round's budget, never two rounds at once.
 */
export class RetentionSweeper {
  readonly name = 'retention';
  readonly #repo: TaskRepository;
  readonly #policy: RetentionPolicy;
  readonly #logger: Logger;
  readonly #now: () => number;
  #sweeping: Promise<SweepResult> | undefined;
  deleted = 0;

  constructor(options: { repo: TaskRepository; policy: RetentionPolicy; logger: Logger; now?: () => number }) {
    this.#repo = options.repo;
    this.#policy = options.policy;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  async upkeep(budgetMs: number): Promise<Record<string, number> | undefined> {
    const { deleted } = await this.sweep(budgetMs);
    return deleted > 0 ? { deleted } : undefined;
  }

  /** One sweep (or the one in flight). Failures are logged: retention tries again next time. */
  sweep(budgetMs: number): Promise<SweepResult> {
    this.#sweeping ??= sweepFinishedTasks(this.#repo, this.#policy, { now: this.#now, budgetMs })
      .then(
        (result) => {
          this.deleted += result.deleted;
          if (result.deleted > 0) this.#logger.debug('finished tasks deleted', { ...result });
          return result;
        },
        (error: unknown) => {
          logFailure(this.#logger, 'warn', 'retention sweep failed', error);
          return { deleted: 0, complete: false };
        },
      )
      .finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }
}
