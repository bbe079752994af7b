import { ErrOptimisticLock } from '../foundation/errors.ts';
import type { Logger } from '../foundation/log.ts';
import { logFailure } from '../foundation/log.ts';
import type { Task } from '../tasks/model.ts';
import type { TaskRepository } from '../tasks/repository.ts';
import { StopReason } from './outcome.ts';

/**
 * Keeps a running task's lease: every third of the lease it renews `lease_expires_at`,
 * version-checked, so a renewal that changes no row also tells that the task was cancelled or
 * taken over (`onLost` gets which). Renewals and the task's final write run one at a time
 * through `finish()`, always with the latest version, so a late renewal can never race the
 * completion; renewals go on while a final write is being retried (processTask), which is
 * what keeps the lease ours through a short database outage. A renewal never touches a task
 * that left in_progress: once cancelled, its lease ends where the last renewal put it, which
 * bounds how long a retry waits for a handler that ignores its signal.
 *
 * Progress (`ctx.progress`) goes through the same chain and the same version check, so a
 * stale attempt can never overwrite a newer one's: at most one write a second per task
 * (`PROGRESS_INTERVAL_MS`; the last value wins), carried by a renewal when one is due anyway,
 * and whatever is left unwritten goes with the final write (processTask reads
 * `unwrittenProgress`).
 */
export class Heartbeat {
  readonly #repo: TaskRepository;
  readonly #leaseMs: number;
  readonly #onLost: (reason: StopReason) => void;
  readonly #log: () => Logger;
  readonly #timer: ReturnType<typeof setInterval>;
  #task: Task;
  #chain: Promise<unknown> = Promise.resolve();
  #done = false;
  /** The latest progress not written yet (JSON text). */
  #progress: string | undefined;
  #progressTimer: ReturnType<typeof setTimeout> | undefined;
  /** performance.now() of the last write that carried progress. */
  #progressWrittenAt = -Infinity;

  constructor(options: { repo: TaskRepository; task: Task; leaseMs: number; onLost: (reason: StopReason) => void; log: () => Logger }) {
    this.#repo = options.repo;
    this.#task = options.task;
    this.#leaseMs = options.leaseMs;
    this.#onLost = options.onLost;
    this.#log = options.log;
    // A module-level callback with this heartbeat as its argument: no closure per task.
    this.#timer = setInterval(beat, Math.max(50, this.#leaseMs / 3), this);
  }

  /** The task as last written by this worker (its latest version and lease). */
  get task(): Task {
    return this.#task;
  }

  /**
   * Runs the final write with the latest version, never alongside a renewal; once it
   * succeeds, renewals stop.
   */
  finish<T>(write: (task: Task) => Promise<T>): Promise<T> {
    return this.#serial(async () => {
      const result = await write(this.#task);
      this.stop();
      return result;
    });
  }

  /** Stops renewing (the task needs no lease any more, or somebody else owns it). */
  stop(): void {
    this.#done = true;
    clearInterval(this.#timer);
    clearTimeout(this.#progressTimer);
  }

  /** The latest progress reported and not yet written: the final write carries it. */
  get unwrittenProgress(): string | undefined {
    return this.#progress;
  }

  /**
   * Progress reported by the handler (JSON text, checked by the caller): written now if the
   * last progress write is a second old, else when it will be (only the latest value).
   */
  progress(json: string): void {
    if (this.#done) return;
    this.#progress = json;
    if (this.#progressTimer !== undefined) return;
    const wait = this.#progressWrittenAt + PROGRESS_INTERVAL_MS - performance.now();
    if (wait <= 0) this.#writeProgress();
    else this.#progressTimer = setTimeout(this.#writeProgress, wait);
  }

  readonly #writeProgress = () => {
    this.#progressTimer = undefined;
    void this.#serial(async () => {
      // A renewal meanwhile carried it, or the attempt ended (the final write carries it).
      if (this.#done || this.#progress === undefined) return;
      // A renewal carried an earlier value since this was planned: keep to one write a second.
      const wait = this.#progressWrittenAt + PROGRESS_INTERVAL_MS - performance.now();
      if (wait > 0) return void (this.#progressTimer ??= setTimeout(this.#writeProgress, wait));
      await this.#write({});
    });
  };

  /**
   * One version-checked write of the running task: `fields` plus the unwritten progress, if
   * any. A lost race means the task was cancelled or taken over: renewals stop and `onLost` is
   * told which.
   */
  async #write(fields: { leaseExpiresAt?: number }): Promise<void> {
    const progress = this.#progress;
    try {
      this.#task = await this.#repo.transition({ task: this.#task, to: 'in_progress', fields: progress === undefined ? fields : { ...fields, progress } });
      if (progress !== undefined) {
        this.#progressWrittenAt = performance.now();
        // A newer value reported while this one was written stays unwritten.
        if (this.#progress === progress) this.#progress = undefined;
      }
    } catch (error) {
      if (!(error instanceof ErrOptimisticLock)) return logFailure(this.#log(), 'warn', progress === undefined || fields.leaseExpiresAt !== undefined ? 'heartbeat failed' : 'progress write failed', error);
      this.stop();
      const row = await this.#repo.get(this.#task.id).catch(() => null);
      this.#onLost(
        row && cancelled(row, this.#task) ? new StopReason('cancelled', 'task was cancelled') : new StopReason('lease_lost', 'lease lost to another worker'),
      );
    }
  }

  /** Stops renewing and waits for a renewal in flight, so nothing touches the task after. */
  async settle(): Promise<void> {
    this.stop();
    await this.#chain;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn);
    this.#chain = run.catch(() => {});
    return run;
  }

  /** One renewal (the interval's callback). */
  beat(): void {
    void this.#serial(async () => {
      if (this.#done) return;
      await this.#write({ leaseExpiresAt: Date.now() + this.#leaseMs });
    });
  }
}

function beat(heartbeat: Heartbeat): void {
  heartbeat.beat();
}

/** Progress is written at most this often per task; the last value reported wins. */
const PROGRESS_INTERVAL_MS = 1000;

/**
 * The task was cancelled under this attempt: it is cancelled, or it was cancelled and retried
 * since the last renewal, so it is pending and still carries this attempt's lease (a retry keeps
 * it until the attempt's handler has stopped: lib/tasks/service.ts).
 */
function cancelled(row: Task, mine: Task): boolean {
  if (row.status === 'cancelled') return true;
  return row.status === 'pending' && row.lockedBy === mine.lockedBy && row.leaseExpiresAt === mine.leaseExpiresAt;
}
