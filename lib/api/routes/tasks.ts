import { createRoute, type OpenAPIHono } from '../openapi-hono.ts';
import { badRequest } from '../../foundation/errors.ts';
import { taskToJson, TaskSchema } from '../../tasks/model.ts';
import { AttemptListSchema, attemptToJson } from '../../tasks/attempts.ts';
import { formatTaskId } from '../../tasks/ids.ts';
import { readJsonBody, validate } from '../body.ts';
import type { AppDeps } from '../deps.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { errorResponses, jsonBody, jsonResponse, registerWithOwnBody, tag } from '../openapi.ts';
import { GetTaskQuery, IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_RULE, ListTasksQuery, SubmitTaskBody, SubmittedTaskSchema, submitInput, TaskIdParam, TaskListSchema } from '../schemas.ts';
import type { SubmitResult } from '../../tasks/service.ts';
import { BATCH_ROUTES, registerBatchRoute } from './task-batch.ts';
import { BULK_ROUTES, registerBulkRoutes } from './task-bulk.ts';

const submitRoute = createRoute({
  method: 'post',
  path: '/tasks',
  tags: tag('tasks'),
  summary: 'Submit a task (stored before the response)',
  request: {
    body: jsonBody(SubmitTaskBody),
  },
  description:
    'The task is stored `pending`, or `in_progress` when a worker of the process that took the request was idle: its insert claimed the task for that worker, which starts it at once. With `debounce` or `throttle` (docs/debounce.md) the answer carries `debounced` or `throttled`: 200 when the pending task of the key took the submit in (the same id), 202 when a new task was stored.',
  responses: {
    202: jsonResponse(SubmittedTaskSchema, 'stored'),
    200: jsonResponse(SubmittedTaskSchema, 'Idempotency-Key replay, or debounced or throttled into the pending task of its key'),
    ...errorResponses(400, 401, 409, 413, 415, 429, 503),
  },
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
const attemptsRoute = createRoute({
  method: 'get',
  path: '/tasks/{id}/attempts',
  tags: tag('tasks'),
  summary: 'Every attempt of a task: worker, start, end, outcome and error (the newest TASK_ATTEMPTS_KEPT that did not complete, then the running or completed one)',
  request: { params: TaskIdParam },
  responses: { 200: jsonResponse(AttemptListSchema, 'the attempts, oldest first'), ...errorResponses(401, 404, 429) },
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
  createTask: submitRoute, ...BATCH_ROUTES, listTasks: listRoute, getTask: getRoute, listAttempts: attemptsRoute, cancelTask: cancelRoute, retryTask: retryRoute, ...BULK_ROUTES,
} as const;

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
  await deps.handlers.refreshTypes();
  if (!deps.handlers.has(type)) throw badRequest(`unknown task type ${JSON.stringify(type)}`, 'unknown_type');
  deps.handlers.options(type).validatePayload?.(body.payload);
  return deps.service.submit(submitInput(body, type), idempotencyKey);
}

/** The answer of POST /tasks: the task, with `debounced` or `throttled` when the submit asked for one. */
export function submittedJson({ task, debounced, throttled }: SubmitResult) {
  const json = taskToJson(task);
  if (debounced !== undefined) return { ...json, debounced };
  if (throttled !== undefined) return { ...json, throttled };
  return json;
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
    const result = await submitTaskBody(deps, await readJsonBody(c, config.maxBodyBytes, bodyMemory), key);
    if (result.replayed) c.header('Idempotent-Replayed', 'true');
    return c.json(submittedJson(result), result.replayed || result.debounced || result.throttled ? 200 : 202);
  });

  registerBatchRoute(app, deps);
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
      const heldBack = await service.repo.heldBack(page);
      return c.json({ count: page.length, tasks: page.map((task) => taskToJson(task, heldBack.get(task.id) ?? null)), next_cursor: next }, 200);
    })
    .openapi(getRoute, async (c) => {
      const { id } = c.req.valid('param');
      const { wait } = c.req.valid('query');
      const task = wait > 0 ? await service.waitUntilFinal(id, wait, c.req.raw.signal) : await service.get(id);
      const heldBack = await service.repo.heldBack([task]);
      return c.json(taskToJson(task, heldBack.get(task.id) ?? null), 200);
    })
    .openapi(attemptsRoute, async (c) => {
      const { task, attempts } = await service.attempts(c.req.valid('param').id);
      const json = attempts.map(attemptToJson);
      return c.json({ task_id: formatTaskId(task.id), count: json.length, attempts: json }, 200);
    })
    .openapi(cancelRoute, async (c) => c.json(taskToJson(await service.cancel(c.req.valid('param').id)), 200))
    .openapi(retryRoute, async (c) => c.json(taskToJson(await service.retry(c.req.valid('param').id)), 200));
}

/** The type of the app with the task routes, for hono/client (lib/client/). */
export type TaskRoutes = ReturnType<typeof registerTaskRoutes>;
