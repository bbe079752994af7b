import type { Hono } from 'hono';
import { requireBearer } from '../lib/api/auth.ts';
import type { Config } from '../lib/config/config.ts';
import type { TaskService } from '../lib/tasks/service.ts';
import { registerDocs } from './docs.ts';
import type { PromMetrics } from './metrics.ts';

/**
 * Routes only the Node server has: `/docs` (assets read from node_modules, local/docs.ts) and
 * `/metrics` (one process's prom-client registry, local/metrics.ts). Mounted on the core app
 * before it serves its first request, so they share its middleware (request log, rate limit)
 * and error handler.
 */
export function registerNodeRoutes(app: Pick<Hono, 'get' | 'use'>, deps: { config: Config; service: TaskService; metrics?: PromMetrics }): void {
  registerDocs(app);
  const { metrics, config, service } = deps;
  if (!metrics) return;
  metrics.observe({ stats: () => service.stats(), waiting: () => service.events.waiting });
  // METRICS_TOKEN when set, else API_TOKEN when set, else open (as /stats is without API_TOKEN).
  const token = config.metricsToken ?? config.apiToken;
  if (token) app.use('/metrics', requireBearer(token));
  app.get('/metrics', async (c) => {
    const { text, contentType } = await metrics.scrape();
    return c.body(text, 200, { 'content-type': contentType, 'cache-control': 'no-store' });
  });
}
