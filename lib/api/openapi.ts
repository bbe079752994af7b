import { OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { Handler } from 'hono';
import { validationError } from './body.ts';
import { ErrorSchema } from './schemas.ts';

/**
 * How routes are declared: `createRoute` once (method, path, schemas), then
 * `app.openapi(route, handler)` validates params and queries with the route's own schemas and
 * documents it in /openapi.json. A failed validation is our 400 (message names the field).
 */
export function createOpenApiApp(): OpenAPIHono {
  return new OpenAPIHono({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target === 'query' ? 'invalid_query' : 'invalid_field');
    },
  });
}

/** `/tasks/{id}` (OpenAPI) → `/tasks/:id` (Hono). */
export function honoPath(route: Pick<RouteConfig, 'path'>): string {
  return route.path.replace(/\{([^}]+)\}/g, ':$1');
}

/**
 * For routes with a JSON body: documented from the route, but the handler reads the body
 * itself (lib/api/body.ts): a byte limit while streaming, 415 rules, a missing or form
 * Content-Type read as JSON. `app.openapi` would put @hono/zod-openapi's body validator in
 * front, which answers 415 to what curl sends without `-H content-type` and reads no limit.
 */
export function registerWithOwnBody(app: OpenAPIHono, route: RouteConfig, handler: Handler): void {
  app.openAPIRegistry.registerPath(route);
  app.on(route.method.toUpperCase(), honoPath(route), handler);
}

/** A route's JSON response (`responses: { 200: jsonResponse(TaskSchema, 'the task') }`). */
export const jsonResponse = <T>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

/** The `{message, code}` error response (lib/api/error-handler.ts) under each of `statuses`. */
export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), jsonResponse(ErrorSchema, 'error')])) as Record<string, ReturnType<typeof jsonResponse>>;

/** A route's required JSON request body (`request: { body: jsonBody(SubmitTaskBody) }`). */
export const jsonBody = <T>(schema: T) => ({ required: true, content: { 'application/json': { schema } } });
