import { createRoute, type OpenAPIHono } from '../openapi-hono.ts';
import type { BulkFilter } from '../../tasks/repository.ts';
import { readJsonBody, validate } from '../body.ts';
import type { AppDeps } from '../deps.ts';
import { errorResponses, jsonBody, jsonResponse, registerWithOwnBody, tag } from '../openapi.ts';
import { BulkFilterBody, BulkResultSchema, TaskIdParam } from '../schemas.ts';

/**
 * Acting on many tasks: `DELETE /tasks/{id}`, and `POST /tasks/cancel` / `POST /tasks/retry`
 * with a filter (`ids`, or any of `status`, `type`, `created_before`) → `{matched, changed}`.
 * The service applies them in pages of 500, each task version-checked like a single cancel
 * or retry (TaskService.cancelMatching / retryMatching); cancel aborts running handlers.
 */

const deleteRoute = createRoute({
  method: 'delete',
  path: '/tasks/{id}',
  tags: tag('tasks'),
  summary: 'Delete a task that is not running',
  request: { params: TaskIdParam },
  responses: { 204: { description: 'deleted' }, ...errorResponses(401, 404, 409, 429) },
});

const bulkRoute = (action: 'cancel' | 'retry', summary: string) =>
  createRoute({
    method: 'post',
    path: `/tasks/${action}`,
    tags: tag('bulk'),
    summary,
    request: { body: jsonBody(BulkFilterBody) },
    responses: { 200: jsonResponse(BulkResultSchema, 'how many the filter selected and how many changed'), ...errorResponses(400, 401, 413, 415, 429) },
  });
const cancelManyRoute = bulkRoute('cancel', 'Cancel every pending or running task the filter selects (running handlers are aborted)');
const retryManyRoute = bulkRoute('retry', 'Run again every failed or cancelled task the filter selects');

/** Operation name → route, for functions/functions.ts. */
export const BULK_ROUTES = { deleteTask: deleteRoute, cancelTasks: cancelManyRoute, retryTasks: retryManyRoute } as const;

export function registerBulkRoutes(app: OpenAPIHono, { service, config, bodyMemory }: AppDeps): void {
  app.openapi(deleteRoute, async (c) => {
    await service.delete(c.req.valid('param').id);
    return c.body(null, 204);
  });

  const filterFrom = async (c: Parameters<Parameters<typeof registerWithOwnBody>[2]>[0]): Promise<BulkFilter> => {
    const body = validate(BulkFilterBody, await readJsonBody(c, config.maxBodyBytes, bodyMemory));
    return { ids: body.ids === undefined ? undefined : await service.resolveIds(body.ids), status: body.status, type: body.type, createdBefore: body.created_before === undefined ? undefined : Date.parse(body.created_before) };
  };
  registerWithOwnBody(app, cancelManyRoute, async (c) => c.json(await service.cancelMatching(await filterFrom(c)), 200));
  registerWithOwnBody(app, retryManyRoute, async (c) => c.json(await service.retryMatching(await filterFrom(c)), 200));
}
