import type { Logger } from '../foundation/log.ts';
import { logFailure } from '../foundation/log.ts';
import { nextTurn } from '../foundation/next-turn.ts';
import { formatTaskId } from '../tasks/ids.ts';
import type { Task } from '../tasks/model.ts';
import type { TaskRepository } from '../tasks/repository.ts';
import type { HandOff } from '../tasks/service.ts';
import type { WorkerPool } from './worker-pool.ts';

/** How long a submit's wake-up may wait for company when the poller was just busy. */
const SUBMIT_COALESCE_MS = 1;
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface PollerOptions {
  repo: TaskRepository;
  pool: WorkerPool;
  workerId: string;
  batchSize: number;
  leaseMs: number;
  logger: Logger;
  /**
   * Runs at the start of each poll of the long-lived process, before the claim: local/runtime.ts
   * fires due schedules here (lib/schedules/firing.ts), so their tasks are claimed by the same poll.
   */
  beforePoll?: () => Promise<void>;
}

/**
 * The polling publisher, the one claim loop of every runtime: it claims
 * `min(batchSize, pool.freeCapacity())` due tasks and pushes them into the pool, and claims
 * again at once while batches come back full (the backlog drains at pool speed, not a batch
 * a tick). Two ways to drive it:
 *
 * - a long-lived process (local/runtime.ts): `start(intervalMs)` polls on a timer
 *   (TASK_POLL_INTERVAL_SECONDS) and on wake-ups: `wakeForSubmit()` for a submit in this
 *   process, `slotFreed()` after a full batch, `wakeAt(t)` when a delayed task or a retry
 *   backoff is due. Polls never overlap; a wake during a poll runs one more right after it.
 * - a budgeted invocation (deadline-poll.ts, the serverless poll): `runUntil(deadline)` claims whenever
 *   a worker frees, until the deadline or until nothing is due and nothing runs. No timer.
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
  /** Not started (or stopped): wake-ups are ignored. */
  #stopped = true;
  /** stop() was called: tasks a claim in flight returns are handed back, not pushed. */
  #stopping = false;
  #unclaimed: Task[] = [];
  #slotWaiter: (() => void) | undefined;
  /** performance.now() of the last claim that returned tasks. */
  #lastFoundAt = -Infinity;
  /** Reservations not yet ended (`reserve`): stop() waits for them. */
  readonly #handOffs = new Set<Promise<void>>();
  polls = 0;
  claimed = 0;

  constructor(options: PollerOptions) {
    this.#o = options;
  }

  /** A poll (a claim, or the look for the next due time after a short one) is in flight. */
  get polling(): boolean {
    return this.#polling !== undefined;
  }

  start(intervalMs: number): void {
    this.#stopped = false;
    this.#interval = setInterval(() => {
      this.#o.repo.failExpiredLastAttempts().catch((error) => logFailure(this.#o.logger, 'warn', 'expiring leases failed', error));
      this.wake();
    }, intervalMs);
    this.wake();
  }

  /** Polls as soon as the event loop turns (coalesced). */
  wake(): void {
    if (this.#stopped || this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    nextTurn(this.#wakeNow);
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

  /**
   * A worker for a task submitted in this process, for its insert to claim it (TaskService
   * `submit`): the task goes into the table already in progress, leased to this process, and
   * runs as soon as the insert is answered, with no claim after it. Pickup is then one write,
   * not a write and a claim (bench/README.md, "Pickup on a libSQL server"). Only while this
   * process is idle and has seen no backlog: a worker free with nothing queued, no claim in
   * flight (a claim's limit was taken before this reservation), the last claim short (older due
   * tasks go first). Undefined otherwise; then the submit inserts as usual and wakes the poller.
   */
  reserve(): HandOff | undefined {
    if (this.#stopped || this.#polling || this.#backlog || !this.#o.pool.reserve()) return undefined;
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    this.#handOffs.add(ended);
    const finish = () => {
      this.#handOffs.delete(ended);
      end();
    };
    return {
      workerId: this.#o.workerId,
      leaseMs: this.#o.leaseMs,
      accept: (task) => {
        finish();
        this.claimed++;
        this.#lastFoundAt = performance.now();
        if (this.#o.logger.level === 'debug') this.#o.logger.debug('task claimed', { task_id: formatTaskId(task.id), attempt: task.attempts, type: task.type, worker: this.#o.workerId });
        if (this.#stopping) {
          this.#o.pool.unreserve();
          this.#unclaimed.push(task);
        } else {
          this.#o.pool.fulfil(task);
        }
      },
      decline: () => {
        finish();
        this.#o.pool.unreserve();
      },
    };
  }

  /** A worker became free: polls when the last claim suggested a backlog. */
  slotFreed(): void {
    this.#slotWaiter?.();
    if (this.#backlog) this.wake();
  }

  /** Wake when a task becomes due at `time` (ms), if that is sooner than already planned. */
  wakeAt(time: number): void {
    if (this.#stopped || time >= this.#dueAt) return;
    clearTimeout(this.#dueTimer);
    this.#dueAt = time;
    // A timer longer than 2^31 − 1 ms fires at once (Node and workerd alike): a run sleeping
    // for weeks gets a poll at that bound, which finds nothing due and sets the timer again.
    this.#dueTimer = setTimeout(() => {
      this.#dueAt = Infinity;
      this.wake();
    }, Math.min(MAX_TIMER_MS, Math.max(0, time - Date.now()) + 1));
  }

  /** One poll of the long-lived process; a failed claim is logged and tried again later. */
  poll(): Promise<void> {
    if (this.#polling) {
      this.#again = true;
      return this.#polling;
    }
    this.#polling = (async () => {
      do {
        this.#again = false;
        if (this.#stopped) return;
        try {
          await this.#o.beforePoll?.();
          const short = await this.#fill();
          // A wake during the claim (a submit here) polls again at once: that claim comes
          // first, not a look for the next due time, so pickup is at most one round trip late.
          if (short && !this.#again) {
            const next = await this.#o.repo.nextRunAt();
            if (next !== null) this.wakeAt(next);
          }
        } catch (error) {
          logFailure(this.#o.logger, 'error', 'poll failed', error);
          return;
        }
      } while (this.#again);
    })().finally(() => (this.#polling = undefined));
    return this.#polling;
  }

  /**
   * Claims whenever the pool has room, until `claimUntil` (epoch ms), or until a claim comes
   * back short while nothing is running. A failed claim rejects (after nothing more is claimed).
   */
  async runUntil(claimUntil: number): Promise<void> {
    while (Date.now() < claimUntil) {
      const short = await this.#fill();
      if (short && this.#o.pool.idle) return;
      await this.#nextSlot(claimUntil - Date.now());
    }
  }

  /**
   * The claim loop: claims up to the pool's free capacity, again while batches come back
   * full. Returns whether the last claim came back short (nothing more is due now); false
   * when it stopped because the pool was full.
   */
  async #fill(): Promise<boolean> {
    for (;;) {
      const { pool } = this.#o;
      const limit = Math.min(this.#o.batchSize, pool.freeCapacity());
      if (limit <= 0) return false;
      // Enough claimed work in hand (a task queued for every worker): a claim of a few tasks
      // would cost a round trip and a commit for little. The next freed slot asks again, and
      // the claim goes out once half a batch fits or the queue runs low, while the workers
      // still have tasks (prefetch: worker-pool.ts).
      if (limit < this.#o.batchSize && pool.queued >= pool.workers) return false;
      this.polls++;
      const tasks = await this.#o.repo.claimDueTasks({ limit, workerId: this.#o.workerId, leaseMs: this.#o.leaseMs });
      this.claimed += tasks.length;
      if (tasks.length > 0) {
        this.#lastFoundAt = performance.now();
        // One line per transition at debug; the level check keeps the hot path free of it.
        if (this.#o.logger.level === 'debug') {
          for (const task of tasks) this.#o.logger.debug('task claimed', { task_id: formatTaskId(task.id), attempt: task.attempts, type: task.type, worker: this.#o.workerId });
        }
      }
      if (this.#stopping) {
        // Stopped while claiming: the pool no longer accepts; give the tasks straight back.
        this.#unclaimed.push(...tasks);
        return false;
      }
      this.#o.pool.push(tasks);
      this.#backlog = tasks.length === limit;
      if (!this.#backlog) return true;
    }
  }

  /** Resolves when a worker frees, or after `ms`. */
  #nextSlot(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#slotWaiter = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#slotWaiter = done;
    });
  }

  /** Stops polling; returns tasks claimed by a poll that was in flight, for release. */
  async stop(): Promise<Task[]> {
    this.#stopped = true;
    this.#stopping = true;
    clearInterval(this.#interval);
    clearTimeout(this.#dueTimer);
    await this.#polling;
    await Promise.all(this.#handOffs);
    return this.#unclaimed.splice(0);
  }
}
