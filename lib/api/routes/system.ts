import { createRoute, type OpenAPIHono } from '../openapi-hono.ts';
import * as z from 'zod';
import type { AppDeps } from '../deps.ts';
import { AppError } from '../../foundation/errors.ts';
import { jsonResponse, openApiDocument, tag } from '../openapi.ts';
import { ErrorSchema, StatsSchema } from '../schemas.ts';

const statsRoute = createRoute({
  method: 'get',
  path: '/stats',
  tags: tag('system'),
  summary: 'Task counts by status, the age of the oldest pending task, schedule and workflow run counts',
  responses: { 200: jsonResponse(StatsSchema, 'stats') },
});
const Health = z.object({ status: z.string() }).openapi('Health');
const healthRoute = createRoute({
  method: 'get',
  path: '/healthz',
  tags: tag('system'),
  summary: 'Liveness: the process answers',
  responses: { 200: jsonResponse(Health, 'alive') },
});
const readyRoute = createRoute({
  method: 'get',
  path: '/readyz',
  tags: tag('system'),
  summary: 'Readiness: the database answers',
  responses: {
    200: jsonResponse(Health, 'ready'),
    503: jsonResponse(ErrorSchema, 'not ready'),
  },
});

/** The routes functions/functions.ts deploys as their own functions. */
export const SYSTEM_ROUTES = { stats: statsRoute } as const;

export function registerSystemRoutes(app: OpenAPIHono, deps: AppDeps): void {
  app.openapi(statsRoute, async (c) => {
    const [stats, schedules, runs, size] = await Promise.all([deps.service.stats(), deps.scheduleCounts?.(), deps.runCounts?.(), deps.service.repo.databaseSize()]);
    const age = stats.oldestPendingCreatedAt === null ? null : Math.max(0, (Date.now() - stats.oldestPendingCreatedAt) / 1000);
    const flow = stats.flow!;
    return c.json({
      counts: stats.counts, total: stats.total, oldest_pending_age_seconds: age, schedules, runs,
      flow_control: {
        keys_pending: flow.keysPending, keys_held_back: flow.keysHeldBack, tasks_held_back: flow.tasksHeldBack,
        busiest: flow.busiest.map((k) => ({
          key: k.key, held_back: k.due, running: k.running, parallelism: k.parallelism, rate: k.rate,
          period_seconds: k.periodSeconds, recent_starts: k.recentStarts, reason: k.reason,
        })),
      },
      database_bytes: size?.bytes ?? null, database_free_bytes: size?.freeBytes ?? null,
    }, 200);
  });

  app.openapi(healthRoute, (c) => c.json({ status: 'ok' }, 200));

  app.openapi(readyRoute, async (c) => {
    try {
      await deps.service.repo.ping();
    } catch (error) {
      deps.logger.warn('readiness check failed', { error });
      throw new AppError(503, 'not_ready', 'database is not reachable');
    }
    return c.json({ status: 'ready' }, 200);
  });

  // Optional bearer auth (the document's `security` is `{}` or `bearer`; openApiDocument):
  // API_TOKEN when the server sets one. Declared so the docs UI (/docs) offers "Authorize"
  // and sends the token with "Try it out".
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.get('/openapi.json', (c) => c.json(openApiDocument(app)));
}
