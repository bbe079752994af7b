import { OpenAPIHono } from './openapi-hono.ts';
import { applyAccessControl } from './access-control.ts';
import type { AppDeps } from './deps.ts';
import { handleErrors } from './error-handler.ts';
import { createOpenApiApp } from './openapi.ts';
import { registerSystemRoutes } from './routes/system.ts';
import { registerTaskRoutes } from './routes/tasks.ts';
import { routePattern } from './route-pattern.ts';
import { registerTypeRoutes } from './routes/types.ts';

/**
 * The HTTP API, runtime-agnostic: `app.fetch(Request) → Response` on Node (local/server.ts)
 * and on every function platform (functions/).
 */
export function createApp(deps: AppDeps): OpenAPIHono {
  const app = createOpenApiApp();
  const { logger } = deps;
  const { metrics } = deps.service;

  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const ms = performance.now() - started;
    metrics.httpRequest(c.req.method, routePattern(c), c.res.status, ms / 1000);
    logger.info('request', {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Math.round(ms * 100) / 100,
    });
  });

  app.use(deps.bodyMemory.releaseAfterAnswer);
  applyAccessControl(app, deps);
  registerTaskRoutes(app, deps);
  registerTypeRoutes(app, deps);
  registerSystemRoutes(app, deps);

  handleErrors(app, logger);

  return app;
}
