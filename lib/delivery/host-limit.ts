/**
 * Per-destination politeness: at most `limit` requests in flight to one host from this
 * process (HTTP_MAX_PER_HOST), so one slow receiver cannot take every worker's attention.
 *
 * A task beyond the limit waits here, in the order it arrived (FIFO per host, so claim order
 * is kept), without a worker: the handler waits through `waitWithoutWorker`
 * (lib/processing/worker-pool.ts lends its worker to other tasks meanwhile), so tasks for other
 * hosts run on every worker the slow host's requests do not use. A wait that outlasts the
 * task's time limit ends like a slow handler.
 */
export class HostLimiter {
  readonly limit: number;
  readonly #hosts = new Map<string, { active: number; waiting: (() => void)[] }>();

  constructor(limit: number) {
    this.limit = limit;
  }

  /** A release function if a slot for `host` is free now (and nobody waits for one); else null. */
  tryAcquire(host: string): (() => void) | null {
    const entry = this.#entry(host);
    if (entry.active >= this.limit) return null;
    entry.active++;
    return this.#release(host, entry);
  }

  /** Resolves with a release function once a slot for `host` is free; rejects if `signal` aborts first. */
  acquire(host: string, signal?: AbortSignal): Promise<() => void> {
    const now = this.tryAcquire(host);
    if (now) return Promise.resolve(now);
    const entry = this.#entry(host);
    const release = this.#release(host, entry);
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

  #entry(host: string): { active: number; waiting: (() => void)[] } {
    let entry = this.#hosts.get(host);
    if (!entry) this.#hosts.set(host, (entry = { active: 0, waiting: [] }));
    return entry;
  }

  #release(host: string, entry: { active: number; waiting: (() => void)[] }): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = entry.waiting.shift();
      if (next) next();
      else if (--entry.active === 0) this.#hosts.delete(host);
    };
  }

  /** Requests in flight to `host` now. */
  active(host: string): number {
    return this.#hosts.get(host)?.active ?? 0;
  }
}
