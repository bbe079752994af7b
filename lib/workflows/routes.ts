import * as z from 'zod';
import { createRoute, type OpenAPIHono } from '../api/openapi-hono.ts';
import type { Context } from 'hono';
import type { Config } from '../config/config.ts';
import { badRequest } from '../foundation/errors.ts';
import { readJsonBody, validate } from '../api/body.ts';
import type { BodyMemory } from '../api/body-memory.ts';
import { decodeCursor, encodeCursor } from '../api/cursor.ts';
import { errorResponses, jsonBody, jsonResponse, registerWithOwnBody, tag } from '../api/openapi.ts';
import { flowControlInput, IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_RULE, ListTasksQuery, TaskIdParam } from '../api/schemas.ts';
import { parseTaskId } from '../tasks/ids.ts';
import {
  DeletedWorkflowSchema,
  EventResultSchema,
  putWorkflowBody,
  PutWorkflowBodyDoc,
  RunDetailSchema,
  RunListSchema,
  RunSchema,
  SendEventBody,
  StartRunBody,
  WorkflowDetailSchema,
  WorkflowListSchema,
} from './schemas.ts';
import { unknownWorkflow, type WorkflowService } from './service.ts';

/**
 * The workflow routes: `POST /workflows/:name/runs`, `GET /workflows`, `PUT/GET/DELETE
 * /workflows/:name` (workflows served by an app, lib/workflows/remote.ts), `GET /runs`,
 * `GET /runs/:id`, `POST /runs/:id/cancel`, `POST /runs/:id/retry`, `POST /events`. They sit
 * on the app after its middleware (lib/wiring/app-services.ts registers them), so access
 * control, rate limits and the error path are the task routes'. A run is a task: its body
 * is read like POST /tasks's (MAX_BODY_BYTES, the same 413 and 415), its input counts like a
 * task's payload, and list pages follow GET /tasks's rules (limit, status, cursor).
 */

const NameParam = z.object({
  name: z.string().openapi({ param: { name: 'name', in: 'path' }, description: 'A workflow registered in this deployment.', example: 'signup' }),
});

const RunIdParam = TaskIdParam;

const DeleteWorkflowQuery = z.object({
  force: z
    .enum(['true', 'false'], { error: 'force must be true or false' })
    .optional()
    .openapi({ param: { name: 'force', in: 'query' }, description: 'true: cancel its pending and running runs (children too) instead of answering 409.' }),
});

const ListRunsQuery = ListTasksQuery.pick({ status: true, limit: true, cursor: true }).extend({
  workflow: z
    .string()
    .min(1, { error: 'workflow must not be empty' })
    .optional()
    .openapi({ param: { name: 'workflow', in: 'query' }, description: 'Only runs of this workflow (404 when none is registered under that name).' }),
});

const startRoute = createRoute({
  method: 'post',
  path: '/workflows/{name}/runs',
  tags: tag('workflows'),
  summary: 'Start a run (stored before the response)',
  description:
    'The body may be empty (input null). `idempotency_key`, or the `Idempotency-Key` header as for POST /tasks: a replay with the same ' +
    'body answers 200 with the same run, a different body 409. The whole body counts against MAX_BODY_BYTES (413).',
  request: { params: NameParam, body: jsonBody(StartRunBody) },
  responses: { 202: jsonResponse(RunSchema, 'stored'), 200: jsonResponse(RunSchema, 'idempotency key replay'), ...errorResponses(400, 401, 404, 409, 413, 415, 429) },
});
const listWorkflowsRoute = createRoute({
  method: 'get',
  path: '/workflows',
  tags: tag('workflows'),
  summary: 'The workflows registered here, with their runs by status',
  responses: { 200: jsonResponse(WorkflowListSchema, 'by name'), ...errorResponses(401, 429) },
});
const getWorkflowRoute = createRoute({
  method: 'get',
  path: '/workflows/{name}',
  tags: tag('workflows'),
  summary: 'One workflow, defined in process or registered by URL, with its runs by status',
  request: { params: NameParam },
  responses: { 200: jsonResponse(WorkflowDetailSchema, 'the workflow'), ...errorResponses(401, 404, 429) },
});
const putWorkflowRoute = createRoute({
  method: 'put',
  path: '/workflows/{name}',
  tags: tag('workflows'),
  summary: 'Register a workflow served by your app at a URL, or change its registration',
  description:
    'Runs of it are tasks of type `workflow:<name>`; each advance is a signed POST to `url` (docs/workflow-protocol.md). The URL\'s host ' +
    'is checked by the SSRF guard as an `http` task\'s (HTTP_ALLOW_PRIVATE_NETWORKS, HTTP_ALLOWED_HOSTS). PUT replaces every field: ' +
    'an absent `signing_secret` means WEBHOOK_SECRET. 409 for the name of a workflow defined in process.',
  request: { params: NameParam, body: jsonBody(PutWorkflowBodyDoc) },
  responses: { 201: jsonResponse(WorkflowDetailSchema, 'registered'), 200: jsonResponse(WorkflowDetailSchema, 'updated'), ...errorResponses(400, 401, 409, 413, 415, 429) },
});
const deleteWorkflowRoute = createRoute({
  method: 'delete',
  path: '/workflows/{name}',
  tags: tag('workflows'),
  summary: 'Remove a workflow registered by URL',
  description: '409 while it has pending or running runs, unless `?force=true`: then it is deleted and they are cancelled, with their child runs.',
  request: { params: NameParam, query: DeleteWorkflowQuery },
  responses: { 200: jsonResponse(DeletedWorkflowSchema, 'deleted'), ...errorResponses(400, 401, 404, 409, 429) },
});
const listRunsRoute = createRoute({
  method: 'get',
  path: '/runs',
  tags: tag('runs'),
  summary: 'List runs, newest first',
  request: { query: ListRunsQuery },
  responses: { 200: jsonResponse(RunListSchema, 'one page'), ...errorResponses(400, 401, 404, 429) },
});
const getRunRoute = createRoute({
  method: 'get',
  path: '/runs/{id}',
  tags: tag('runs'),
  summary: 'Get one run with its steps and what it waits for',
  request: { params: RunIdParam },
  responses: { 200: jsonResponse(RunDetailSchema, 'the run'), ...errorResponses(401, 404, 429) },
});
const cancelRunRoute = createRoute({
  method: 'post',
  path: '/runs/{id}/cancel',
  tags: tag('runs'),
  summary: 'Cancel a run and every child run it started that has not ended',
  request: { params: RunIdParam },
  responses: { 200: jsonResponse(RunSchema, 'cancelled'), ...errorResponses(401, 404, 409, 429) },
});
const retryRunRoute = createRoute({
  method: 'post',
  path: '/runs/{id}/retry',
  tags: tag('runs'),
  summary: 'Resume a failed or cancelled run at the step that failed (completed steps are not run again)',
  request: { params: RunIdParam },
  responses: { 200: jsonResponse(RunSchema, 'pending again'), ...errorResponses(401, 404, 409, 429) },
});
const sendEventRoute = createRoute({
  method: 'post',
  path: '/events',
  tags: tag('events'),
  summary: 'Send an event: runs waiting for it (same name and key) resume',
  description: 'Kept WORKFLOW_EVENT_RETENTION, so a run that reaches its wait later still takes it. The whole body counts against MAX_BODY_BYTES (413).',
  request: { body: jsonBody(SendEventBody) },
  responses: { 202: jsonResponse(EventResultSchema, 'stored'), ...errorResponses(400, 401, 413, 415, 429) },
});

/** Every workflow route, by operation: functions/functions.ts deploys each as its own function. */
export const workflowRoutes = {
  startRun: startRoute,
  listWorkflows: listWorkflowsRoute,
  getWorkflow: getWorkflowRoute,
  putWorkflow: putWorkflowRoute,
  deleteWorkflow: deleteWorkflowRoute,
  listRuns: listRunsRoute,
  getRun: getRunRoute,
  cancelRun: cancelRunRoute,
  retryRun: retryRunRoute,
  sendEvent: sendEventRoute,
} as const;

export interface WorkflowRouteDeps {
  workflows: WorkflowService;
  config: Pick<Config, 'maxBodyBytes' | 'timeoutSeconds' | 'httpMaxPerHost'>;
  bodyMemory: BodyMemory;
}

/** A JSON object body, else 400 (an array or a bare value is not a request). */
async function readObject(c: Context, maxBytes: number, memory: BodyMemory, empty?: object): Promise<object> {
  const raw = await readJsonBody(c, maxBytes, memory, { empty });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badRequest('request body must be a JSON object', 'invalid_json');
  return raw;
}

/**
 * Registers the workflow routes. Returns the app typed with the routes `app.openapi`
 * registered (`WorkflowRoutes`), for the typed client (lib/client/); the two that read their
 * own body (start, events) are typed by hand there, as POST /tasks is.
 */
export function registerWorkflowRoutes(app: OpenAPIHono, deps: WorkflowRouteDeps) {
  const { workflows, config, bodyMemory } = deps;

  registerWithOwnBody(app, startRoute, async (c) => {
    const name = c.req.param('name')!;
    // Before the body: an unknown workflow is 404 whatever is sent.
    if (!(await workflows.has(name))) throw unknownWorkflow(name);
    const header = c.req.header('idempotency-key');
    if (header !== undefined && !IDEMPOTENCY_KEY.test(header)) throw badRequest(`Idempotency-Key ${IDEMPOTENCY_KEY_RULE}`, 'invalid_header');
    const body = validate(StartRunBody, await readObject(c, config.maxBodyBytes, bodyMemory, {}));
    if (header !== undefined && body.idempotency_key !== undefined && header !== body.idempotency_key) {
      throw badRequest('idempotency_key differs from the Idempotency-Key header (send one, or the same in both)', 'invalid_field');
    }
    const { run, replayed } = await workflows.startRun(name, {
      input: body.input,
      idempotencyKey: body.idempotency_key ?? header,
      runAt: body.run_at === undefined ? undefined : Date.parse(body.run_at),
      delaySeconds: body.delay_seconds,
      flowControl: flowControlInput(body.flow_control),
    });
    if (replayed) c.header('Idempotent-Replayed', 'true');
    return c.json(run, replayed ? 200 : 202);
  });

  const putBody = putWorkflowBody({ maxTimeoutSeconds: config.timeoutSeconds, defaultMaxPerHost: config.httpMaxPerHost });
  registerWithOwnBody(app, putWorkflowRoute, async (c) => {
    const name = c.req.param('name')!;
    const body = validate(putBody, await readObject(c, config.maxBodyBytes, bodyMemory));
    const { workflow, created } = await workflows.putRemote(name, body);
    return c.json(workflow, created ? 201 : 200);
  });

  registerWithOwnBody(app, sendEventRoute, async (c) => {
    const body = validate(SendEventBody, await readObject(c, config.maxBodyBytes, bodyMemory));
    return c.json(await workflows.sendEvent(body.event, body.key ?? null, body.payload), 202);
  });

  return app
    .openapi(listWorkflowsRoute, async (c) => c.json({ workflows: await workflows.summaries() }, 200))
    .openapi(getWorkflowRoute, async (c) => c.json(await workflows.getWorkflow(c.req.valid('param').name), 200))
    .openapi(deleteWorkflowRoute, async (c) => c.json(await workflows.deleteRemote(c.req.valid('param').name, c.req.valid('query').force === 'true'), 200))
    .openapi(listRunsRoute, async (c) => {
      const query = c.req.valid('query');
      const runs = await workflows.listRuns({
        workflow: query.workflow,
        status: query.status,
        beforeId: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
        limit: query.limit + 1,
      });
      const page = runs.slice(0, query.limit);
      const next = runs.length > query.limit ? encodeCursor(parseTaskId(page[page.length - 1]!.id)!) : null;
      return c.json({ count: page.length, runs: page, next_cursor: next }, 200);
    })
    .openapi(getRunRoute, async (c) => c.json(await workflows.getRun(c.req.valid('param').id), 200))
    .openapi(cancelRunRoute, async (c) => c.json(await workflows.cancelRun(c.req.valid('param').id), 200))
    .openapi(retryRunRoute, async (c) => c.json(await workflows.retryRun(c.req.valid('param').id), 200));
}

/** The type of the app with the workflow routes, for hono/client (lib/client/). */
export type WorkflowRoutes = ReturnType<typeof registerWorkflowRoutes>;
