/**
 * Per-destination politeness: at most `limit` requests in flight to one host from this
 * process (HTTP_MAX_PER_HOST), so one slow receiver cannot take every worker's attention.
 *
 * A task beyond the limit waits here, in the order it arrived (FIFO per host, so claim order
 * is kept), while its worker stays with it: with W workers and one slow host, W − limit
 * workers can be waiting. Tasks for other hosts run on the remaining workers and on every
 * worker that finishes; a wait that outlasts the task's time limit ends like a slow handler.
 * (Skipping saturated hosts inside the pool's queue would free those workers; that belongs
 * in lib/processing/worker-pool.ts, not here.)
 */
export class HostLimiter {
  readonly limit: number;
  readonly #hosts = new Map<string, { active: number; waiting: (() => void)[] }>();

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Resolves with a release function once a slot for `host` is free; rejects if `signal` aborts first. */
  acquire(host: string, signal?: AbortSignal): Promise<() => void> {
    let state = this.#hosts.get(host);
    if (!state) this.#hosts.set(host, (state = { active: 0, waiting: [] }));
    const entry = state;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const next = entry.waiting.shift();
      if (next) next();
      else if (--entry.active === 0) this.#hosts.delete(host);
    };
    if (entry.active < this.limit) {
      entry.active++;
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      // The slot is handed over directly (active stays the same), so no late comer overtakes.
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(release);
      };
      const onAbort = () => {
        const index = entry.waiting.indexOf(grant);
        if (index >= 0) entry.waiting.splice(index, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      entry.waiting.push(grant);
    });
  }

  /** Requests in flight to `host` now. */
  active(host: string): number {
    return this.#hosts.get(host)?.active ?? 0;
  }
}
