import type { Logger } from '../foundation/log.ts';
import type { RateLimiter, RateLimitResult } from './limiter.ts';

export interface FailOpenOptions {
  /** RATE_LIMIT_TIMEOUT_MS: how long a request may wait for the backend. */
  timeoutMs: number;
  logger: Logger;
  /**
   * While the backend is down, one request per interval still tries it (to notice recovery);
   * the others pass at once instead of each waiting `timeoutMs` on a Redis that black-holes
   * packets.
   */
  probeIntervalMs?: number;
  now?: () => number;
}

const UNAVAILABLE: RateLimitResult = { kind: 'unavailable' };

/**
 * Wraps a Redis-backed limiter so that an error or no answer within `timeoutMs` lets the
 * request through. One warning when an outage starts, one info line when it ends: a dead
 * Redis under load must not turn into a log line per request.
 */
export function failOpen(limiter: RateLimiter, options: FailOpenOptions): RateLimiter {
  const { timeoutMs, logger } = options;
  const probeIntervalMs = options.probeIntervalMs ?? 1000;
  const now = options.now ?? Date.now;
  let outage: { since: number; nextProbeAt: number; passed: number } | undefined;

  const failed = (reason: unknown): RateLimitResult => {
    const at = now();
    if (outage) {
      outage.nextProbeAt = at + probeIntervalMs;
      outage.passed += 1;
    } else {
      outage = { since: at, nextProbeAt: at + probeIntervalMs, passed: 1 };
      logger.warn('rate limiter unavailable: letting requests through until it answers again', {
        backend: limiter.backend,
        error: reason instanceof Error ? reason.message : String(reason),
        timeout_ms: timeoutMs,
      });
    }
    return UNAVAILABLE;
  };

  return {
    backend: limiter.backend,
    close: () => limiter.close(),
    async check(key) {
      if (outage && now() < outage.nextProbeAt) {
        outage.passed += 1;
        return UNAVAILABLE;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      try {
        // A late rejection of the losing check is already handled by the race.
        const result = await Promise.race([limiter.check(key), timedOut]);
        if (result === 'timeout') return failed(new Error(`no answer within ${timeoutMs} ms`));
        if (outage) {
          logger.info('rate limiter recovered', { backend: limiter.backend, outage_ms: now() - outage.since, requests_let_through: outage.passed });
          outage = undefined;
        }
        return result;
      } catch (error) {
        return failed(error);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
