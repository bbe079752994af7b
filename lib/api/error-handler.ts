import type { Context, Env, Hono, Schema } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError } from '../foundation/errors.ts';
import type { Logger } from '../foundation/log.ts';
import { storageAppError } from './storage-errors.ts';

/**
 * The one error path: AppError → `{"message", "code"}`, unknown routes → 404, a known path
 * with the wrong method → 405 with `Allow`, the database down or full → 503/507
 * (./storage-errors.ts), anything unexpected → 500 without details.
 * Exported so apps built around this one (functions/: one function per operation) answer the
 * same way.
 */
export function handleErrors<E extends Env, S extends Schema>(app: Hono<E, S>, logger: Logger): void {
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
    const storageError = storageAppError(error);
    if (storageError) return errorResponse(c, storageError);
    logger.error('unhandled error', { method: c.req.method, path: c.req.path, error, stack: error instanceof Error ? error.stack : undefined });
    return errorResponse(c, new AppError(500, 'internal', 'internal server error'));
  });
}

function errorResponse(c: Context, error: AppError): Response {
  for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
  return c.json({ message: error.message, code: error.code }, error.status as ContentfulStatusCode);
}

const patternCache = new Map<string, RegExp>();
function allowedMethods(app: Pick<Hono, 'routes'>, path: string): string[] {
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
