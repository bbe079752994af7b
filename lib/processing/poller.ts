import type { Logger } from '../log.ts';
import type { Task } from '../tasks/model.ts';
import type { TaskRepository } from '../tasks/repository.ts';
import type { WorkerPool } from './worker-pool.ts';

/** How long a submit's wake-up may wait for company when the poller was just busy. */
const SUBMIT_COALESCE_MS = 1;

export interface PollerOptions {
  repo: TaskRepository;
  pool: WorkerPool;
  workerId: string;
  intervalMs: number;
  batchSize: number;
  leaseMs: number;
  logger: Logger;
  /** Runs at the start of every poll, before the claim (lib/schedules/firing.ts fires due schedules). */
  beforeClaim?: () => Promise<void>;
}

/**
 * The polling publisher: claims `min(batchSize, pool.freeCapacity())` due tasks and pushes
 * them into the pool. It polls on a timer (TASK_POLL_INTERVAL_SECONDS), and beyond that:
 * - `wake()`: a submit in this process, or a freed worker after a full batch, polls at once;
 * - a full batch polls again at once (the backlog drains at pool speed, not one batch a tick);
 * - `wakeAt(t)`: a delayed task or a retry backoff wakes it when due, not a tick later.
 * Polls never overlap; a wake during a poll runs one more right after it.
 */
export class Poller {
  readonly #o: PollerOptions;
  #interval: ReturnType<typeof setInterval> | undefined;
  #dueTimer: ReturnType<typeof setTimeout> | undefined;
  #dueAt = Infinity;
  #polling: Promise<void> | undefined;
  #again = false;
  #wakeScheduled = false;
  /** The last claim filled its batch: more is probably due, so a freed slot should poll. */
  #backlog = false;
  #stopped = true;
  #unclaimed: Task[] = [];
  /** performance.now() of the last claim that returned tasks. */
  #lastFoundAt = -Infinity;
  polls = 0;

  constructor(options: PollerOptions) {
    this.#o = options;
  }

  start(): void {
    this.#stopped = false;
    this.#interval = setInterval(() => {
      this.#o.repo.failExpiredLastAttempts().catch((error) => this.#o.logger.warn('expiring leases failed', { error }));
      this.wake();
    }, this.#o.intervalMs);
    this.wake();
  }

  /** Polls as soon as the event loop turns (coalesced). */
  wake(): void {
    if (this.#stopped || this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(this.#wakeNow);
  }

  readonly #wakeNow = () => {
    this.#wakeScheduled = false;
    void this.poll();
  };

  /**
   * A task was submitted in this process. An idle poller polls at once (pickup latency stays
   * well under a millisecond); but within SUBMIT_COALESCE_MS of a claim that found work, the
   * poll waits that long, so submits arriving one by one under load share one claim and
   * their completions one commit, instead of paying a claim commit each (20,000 awaited
   * submits into a processing runtime, last completion after 6.2 s before, 3.6 s after;
   * bench/README.md, "coalesced submit wake-ups").
   */
  wakeForSubmit(): void {
    if (this.#stopped || this.#wakeScheduled) return;
    if (performance.now() - this.#lastFoundAt >= SUBMIT_COALESCE_MS) return this.wake();
    this.#wakeScheduled = true;
    setTimeout(this.#wakeNow, SUBMIT_COALESCE_MS);
  }

  /** A freed worker polls only when the last claim suggested a backlog. */
  slotFreed(): void {
    if (this.#backlog) this.wake();
  }

  /** Wake when a task becomes due at `time` (ms), if that is sooner than already planned. */
  wakeAt(time: number): void {
    if (this.#stopped || time >= this.#dueAt) return;
    clearTimeout(this.#dueTimer);
    this.#dueAt = time;
    this.#dueTimer = setTimeout(() => {
      this.#dueAt = Infinity;
      this.wake();
    }, Math.max(0, time - Date.now()) + 1);
  }

  poll(): Promise<void> {
    if (this.#polling) {
      this.#again = true;
      return this.#polling;
    }
    this.#polling = this.#pollLoop().finally(() => (this.#polling = undefined));
    return this.#polling;
  }

  async #pollLoop(): Promise<void> {
    do {
      this.#again = false;
      if (this.#stopped) return;
      if (this.#o.beforeClaim) await this.#o.beforeClaim();
      const limit = Math.min(this.#o.batchSize, this.#o.pool.freeCapacity());
      if (limit <= 0) return;
      try {
        this.polls++;
        const tasks = await this.#o.repo.claimDueTasks({ limit, workerId: this.#o.workerId, leaseMs: this.#o.leaseMs });
        if (tasks.length > 0) {
          this.#lastFoundAt = performance.now();
          // One line per transition at debug; the level check keeps the hot path free of it.
          if (this.#o.logger.level === 'debug') {
            for (const task of tasks) this.#o.logger.debug('task claimed', { task_id: task.id, attempt: task.attempts, type: task.type, worker: this.#o.workerId });
          }
        }
        if (this.#stopped) {
          // Stopped while claiming: the pool no longer accepts; give the tasks straight back.
          this.#unclaimed.push(...tasks);
          return;
        }
        this.#o.pool.push(tasks);
        this.#backlog = tasks.length === limit;
        if (this.#backlog) {
          this.#again = true;
        } else {
          const next = await this.#o.repo.nextRunAt();
          if (next !== null) this.wakeAt(next);
        }
      } catch (error) {
        this.#o.logger.error('poll failed', { error });
        return;
      }
    } while (this.#again);
  }

  /** Stops polling; returns tasks claimed by a poll that was in flight, for release. */
  async stop(): Promise<Task[]> {
    this.#stopped = true;
    clearInterval(this.#interval);
    clearTimeout(this.#dueTimer);
    await this.#polling;
    return this.#unclaimed.splice(0);
  }
}
