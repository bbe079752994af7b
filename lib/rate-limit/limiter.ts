/**
 * Rate limiting, the words used in this folder:
 *
 * - **limiter**: answers "may this client make one more request now?" for a key, and counts it.
 *   Backends: memory (one process), ioredis (local/, Redis over TCP) and Upstash REST (HTTP);
 *   the two Redis ones run @upstash/ratelimit's sliding-window script, so every instance that
 *   shares a Redis shares one budget per client.
 * - **key**: who is counted: `token:api` for the valid API token (every holder of the one token
 *   shares one budget), else `ip:<address>`
 *   (lib/api/client-identity.ts). Backends add their own namespace (RATE_LIMIT_PREFIX).
 * - **window**: one minute. The count is a sliding window approximated by two fixed windows:
 *   the previous window's count weighted by how much of it still overlaps, plus the current
 *   one. Two integers per key, whatever the limit.
 * - **fail open**: a Redis that errors or does not answer within RATE_LIMIT_TIMEOUT_MS lets the
 *   request through (see fail-open.ts): an unreachable limiter must not take the API down.
 */

/** The limiter counted the request. Times are epoch milliseconds. */
export interface RateLimitDecision {
  kind: 'counted';
  allowed: boolean;
  limit: number;
  remaining: number;
  /** When the current fixed window ends: `RateLimit-Reset`. */
  resetAt: number;
  /**
   * For a refusal, the earliest time a request would pass, when the backend can tell (memory
   * can: it sees both window counts). The Redis scripts return only "remaining", so there
   * `Retry-After` falls back to `resetAt`.
   */
  retryAt?: number;
}

/** The backend failed or did not answer in time: the request passes uncounted. */
export interface RateLimitUnavailable {
  kind: 'unavailable';
}

export type RateLimitResult = RateLimitDecision | RateLimitUnavailable;

export interface RateLimiter {
  /** `memory`, `redis` or `upstash`: for logs. */
  readonly backend: string;
  /** Counts one request for `key`. Redis-backed limiters may reject; wrap them in `failOpen`. */
  check(key: string): Promise<RateLimitResult>;
  /** Releases connections (ioredis); a no-op for the others. */
  close(): Promise<void>;
}

export const LIMIT_WINDOW_MS = 60_000;
