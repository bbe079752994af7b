import type { Logger } from '../lib/log.ts';
import { StopReason, type Outcome } from '../lib/process-task.ts';
import type { Task } from '../lib/task-model.ts';

export type RunTask = (task: Task, stop: AbortSignal) => Promise<Outcome>;

export interface WorkerPoolOptions {
  /** Exactly this many handlers run at once at most (TASK_WORKERS). */
  workers: number;
  /** Claimed tasks waiting for a worker, at most (TASK_QUEUE_SIZE). */
  queueSize: number;
  run: RunTask;
  logger: Logger;
  /** Called whenever a worker becomes free: the poller may claim again. */
  onSlotFree?: () => void;
}

/**
 * A fixed number of workers fed from a bounded in-memory queue of claimed tasks. The pool
 * never claims by itself: the poller asks `freeCapacity()` and pushes what it claimed, so the
 * queue can never overflow and nothing waits in memory that is not claimed in the database.
 */
export class WorkerPool {
  readonly #options: WorkerPoolOptions;
  readonly #queue: Task[] = [];
  readonly #running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  #accepting = true;
  readonly counts: Record<Outcome, number> = { completed: 0, retried: 0, failed: 0, cancelled: 0, released: 0, lost: 0 };
  /** The highest number of handlers seen running at once (tests and /stats read it). */
  peakRunning = 0;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
  }

  get running(): number {
    return this.#running.size;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Idle workers plus free queue slots; 0 once draining. */
  freeCapacity(): number {
    if (!this.#accepting) return 0;
    return this.#options.workers - this.#running.size + this.#options.queueSize - this.#queue.length;
  }

  push(tasks: Task[]): void {
    if (tasks.length > this.freeCapacity()) {
      throw new Error(`pool overflow: ${tasks.length} tasks for ${this.freeCapacity()} free slots`);
    }
    this.#queue.push(...tasks);
    this.#startWaiting();
  }

  /** Aborts the handler running `taskId` in this process, if any. */
  abort(taskId: string, reason: StopReason): boolean {
    const entry = this.#running.get(taskId);
    if (!entry) return false;
    entry.controller.abort(reason);
    return true;
  }

  /**
   * Stops taking work and hands back the tasks that were queued but never started (the caller
   * releases them). Running handlers get `timeoutMs` to finish; then they are aborted with a
   * shutdown reason (processTask releases them) and awaited.
   */
  async drain(timeoutMs: number): Promise<Task[]> {
    this.#accepting = false;
    const unstarted = this.#queue.splice(0);
    const all = () => Promise.all([...this.#running.values()].map((r) => r.done));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const result = await Promise.race([all().then(() => 'done' as const), timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.#options.logger.warn('shutdown timeout: aborting running handlers', { running: this.#running.size });
      for (const { controller } of this.#running.values()) controller.abort(new StopReason('shutdown', 'shutting down'));
      await all();
    }
    return unstarted;
  }

  #startWaiting(): void {
    while (this.#accepting && this.#running.size < this.#options.workers && this.#queue.length > 0) {
      const task = this.#queue.shift()!;
      const controller = new AbortController();
      const done = this.#options
        .run(task, controller.signal)
        .then(
          (outcome) => void this.counts[outcome]++,
          (error) => this.#options.logger.error('processing failed', { task_id: task.id, error }),
        )
        .finally(() => {
          this.#running.delete(task.id);
          this.#startWaiting();
          this.#options.onSlotFree?.();
        });
      this.#running.set(task.id, { controller, done });
      if (this.#running.size > this.peakRunning) this.peakRunning = this.#running.size;
    }
  }
}
