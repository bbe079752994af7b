import type { Context, MiddlewareHandler } from 'hono';
import type { Config } from '../config/config.ts';
import type { Logger } from '../foundation/log.ts';
import { rateLimit } from '../rate-limit/middleware.ts';
import { createRateLimiter, type RedisBackend } from '../rate-limit/select.ts';

/**
 * The dashboard's own budget of page views per client and minute
 * (DASHBOARD_RATE_LIMIT_PER_MINUTE), apart from the API's: one page view is one request here
 * (its style sheet, script and icon are never counted), and a person clicking through pages
 * must not run into the limit meant for API clients. Counted where the API's limit is
 * (Redis or Upstash when configured, so across instances; else per process), under keys of
 * its own (`<RATE_LIMIT_PREFIX>:ui:…`). A refusal is an AppError 429 with Retry-After, which
 * the dashboard's error handler renders as a page (error-page.tsx). Undefined when off.
 */
export function pageLimit(options: { config: Config; logger: Logger; redis?: RedisBackend; clientKey: (c: Context) => string }): MiddlewareHandler | undefined {
  const { config } = options;
  const limiter = createRateLimiter(
    { ...config, rateLimitPerMinute: config.dashboardRateLimitPerMinute, rateLimitPrefix: `${config.rateLimitPrefix}:ui` },
    options.logger,
    options.redis,
  );
  return limiter ? rateLimit({ limiter, identify: options.clientKey }) : undefined;
}
