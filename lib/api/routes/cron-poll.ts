import * as z from 'zod';
import { createRoute, type OpenAPIHono } from '../openapi-hono.ts';
import type { MiddlewareHandler } from 'hono';
import { requireBearer } from '../auth.ts';
import { AppError } from '../../foundation/errors.ts';
import type { PollSummary } from '../../processing/deadline-poll.ts';
import { jsonResponse, tag } from '../openapi.ts';
import { ErrorSchema } from '../schemas.ts';

/**
 * `POST /poll`: the scheduled poll over HTTP, for platforms whose cron calls a URL (Vercel
 * Cron, an external scheduler, `curl` by hand). Cron triggers that call code directly
 * (Workers `scheduled`, EventBridge, Netlify scheduled functions) skip HTTP and this check.
 */
const PollSummarySchema = z
  .object({
    claimed: z.number().int(),
    completed: z.number().int(),
    failed: z.number().int(),
    retried: z.number().int(),
    suspended: z.number().int(),
    cancelled: z.number().int(),
    released: z.number().int(),
    lost: z.number().int(),
    expired_failed: z.number().int(),
    duration_ms: z.number().int(),
  })
  .openapi('PollSummary');

export const pollRoute = createRoute({
  method: 'post',
  path: '/poll',
  tags: tag('poll'),
  summary: 'Claim and process due tasks within POLL_BUDGET_SECONDS (needs Authorization: Bearer $CRON_SECRET)',
  responses: {
    200: jsonResponse(PollSummarySchema, 'what this poll did'),
    401: jsonResponse(ErrorSchema, 'missing or wrong cron secret'),
    503: jsonResponse(ErrorSchema, 'CRON_SECRET is not configured'),
  },
});

export interface PollRouteDeps {
  cronSecret: string | undefined;
  runPoll(): Promise<PollSummary>;
}

export function registerPollRoute(app: OpenAPIHono, deps: PollRouteDeps): void {
  app.openapi({ ...pollRoute, middleware: requireCronSecret(deps.cronSecret) }, async (c) => c.json(await deps.runPoll(), 200));
}

/**
 * `Authorization: Bearer <CRON_SECRET>` (lib/api/auth.ts, constant time). Without a configured
 * secret the route is disabled (503), never open: an unauthenticated poll would let anyone
 * spend the function's time budget.
 */
export function requireCronSecret(secret: string | undefined): MiddlewareHandler {
  if (secret === undefined) {
    return async () => {
      throw new AppError(503, 'cron_secret_unset', 'CRON_SECRET is not configured: /poll is disabled');
    };
  }
  return requireBearer(secret);
}
