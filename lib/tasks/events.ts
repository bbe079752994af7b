/** Re-reads of waited-for tasks shared by every wait in a process (local/shared-rereads.ts). */
export interface SharedRereads {
  /** Include `id` in the shared re-reads until the returned function is called. */
  watch(id: number): () => void;
}

/**
 * In-process news of tasks reaching a final state (completed, failed, cancelled), for
 * `GET /tasks/:id?wait=N`: a waiter parked here is woken the moment this process writes the
 * final state (lib/processing/process-task.ts for handler outcomes, service.ts for cancels),
 * instead of on its next re-read. Transitions made by other processes or function instances
 * never arrive here; they are seen by re-reading, either per waiter with a backoff
 * (TaskService.waitUntilFinal: the default, and what functions do, since a Workers request
 * must not do I/O for another request) or, when a long-lived process sets `sharedRereads`
 * (local/shared-rereads.ts), by one query per interval for every waited-for task at once.
 *
 * The hot path pays one Map lookup per final transition; nothing is kept for tasks nobody
 * waits for.
 */
export class TaskEvents {
  readonly #waiters = new Map<number, Set<() => void>>();
  /** Set by a long-lived process: waits then re-read through it instead of each on its own. */
  sharedRereads: SharedRereads | undefined;
  #closed = false;

  /** Shutting down: every parked wait is woken, and waits from now on answer at once. */
  close(): void {
    this.#closed = true;
    for (const id of [...this.#waiters.keys()]) this.finished(id);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A task reached a final state in this process: wake everyone waiting for it. */
  finished(id: number): void {
    const waiters = this.#waiters.get(id);
    if (!waiters) return;
    this.#waiters.delete(id);
    for (const wake of waiters) wake();
  }

  /**
   * Parks until `finished(id)` or `ms` pass, whichever is first (resolves true when woken).
   * Register before reading the task, so a transition between the read and the wait is not
   * missed; `cancel()` when the read shows there is nothing to wait for.
   */
  next(id: number, ms: number): { woken: Promise<boolean>; cancel(): void } {
    let settle!: (woken: boolean) => void;
    const woken = new Promise<boolean>((resolve) => (settle = resolve));
    let waiters = this.#waiters.get(id);
    if (!waiters) this.#waiters.set(id, (waiters = new Set()));
    const set = waiters;
    const done = (wasWoken: boolean) => {
      clearTimeout(timer);
      set.delete(wake);
      if (set.size === 0 && this.#waiters.get(id) === set) this.#waiters.delete(id);
      settle(wasWoken);
    };
    const wake = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    set.add(wake);
    return { woken, cancel: () => done(false) };
  }

  /** How many waits are parked (for tests and metrics). */
  get waiting(): number {
    let n = 0;
    for (const set of this.#waiters.values()) n += set.size;
    return n;
  }
}
