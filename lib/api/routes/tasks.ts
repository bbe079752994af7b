import { createRoute, type OpenAPIHono } from '../openapi-hono.ts';
import { AppError, badRequest } from '../../foundation/errors.ts';
import { taskToJson, TaskSchema } from '../../tasks/model.ts';
import { readJsonBody, validate } from '../body.ts';
import type { AppDeps } from '../deps.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { errorResponses, jsonBody, jsonResponse, registerWithOwnBody, tag } from '../openapi.ts';
import { BatchResultSchema, BatchSubmitBody, BatchTaskItem, GetTaskQuery, IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_RULE, ListTasksQuery, SubmitTaskBody, TaskIdParam, TaskListSchema, type SubmitTaskBody as SubmitTaskBodyType } from '../schemas.ts';
import type { SubmitInput, SubmitResult } from '../../tasks/service.ts';
import { BULK_ROUTES, registerBulkRoutes } from './task-bulk.ts';

const submitRoute = createRoute({
  method: 'post',
  path: '/tasks',
  tags: tag('tasks'),
  summary: 'Submit a task (stored before the response)',
  request: {
    body: jsonBody(SubmitTaskBody),
  },
  responses: { 202: jsonResponse(TaskSchema, 'stored'), 200: jsonResponse(TaskSchema, 'Idempotency-Key replay'), ...errorResponses(400, 401, 409, 413, 415, 429, 503) },
});
const batchRoute = createRoute({
  method: 'post',
  path: '/tasks/batch',
  tags: tag('batch'),
  summary: 'Submit up to MAX_BATCH_TASKS tasks at once: all stored in one transaction, or none',
  description:
    'Each item is the body of POST /tasks plus an optional `idempotency_key`. One invalid item is a 400 naming it ' +
    '(`tasks[3]: title is required`) and nothing is stored. An item whose key was used before with the same request ' +
    'returns that task with `replayed: true`; a key used twice in one batch is a 400 naming both items. TASK_MAX_PENDING ' +
    'applies to the whole batch (429, nothing stored). 202 when anything was stored, 200 when every item was a replay. ' +
    'The body may be up to 16 × MAX_BODY_BYTES; bodies beyond MAX_BODY_MEMORY_BYTES held at once are refused with 503 and Retry-After.',
  request: { body: jsonBody(BatchSubmitBody) },
  responses: { 202: jsonResponse(BatchResultSchema, 'stored, in request order'), 200: jsonResponse(BatchResultSchema, 'every item was a replay'), ...errorResponses(400, 401, 409, 413, 415, 429, 503) },
});
const getRoute = createRoute({
  method: 'get',
  path: '/tasks/{id}',
  tags: tag('tasks'),
  summary: 'Get one task; with ?wait=N, once it is final or N seconds have passed',
  request: { params: TaskIdParam, query: GetTaskQuery },
  responses: { 200: jsonResponse(TaskSchema, 'the task'), ...errorResponses(400, 401, 404, 429) },
});
const listRoute = createRoute({
  method: 'get',
  path: '/tasks',
  tags: tag('tasks'),
  summary: 'List tasks, newest first',
  request: { query: ListTasksQuery },
  responses: { 200: jsonResponse(TaskListSchema, 'one page'), ...errorResponses(400, 401, 429) },
});
const cancelRoute = createRoute({
  method: 'post',
  path: '/tasks/{id}/cancel',
  tags: tag('tasks'),
  summary: 'Cancel a pending or running task',
  request: { params: TaskIdParam },
  responses: { 200: jsonResponse(TaskSchema, 'cancelled'), ...errorResponses(401, 404, 409, 429) },
});
const retryRoute = createRoute({
  method: 'post',
  path: '/tasks/{id}/retry',
  tags: tag('tasks'),
  summary: 'Run a failed or cancelled task again',
  request: { params: TaskIdParam },
  responses: { 200: jsonResponse(TaskSchema, 'pending again'), ...errorResponses(401, 404, 409, 429) },
});

/** Every task route, by operation: functions/functions.ts deploys each as its own function. */
export const taskRoutes = {
  createTask: submitRoute, createTasks: batchRoute, listTasks: listRoute, getTask: getRoute, cancelTask: cancelRoute, retryTask: retryRoute, ...BULK_ROUTES,
} as const;

/** A batch body may be this many times MAX_BODY_BYTES: 1 MiB by default, room for 1,000 tasks of 1 KB. */
export const BATCH_BODY_FACTOR = 16;

/** A validated body of POST /tasks as the service takes it. */
function submitInput(body: SubmitTaskBodyType, type: string): SubmitInput {
  return {
    title: body.title,
    description: body.description,
    type,
    payload: body.payload,
    priority: body.priority,
    runAt: body.run_at === undefined ? undefined : Date.parse(body.run_at),
    delaySeconds: body.delay_seconds,
    maxAttempts: body.max_attempts,
  };
}

function checkIdempotencyKey(key: string | undefined): void {
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw badRequest(`Idempotency-Key ${IDEMPOTENCY_KEY_RULE}`, 'invalid_header');
  }
}

/**
 * A submit as POST /tasks takes it: its body (parsed JSON) validated, its type registered and
 * its payload accepted by that type, then stored. The route and an embedding app's in-process
 * submit (lib/wiring/in-process.ts) both come here, so they accept and refuse the same.
 */
export async function submitTaskBody(deps: Pick<AppDeps, 'service' | 'handlers'>, raw: unknown, idempotencyKey?: string): Promise<SubmitResult> {
  checkIdempotencyKey(idempotencyKey);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw badRequest('request body must be a JSON object', 'invalid_json');
  }
  const body = validate(SubmitTaskBody, raw);
  const type = body.type ?? 'simulate';
  if (!deps.handlers.has(type)) throw badRequest(`unknown task type ${JSON.stringify(type)}`, 'unknown_type');
  deps.handlers.options(type).validatePayload?.(body.payload);
  return deps.service.submit(submitInput(body, type), idempotencyKey);
}

/**
 * Registers the task routes. Returns the app typed with the routes `app.openapi` registered:
 * lib/client/ builds its typed client from that type (`TaskRoutes`). The submit route reads
 * its own body (registerWithOwnBody), so it is not in the type; the client types it by hand.
 */
export function registerTaskRoutes(app: OpenAPIHono, deps: AppDeps) {
  const { service, handlers, config, bodyMemory } = deps;

  registerWithOwnBody(app, submitRoute, async (c) => {
    const key = c.req.header('idempotency-key');
    // Before the body: a bad header is 400 whatever is sent.
    checkIdempotencyKey(key);
    const { task, replayed } = await submitTaskBody(deps, await readJsonBody(c, config.maxBodyBytes, bodyMemory), key);
    if (replayed) c.header('Idempotent-Replayed', 'true');
    return c.json(taskToJson(task), replayed ? 200 : 202);
  });

  registerWithOwnBody(app, batchRoute, async (c) => {
    const raw = await readJsonBody(c, config.maxBodyBytes * BATCH_BODY_FACTOR, bodyMemory);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw badRequest('request body must be a JSON object: {"tasks": [...]}', 'invalid_json');
    }
    const items = (raw as { tasks?: unknown }).tasks;
    if (!Array.isArray(items)) throw badRequest('tasks must be an array of tasks (each the body of POST /tasks)', 'invalid_field');
    if (items.length === 0) throw badRequest('tasks must contain at least one task', 'invalid_field');
    if (items.length > config.maxBatchTasks) {
      throw badRequest(`tasks must contain at most ${config.maxBatchTasks} tasks (MAX_BATCH_TASKS)`, 'batch_too_large');
    }
    const batch = items.map((item: unknown, i) => {
      try {
        if (typeof item !== 'object' || item === null || Array.isArray(item)) throw badRequest('must be an object (the body of POST /tasks)', 'invalid_field');
        const body = validate(BatchTaskItem, item);
        const type = body.type ?? 'simulate';
        if (!handlers.has(type)) throw badRequest(`unknown task type ${JSON.stringify(type)}`, 'unknown_type');
        handlers.options(type).validatePayload?.(body.payload);
        return { input: submitInput(body, type), idempotencyKey: body.idempotency_key };
      } catch (error) {
        if (error instanceof AppError) throw new AppError(400, error.code, `tasks[${i}]: ${error.message}`);
        throw error;
      }
    });
    const results = await service.submitMany(batch);
    const stored = results.some((r) => !r.replayed);
    // taskToJson makes a fresh object: `replayed` is added to it rather than copying 21 fields
    // per task into another (8% of the server's CPU under 1,000-task batches).
    const tasks = results.map((r) => Object.assign(taskToJson(r.task), { replayed: r.replayed }));
    return c.json({ count: results.length, tasks }, stored ? 202 : 200);
  });

  registerBulkRoutes(app, deps);

  return app
    .openapi(listRoute, async (c) => {
      const query = c.req.valid('query');
      const tasks = await service.list({
        status: query.status,
        type: query.type,
        beforeId: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
        limit: query.limit + 1,
      });
      const page = tasks.slice(0, query.limit);
      const next = tasks.length > query.limit ? encodeCursor(page[page.length - 1]!.id) : null;
      return c.json({ count: page.length, tasks: page.map(taskToJson), next_cursor: next }, 200);
    })
    .openapi(getRoute, async (c) => {
      const { id } = c.req.valid('param');
      const { wait } = c.req.valid('query');
      const task = wait > 0 ? await service.waitUntilFinal(id, wait, c.req.raw.signal) : await service.get(id);
      return c.json(taskToJson(task), 200);
    })
    .openapi(cancelRoute, async (c) => c.json(taskToJson(await service.cancel(c.req.valid('param').id)), 200))
    .openapi(retryRoute, async (c) => c.json(taskToJson(await service.retry(c.req.valid('param').id)), 200));
}

/** The type of the app with the task routes, for hono/client (lib/client/). */
export type TaskRoutes = ReturnType<typeof registerTaskRoutes>;
