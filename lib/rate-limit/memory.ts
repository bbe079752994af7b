import { LIMIT_WINDOW_MS, type RateLimitDecision, type RateLimiter } from './limiter.ts';

export interface MemoryRateLimiterOptions {
  limit: number;
  windowMs?: number;
  /**
   * Most keys kept; the least recently seen is evicted beyond it. An evicted client starts
   * from zero, so the cap trades a little accuracy under a flood of distinct addresses for
   * memory that cannot grow without bound: a few hundred bytes of heap per key
   * (test/rate-limit.memory.test.ts), so the default stays around ten megabytes.
   */
  maxKeys?: number;
  now?: () => number;
}

interface Counter {
  /** Index of the fixed window `current` counts (floor(time / windowMs)). */
  window: number;
  current: number;
  previous: number;
}

export const DEFAULT_MEMORY_MAX_KEYS = 50_000;

/**
 * Per-process sliding window with the same approximation as @upstash/ratelimit's
 * `slidingWindow` (see limiter.ts), so switching backends does not change who gets a 429.
 * A Map keeps insertion order; re-inserting on every hit makes its first key the least
 * recently used one, which is what eviction removes: O(1) per request.
 */
export class MemoryRateLimiter implements RateLimiter {
  readonly backend = 'memory';
  readonly limit: number;
  readonly windowMs: number;
  readonly maxKeys: number;
  private readonly now: () => number;
  private readonly counters = new Map<string, Counter>();

  constructor(options: MemoryRateLimiterOptions) {
    if (!(options.limit >= 1)) throw new RangeError('limit must be at least 1');
    this.limit = options.limit;
    this.windowMs = options.windowMs ?? LIMIT_WINDOW_MS;
    this.maxKeys = options.maxKeys ?? DEFAULT_MEMORY_MAX_KEYS;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.counters.size;
  }

  async check(key: string): Promise<RateLimitDecision> {
    return this.take(key);
  }

  /** Synchronous core of `check`. */
  take(key: string): RateLimitDecision {
    const now = this.now();
    const window = Math.floor(now / this.windowMs);
    const windowStart = window * this.windowMs;
    const resetAt = windowStart + this.windowMs;

    let counter = this.counters.get(key);
    if (counter) {
      this.counters.delete(key);
      if (counter.window === window - 1) counter = { window, current: 0, previous: counter.current };
      else if (counter.window !== window) counter = { window, current: 0, previous: 0 };
    } else {
      counter = { window, current: 0, previous: 0 };
    }
    this.counters.set(key, counter);
    if (this.counters.size > this.maxKeys) {
      const oldest = this.counters.keys().next();
      if (!oldest.done) this.counters.delete(oldest.value);
    }

    const elapsed = (now - windowStart) / this.windowMs;
    const weighted = Math.floor((1 - elapsed) * counter.previous);
    if (weighted + counter.current >= this.limit) {
      return { kind: 'counted', allowed: false, limit: this.limit, remaining: 0, resetAt, retryAt: this.retryAt(counter, windowStart) };
    }
    counter.current += 1;
    return { kind: 'counted', allowed: true, limit: this.limit, remaining: Math.max(0, this.limit - weighted - counter.current), resetAt };
  }

  /**
   * Earliest time `floor((1 - f) * previous) + current < limit` holds, f being the elapsed
   * fraction of a window. With room left in this window's own count, the weighted previous
   * count only has to decay; otherwise this window becomes the previous one and has to decay.
   */
  private retryAt(counter: Counter, windowStart: number): number {
    const { limit, windowMs } = this;
    if (counter.current < limit) {
      return windowStart + Math.ceil(windowMs * (1 - (limit - counter.current) / counter.previous)) + 1;
    }
    return windowStart + windowMs + Math.ceil(windowMs * (1 - limit / counter.current)) + 1;
  }

  async close(): Promise<void> {
    this.counters.clear();
  }
}
