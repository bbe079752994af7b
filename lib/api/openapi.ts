import { OpenAPIHono, type RouteConfig } from './openapi-hono.ts';
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

/**
 * The groups /docs (Swagger UI) shows the operations in, in this order. Every route names one
 * in its `tags` through `tag()`; test/docs.test.ts checks /openapi.json has no operation
 * outside them.
 */
export const apiTags = [
  { name: 'tasks', description: 'One task at a time: submit (stored before the reply), get (optionally waiting until it is final), list, cancel, retry, delete.' },
  { name: 'batch', description: 'Up to MAX_BATCH_TASKS tasks in one request and one transaction: all stored, or none.' },
  { name: 'bulk', description: 'Cancel or retry every task a filter selects (ids, status, type, created_before), in bounded pages: {matched, changed}.' },
  { name: 'types', description: 'Task types: counts by status per type; pause and resume claiming a type in every process and function.' },
  { name: 'schedules', description: 'Cron schedules in an IANA time zone with a missed-run policy; each occurrence creates one task.' },
  { name: 'workflows', description: 'Workflows registered in this deployment (defineWorkflow): their runs by status; start a run with an input.' },
  { name: 'runs', description: 'Workflow runs: read one with its steps and what it waits for, list, cancel (with its child runs), retry from the failed step.' },
  { name: 'events', description: 'Send an event (name, optional key, JSON payload): every run waiting for it resumes; one sent before the run reaches its wait is kept for it.' },
  { name: 'system', description: 'Counts by status (/stats), liveness (/healthz) and readiness (/readyz).' },
  { name: 'poll', description: 'The scheduled poll over HTTP, for crons that call a URL (Authorization: Bearer $CRON_SECRET). Served by the function deployments; the Node server polls on its own.' },
] as const;

export type ApiTag = (typeof apiTags)[number]['name'];

/** A route's `tags` (`tags: tag('tasks')`): one name of apiTags, checked by the compiler. */
export const tag = (name: ApiTag): string[] => [name];

/**
 * The document GET /openapi.json serves. Its `tags` are the apiTags some route of this app
 * uses: the Node server has no /poll, and Swagger UI would show a declared tag as an empty group.
 */
export function openApiDocument(app: OpenAPIHono) {
  const used = new Set(app.openAPIRegistry.definitions.flatMap((definition) => (definition.type === 'route' ? (definition.route.tags ?? []) : [])));
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: { title: 'task-pool', version: '0.1.0', description: 'A durable task queue. Errors are {"message", "code"}.' },
    security: [{}, { bearer: [] }],
    tags: apiTags.filter((t) => used.has(t.name)).map((t) => ({ ...t })),
  });
}
