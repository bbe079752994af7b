import type { Context, MiddlewareHandler } from 'hono';
import { AppError } from '../foundation/errors.ts';
import type { RateLimitDecision, RateLimiter } from './limiter.ts';

export interface RateLimitMiddlewareOptions {
  limiter: RateLimiter;
  identify: (c: Context) => Promise<string> | string;
  now?: () => number;
}

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/** `RateLimit-*` headers (IETF draft, the names GitHub and most gateways use). */
export function rateLimitHeaders(decision: RateLimitDecision, now: number): Record<string, string> {
  return {
    'RateLimit-Limit': String(decision.limit),
    'RateLimit-Remaining': String(decision.remaining),
    'RateLimit-Reset': String(seconds(decision.resetAt - now)),
  };
}

/**
 * Counts the request; a refusal is 429 `rate_limited` with `Retry-After` (whole seconds, at
 * least 1). Allowed responses, including the errors handlers throw, carry the same headers.
 * A limiter that is unavailable (fail open) adds no headers: there is no count to report.
 */
export function rateLimit(options: RateLimitMiddlewareOptions): MiddlewareHandler {
  const now = options.now ?? Date.now;
  return async (c, next) => {
    const result = await options.limiter.check(await options.identify(c));
    if (result.kind === 'unavailable') return next();
    const at = now();
    const headers = rateLimitHeaders(result, at);
    if (!result.allowed) {
      const retryAfter = Math.max(1, seconds((result.retryAt ?? result.resetAt) - at));
      throw new AppError(429, 'rate_limited', 'rate limit exceeded', { ...headers, 'Retry-After': String(retryAfter) });
    }
    await next();
    for (const [name, value] of Object.entries(headers)) c.header(name, value);
  };
}
