import type { Logger } from '../foundation/log.ts';
import { logFailure } from '../foundation/log.ts';
import { StopReason, type Outcome } from './outcome.ts';
import type { TaskControl } from './process-task.ts';
import { formatTaskId } from '../tasks/ids.ts';
import type { Task } from '../tasks/model.ts';

/**
 * Runs one task to its next state (processTask). Through `control` it hands the pool its abort
 * function and calls `handlerDone` once the handler has stopped, before its final write
 * commits: the worker is free from then on.
 */
export type RunTask = (task: Task, control: Required<TaskControl>) => Promise<Outcome>;

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
 *
 * A worker takes its next task as soon as its handler stops, while that task's final write
 * is still waiting for its group commit: completions of many tasks then share one commit
 * (one round trip to sqld) instead of at most one per worker. (It more than doubled
 * processing on sqld: bench/README.md, "Figures behind the code".)
 *
 * Prefetch: a task whose handler has stopped holds no slot while its final write commits, so
 * the poller claims the next batch while the previous batch's completions are on their way
 * (the claim and the commit overlap, and the pool does not wait a round trip for its next
 * task). Bounded twice: tasks not yet started never exceed the queue (their lease runs from
 * their claim), and tasks waiting for their write count again once they exceed workers +
 * queue, so claimed tasks in memory stay below twice that (bench/README.md, "Fewer round
 * trips (issue 24)").
 */
export class WorkerPool {
  readonly #options: WorkerPoolOptions;
  readonly #queue: Task[] = [];
  /** Parked handlers whose wait is over, each to be given a worker before any queued task. */
  readonly #resuming: (() => void)[] = [];
  /** Every task taken from the queue and not yet finished (handler running, or its write pending). */
  readonly #running = new Map<number, Assignment>();
  /**
   * Handlers stopped from outside that have not returned yet, each until it has and its lease
   * is cleared (processTask): they no longer hold a worker, but drain() waits for them.
   */
  readonly #releasing = new Set<Promise<void>>();
  /** Handlers running now: at most `workers`. */
  #busy = 0;
  /** Workers promised to tasks whose claiming insert is on its way (`reserve`). */
  #reserved = 0;
  /** Tasks whose handler has stopped, waiting for their final write to commit (in `#running`). */
  #writing = 0;
  #accepting = true;
  readonly counts: Record<Outcome, number> = { completed: 0, retried: 0, suspended: 0, failed: 0, cancelled: 0, released: 0, lost: 0 };
  /** The highest number of handlers seen running at once (the tests read it). */
  peakRunning = 0;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
  }

  /** TASK_WORKERS: handlers that may run at once. */
  get workers(): number {
    return this.#options.workers;
  }

  /** Handlers running now. */
  get running(): number {
    return this.#busy;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** No task queued, running or waiting for its final write. */
  get idle(): boolean {
    return this.#running.size === 0 && this.#queue.length === 0;
  }

  /**
   * Idle workers plus free queue slots; 0 once draining. A task waiting only for its final
   * write takes no slot, unless more than workers + queue of them wait (see the class comment).
   */
  freeCapacity(): number {
    if (!this.#accepting) return 0;
    const slots = this.#options.workers + this.#options.queueSize;
    return slots - (this.#running.size - this.#writing) - this.#queue.length - this.#reserved - Math.max(0, this.#writing - slots);
  }

  /**
   * Promises a worker to one task not claimed yet (a submit in this process that claims its
   * task with its own insert: lib/processing/poller.ts, `reserve`): only while a worker is
   * idle and nothing is queued, so the task starts at once when it comes. Every reservation
   * ends in `fulfil` or `unreserve`; until then freeCapacity() counts it as taken.
   */
  reserve(): boolean {
    if (!this.#accepting || this.#queue.length > 0 || this.#busy + this.#reserved >= this.#options.workers) return false;
    this.#reserved++;
    return true;
  }

  /** The reserved worker's task arrived: it runs now. */
  fulfil(task: Task): void {
    this.#reserved--;
    this.push([task]);
  }

  /** The reserved worker's task will not come (its insert did not claim it). */
  unreserve(): void {
    this.#reserved--;
    this.#options.onSlotFree?.();
  }

  push(tasks: Task[]): void {
    if (tasks.length > this.freeCapacity()) {
      throw new Error(`pool overflow: ${tasks.length} tasks for ${this.freeCapacity()} free slots`);
    }
    this.#queue.push(...tasks);
    this.#startWaiting();
  }

  /** Aborts the handler running `taskId` in this process, if any. */
  abort(taskId: number, reason: StopReason): boolean {
    const entry = this.#running.get(taskId);
    if (!entry) return false;
    entry.abort?.(reason);
    return true;
  }

  /**
   * Stops taking work and hands back the tasks that were queued but never started (the caller
   * releases them). Running handlers get `timeoutMs` to finish; then they are aborted with a
   * shutdown reason (processTask releases them) and awaited. Handlers stopped but not returned
   * yet (aborted now, or cancelled before) get RELEASE_GRACE_MS more to return, so that their
   * process can still clear their tasks' leases.
   */
  async drain(timeoutMs: number): Promise<Task[]> {
    this.#accepting = false;
    const unstarted = this.#queue.splice(0);
    const all = () => Promise.all([...this.#running.values()].map((r) => r.done));
    if ((await within(timeoutMs, all())) === 'timeout') {
      this.#options.logger.warn('shutdown timeout: aborting running handlers', { running: this.#running.size });
      for (const entry of this.#running.values()) entry.abort?.(new StopReason('shutdown', 'shutting down'));
      await all();
    }
    if (this.#releasing.size > 0 && (await within(RELEASE_GRACE_MS, Promise.all(this.#releasing))) === 'timeout') {
      this.#options.logger.warn('stopped handlers still running: their tasks wait for their leases to run out', { handlers: this.#releasing.size });
    }
    return unstarted;
  }

  #startWaiting(): void {
    while (this.#busy < this.#options.workers && this.#resuming.length > 0) this.#resuming.shift()!();
    while (this.#accepting && this.#busy < this.#options.workers && this.#queue.length > 0) {
      const task = this.#queue.shift()!;
      const assignment = new Assignment(this.#workers);
      this.#workers.take();
      assignment.done = this.#options
        .run(task, assignment)
        .then(
          (outcome) => void this.counts[outcome]++,
          (error) => logFailure(this.#options.logger, 'error', 'processing failed', error, { task_id: formatTaskId(task.id) }),
        )
        .finally(() => {
          // The task may be running here again already (claimed anew once this attempt's
          // lease was cleared): only this assignment's entry goes.
          if (this.#running.get(task.id) === assignment) this.#running.delete(task.id);
          assignment.settled = true;
          assignment.handlerDone();
          if (assignment.writing) this.#writing--;
          this.#options.onSlotFree?.();
        });
      this.#running.set(task.id, assignment);
    }
  }

  /** What assignments use to take and give back workers (methods rather than closures made per task). */
  readonly #workers: Workers = {
    take: () => {
      if (++this.#busy > this.peakRunning) this.peakRunning = this.#busy;
    },
    give: () => {
      this.#busy--;
      this.#startWaiting();
    },
    writing: () => {
      this.#writing++;
      this.#options.onSlotFree?.();
    },
    /** Calls `resume` once a worker is taken for it: now if one is free and nobody is ahead. */
    takeWhenFree: (resume: () => void) => {
      if (this.#busy < this.#options.workers && this.#resuming.length === 0) resume();
      else this.#resuming.push(resume);
    },
    releasing: (released: Promise<void>) => {
      this.#releasing.add(released);
      void released.finally(() => this.#releasing.delete(released));
    },
  };
}

/**
 * How long a drain waits, after its timeout, for aborted handlers to return. A handler that
 * honours its signal returns at once, and its process then clears its task's lease (one
 * write), so a task released at shutdown is due again at once; one that ignores its signal
 * leaves its task to wait until its lease runs out instead of holding the shutdown.
 */
const RELEASE_GRACE_MS = 1000;

/** `work`'s end, or 'timeout' after `ms`, whichever comes first. */
async function within(ms: number, work: Promise<unknown>): Promise<'done' | 'timeout'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  try {
    return await Promise.race([work.then(() => 'done' as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

interface Workers {
  take(): void;
  give(): void;
  /** A task's handler has stopped: it waits only for its final write, and frees its slot. */
  writing(): void;
  takeWhenFree(resume: () => void): void;
  /** A stopped handler has not returned yet: see `WorkerPool.#releasing`. */
  releasing(released: Promise<void>): void;
}

/**
 * One task from the queue to its end: the `TaskControl` processTask steers it with. A class,
 * not closures per task: the dev/prod loader (tsx) names every closure at creation, which was
 * a few % of a no-op task's CPU (bench/README.md, "closures").
 */
class Assignment implements Required<TaskControl> {
  abort: ((reason: StopReason) => void) | undefined;
  done: Promise<void> = Promise.resolve();
  readonly #workers: Workers;
  /** The handler has not stopped yet. */
  #working = true;
  /** Holds a worker (false while parked). */
  #holding = true;

  constructor(workers: Workers) {
    this.#workers = workers;
  }

  bindAbort(abort: (reason: StopReason) => void): void {
    this.abort = abort;
  }

  releasing(released: Promise<void>): void {
    this.#workers.releasing(released);
  }

  /** The handler stopped before the run ended: its final write is pending (see freeCapacity). */
  writing = false;
  /** The run has ended (set by the pool before its last `handlerDone`). */
  settled = false;

  handlerDone(): void {
    if (!this.#working) return;
    this.#working = false;
    if (this.#holding) this.#workers.give();
    if (!this.settled) {
      this.writing = true;
      this.#workers.writing();
    }
  }

  async park<T>(wait: Promise<T>): Promise<T> {
    if (!this.#working || !this.#holding) return wait;
    this.#holding = false;
    this.#workers.give();
    try {
      return await wait;
    } finally {
      // Back on a worker, unless the task was stopped meanwhile (it has none to take back).
      if (this.#working) await new Promise<void>((resume) => this.#workers.takeWhenFree(() => this.#resume(resume)));
    }
  }

  #resume(resume: () => void): void {
    if (this.#working) {
      this.#holding = true;
      this.#workers.take();
    }
    resume();
  }
}
