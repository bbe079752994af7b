import type { SharedRereads, TaskEvents } from '../lib/tasks/events.ts';
import type { TaskStatus } from '../lib/tasks/states.ts';

/**
 * One status query per interval for every task a `?wait=` request in this process waits for,
 * reporting the final ones through TaskEvents.finished(): what other processes wrote reaches
 * the waits without each re-reading on its own (TaskService.waitUntilFinal's fallback, which
 * functions use: a Workers request must not do I/O for another).
 *
 * Waits re-reading each on its own backoff (50 ms doubling to 1 s) cost about five times the
 * CPU of sharing one query per 250 ms, which leaves mostly each wait's first and last read
 * (bench/README.md, "Figures behind the code").
 *
 * Here rather than in lib/: only a long-lived process has waits from many requests to share,
 * and the Workers bundle need not carry it. The timer runs only while something is watched.
 */
export class StatusRereads implements SharedRereads {
  readonly #events: TaskEvents;
  readonly #read: (ids: number[]) => Promise<Map<number, TaskStatus>>;
  readonly #intervalMs: number;
  readonly #watched = new Map<number, number>();
  #timer: NodeJS.Timeout | undefined;
  #reading = false;

  constructor(events: TaskEvents, read: (ids: number[]) => Promise<Map<number, TaskStatus>>, intervalMs: number) {
    this.#events = events;
    this.#read = read;
    this.#intervalMs = intervalMs;
  }

  watch(id: number): () => void {
    this.#watched.set(id, (this.#watched.get(id) ?? 0) + 1);
    // A parked wait must not keep the process alive.
    this.#timer ??= setInterval(() => void this.#rereadAll(), this.#intervalMs).unref();
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
    if (this.#reading) return;
    this.#reading = true;
    try {
      const ids = [...this.#watched.keys()];
      for (let i = 0; i < ids.length; i += 500) {
        for (const [id, status] of await this.#read(ids.slice(i, i + 500))) {
          if (status === 'completed' || status === 'failed' || status === 'cancelled') this.#events.finished(id);
        }
      }
    } catch {
      // Tried again on the next tick; every wait still ends at its own deadline.
    } finally {
      this.#reading = false;
    }
  }
}
