import type { Hono } from 'hono';
import { bearerCheck, requireBearer } from './auth.ts';
import { clientIdentity, type ClientAddress } from './client-identity.ts';
import type { Config } from '../config/config.ts';
import type { Logger } from '../foundation/log.ts';
import type { RateLimiter } from '../rate-limit/limiter.ts';
import { rateLimit } from '../rate-limit/middleware.ts';
import { createRateLimiter } from '../rate-limit/select.ts';

export interface AccessControlDeps {
  config: Config;
  logger: Logger;
  /**
   * The limiter to use; when absent, createRateLimiter(config) picks Upstash REST or memory,
   * or none for RATE_LIMIT_PER_MINUTE=0 (the Node adapter passes its ioredis limiter when
   * REDIS_URL is set).
   */
  rateLimiter?: RateLimiter;
  /** The peer address as the platform sees it (Node socket, `cf-connecting-ip` on Workers): the rate-limit identity; see client-identity.ts. */
  clientAddress?: ClientAddress;
  /**
   * Paths whose routes limit themselves and are left out of the API's limit: the dashboard's
   * (lib/wiring/ passes them when it mounts one), which has a budget of its own and answers a
   * refusal as a page.
   */
  selfLimited?: (path: string) => boolean;
}

/** Probes must answer while the API is flooded: orchestrators restart what fails them. */
export const UNLIMITED_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

const PROTECTED_PREFIXES = ['/tasks', '/schedules', '/types', '/workflows', '/runs'];

const isProtected = (path: string) =>
  path === '/stats' || path === '/events' || PROTECTED_PREFIXES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));

/**
 * Rate limiting on every route but the probes (and `selfLimited` ones), then API_TOKEN on
 * `/tasks…`, `/schedules…`, `/types…`, `/workflows…`, `/runs…`, `/events` and `/stats`.
 * The limiter runs first so that requests with a wrong token are counted (against their
 * address) and token guessing is throttled. Register before the routes.
 */
export function applyAccessControl(app: Pick<Hono, 'use'>, deps: AccessControlDeps): void {
  const { config } = deps;
  const apiToken = config.apiToken ? bearerCheck(config.apiToken) : undefined;
  const limiter = deps.rateLimiter ?? createRateLimiter(config, deps.logger);
  if (limiter) {
    const limited = rateLimit({ limiter, identify: clientIdentity({ clientAddress: deps.clientAddress, trustProxy: config.trustProxy, apiToken }) });
    const exempt = (path: string) => UNLIMITED_PATHS.has(path) || (deps.selfLimited?.(path) ?? false);
    app.use(async (c, next) => (exempt(c.req.path) ? next() : limited(c, next)));
  }
  if (apiToken) {
    const guard = requireBearer(apiToken);
    app.use(async (c, next) => (isProtected(c.req.path) ? guard(c, next) : next()));
  }
}
