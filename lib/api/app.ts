import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { applyAccessControl } from './access-control.ts';
import type { AppDeps } from './deps.ts';
import { createOpenApiApp } from './openapi.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { registerSystemRoutes } from './routes/system.ts';
import { registerTaskRoutes } from './routes/tasks.ts';
import { registerTypeRoutes } from './routes/types.ts';

/**
 * The HTTP API, runtime-agnostic: `app.fetch(Request) → Response` on Node (local/server.ts)
 * and on every function platform (functions/).
 */
export function createApp(deps: AppDeps): OpenAPIHono {
  const app = createOpenApiApp();
  const { logger } = deps;

  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    logger.info('request', {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
    });
  });

  applyAccessControl(app, deps);
  registerTaskRoutes(app, deps);
  registerTypeRoutes(app, deps);
  registerSystemRoutes(app, deps);

  handleErrors(app, logger);

  return app;
}

/**
 * The one error path: AppError → `{"message", "code"}`, unknown routes → 404, a known path
 * with the wrong method → 405 with `Allow`, anything unexpected → 500 without details.
 * Exported so apps built around this one (functions/: one function per operation) answer the
 * same way.
 */
export function handleErrors(app: OpenAPIHono, logger: Logger): void {
  app.notFound((c) => {
    const allowed = allowedMethods(app, c.req.path);
    if (allowed.length > 0) {
      c.header('Allow', allowed.join(', '));
      return errorResponse(c, new AppError(405, 'method_not_allowed', `method ${c.req.method} is not allowed on ${c.req.path}`));
    }
    return errorResponse(c, new AppError(404, 'route_not_found', `no route for ${c.req.method} ${c.req.path}`));
  });

  app.onError((error, c) => {
    if (error instanceof AppError) return errorResponse(c, error);
    if (error instanceof HTTPException) {
      return errorResponse(c, new AppError(error.status as ContentfulStatusCode, 'http_error', error.message || 'request failed'));
    }
    logger.error('unhandled error', { method: c.req.method, path: c.req.path, error, stack: error instanceof Error ? error.stack : undefined });
    return errorResponse(c, new AppError(500, 'internal', 'internal server error'));
  });
}

function errorResponse(c: Context, error: AppError): Response {
  for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
  return c.json({ message: error.message, code: error.code }, error.status as ContentfulStatusCode);
}

const patternCache = new Map<string, RegExp>();
function allowedMethods(app: OpenAPIHono, path: string): string[] {
  const methods = new Set<string>();
  for (const route of app.routes) {
    if (route.method === 'ALL' || route.path === '/*') continue;
    let pattern = patternCache.get(route.path);
    if (!pattern) {
      pattern = new RegExp(`^${route.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+')}/?$`);
      patternCache.set(route.path, pattern);
    }
    if (pattern.test(path)) methods.add(route.method);
  }
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods];
}
