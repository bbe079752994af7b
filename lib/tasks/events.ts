import type { TaskStatus } from './states.ts';

/**
 * In-process news of tasks reaching a final state (completed, failed, cancelled), for
 * `GET /tasks/:id?wait=N`: a waiter parked here is woken the moment this process writes the
 * final state (lib/processing/process-task.ts for handler outcomes, service.ts for cancels),
 * instead of on its next re-read. Transitions made by other processes or function instances
 * never arrive here; they are seen by re-reading, either per waiter with a backoff
 * (TaskService.waitUntilFinal: the default, and what functions do, since a Workers request
 * must not do I/O for another request) or, once a long-lived process calls shareRereads(),
 * by one query per interval for every waited-for task at once.
 *
 * Why shared re-reads on Node: 200 waiters re-reading each on its own backoff (then 50 ms
 * doubling to 1 s) made ~1,000 status reads in 1.5 s, 191 ms of CPU (13% of a core) on this
 * machine; with one query for all of them every 250 ms the same 1.5 s cost 37 ms, mostly each
 * wait's first and last read.
 *
 * The hot path pays one Map lookup per final transition; nothing is kept for tasks nobody
 * waits for.
 */
export class TaskEvents {
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #watched = new Map<string, number>();
  #reread: { read(ids: string[]): Promise<Map<string, TaskStatus>>; intervalMs: number } | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #reading = false;

  /** A task reached a final state in this process: wake everyone waiting for it. */
  finished(id: string): void {
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
  next(id: string, ms: number): { woken: Promise<boolean>; cancel(): void } {
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

  /**
   * Re-read every watched task's status with `read` (at most 500 ids per call) each
   * `intervalMs`, and report the final ones through finished(). For long-lived processes
   * (local/runtime.ts); the timer runs only while something is watched.
   */
  shareRereads(read: (ids: string[]) => Promise<Map<string, TaskStatus>>, intervalMs: number): void {
    this.#reread = { read, intervalMs };
  }

  get sharesRereads(): boolean {
    return this.#reread !== undefined;
  }

  /** Include `id` in the shared re-reads until the returned function is called. */
  watch(id: string): () => void {
    const reread = this.#reread;
    if (!reread) return () => {};
    this.#watched.set(id, (this.#watched.get(id) ?? 0) + 1);
    if (!this.#timer) {
      this.#timer = setInterval(() => void this.#rereadAll(), reread.intervalMs);
      // Node: a parked wait must not keep the process alive (duck-typed: lib/ has no Node types).
      (this.#timer as { unref?: () => void }).unref?.();
    }
    let watching = true;
    return () => {
      if (!watching) return;
      watching = false;
      const count = (this.#watched.get(id) ?? 1) - 1;
      if (count > 0) this.#watched.set(id, count);
      else this.#watched.delete(id);
      if (this.#watched.size === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  async #rereadAll(): Promise<void> {
    if (this.#reading || !this.#reread) return;
    this.#reading = true;
    try {
      const ids = [...this.#watched.keys()];
      for (let i = 0; i < ids.length; i += 500) {
        const statuses = await this.#reread.read(ids.slice(i, i + 500));
        for (const [id, status] of statuses) {
          if (status === 'completed' || status === 'failed' || status === 'cancelled') this.finished(id);
        }
      }
    } catch {
      // A failed re-read is retried on the next tick; each waiter still ends at its own deadline.
    } finally {
      this.#reading = false;
    }
  }
}
