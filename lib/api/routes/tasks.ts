import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { badRequest } from '../../errors.ts';
import { readJsonBody, validate } from '../body.ts';
import { ErrorSchema, ListTasksQuery, SubmitTaskBody, TaskIdParam, TaskListSchema, TaskSchema } from '../schemas.ts';
import { taskToJson } from '../../tasks/model.ts';
import type { AppDeps } from '../app.ts';

const json = <T>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), json(ErrorSchema, 'error')])) as Record<string, ReturnType<typeof json>>;

const submitRoute = createRoute({
  method: 'post',
  path: '/tasks',
  summary: 'Submit a task (stored before the response)',
  request: {
    body: { required: true, content: { 'application/json': { schema: SubmitTaskBody } } },
  },
  responses: { 202: json(TaskSchema, 'stored'), 200: json(TaskSchema, 'Idempotency-Key replay'), ...errors(400, 401, 409, 413, 415, 429) },
});
const getRoute = createRoute({
  method: 'get',
  path: '/tasks/{id}',
  summary: 'Get one task',
  request: { params: TaskIdParam },
  responses: { 200: json(TaskSchema, 'the task'), ...errors(401, 404, 429) },
});
const listRoute = createRoute({
  method: 'get',
  path: '/tasks',
  summary: 'List tasks, newest first',
  request: { query: ListTasksQuery },
  responses: { 200: json(TaskListSchema, 'one page'), ...errors(400, 401, 429) },
});
const cancelRoute = createRoute({
  method: 'post',
  path: '/tasks/{id}/cancel',
  summary: 'Cancel a pending or running task',
  request: { params: TaskIdParam },
  responses: { 200: json(TaskSchema, 'cancelled'), ...errors(401, 404, 409, 429) },
});
const retryRoute = createRoute({
  method: 'post',
  path: '/tasks/{id}/retry',
  summary: 'Run a failed or cancelled task again',
  request: { params: TaskIdParam },
  responses: { 200: json(TaskSchema, 'pending again'), ...errors(401, 404, 409, 429) },
});

const CURSOR_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const encodeCursor = (id: string) => btoa(id).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
function decodeCursor(cursor: string): string {
  try {
    const id = atob(cursor.replace(/-/g, '+').replace(/_/g, '/'));
    if (CURSOR_ID.test(id)) return id;
  } catch {
    // fall through
  }
  throw badRequest('cursor is invalid', 'invalid_query');
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

export function registerTaskRoutes(app: OpenAPIHono, deps: AppDeps): void {
  const { service, handlers, config } = deps;
  for (const route of [submitRoute, getRoute, listRoute, cancelRoute, retryRoute]) app.openAPIRegistry.registerPath(route);

  app.post('/tasks', async (c) => {
    const key = c.req.header('idempotency-key');
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw badRequest('Idempotency-Key must be 1 to 200 visible ASCII characters', 'invalid_header');
    }
    const raw = await readJsonBody(c, config.maxBodyBytes);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw badRequest('request body must be a JSON object', 'invalid_json');
    }
    const body = validate(SubmitTaskBody, raw);
    const type = body.type ?? 'simulate';
    if (!handlers.has(type)) throw badRequest(`unknown task type ${JSON.stringify(type)}`, 'unknown_type');
    handlers.validatePayload(type, body.payload);
    const { task, replayed } = await service.submit(
      {
        title: body.title,
        description: body.description,
        type,
        payload: body.payload,
        priority: body.priority,
        runAt: body.run_at === undefined ? undefined : Date.parse(body.run_at),
        delaySeconds: body.delay_seconds,
        maxAttempts: body.max_attempts,
      },
      key,
    );
    if (replayed) c.header('Idempotent-Replayed', 'true');
    return c.json(taskToJson(task), replayed ? 200 : 202);
  });

  app.get('/tasks', async (c) => {
    const query = validate(ListTasksQuery, c.req.query(), 'invalid_query');
    const tasks = await service.list({
      status: query.status,
      type: query.type,
      beforeId: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
      limit: query.limit + 1,
    });
    const page = tasks.slice(0, query.limit);
    const next = tasks.length > query.limit ? encodeCursor(page[page.length - 1]!.id) : null;
    return c.json({ count: page.length, tasks: page.map(taskToJson), next_cursor: next });
  });

  app.get('/tasks/:id', async (c) => c.json(taskToJson(await service.get(c.req.param('id')))));
  app.post('/tasks/:id/cancel', async (c) => c.json(taskToJson(await service.cancel(c.req.param('id')))));
  app.post('/tasks/:id/retry', async (c) => c.json(taskToJson(await service.retry(c.req.param('id')))));
}
