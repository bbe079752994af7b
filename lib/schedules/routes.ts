import * as z from 'zod';
import { createRoute, type OpenAPIHono } from '../api/openapi-hono.ts';
import type { HandlerRegistry } from '../processing/handlers.ts';
import type { Config } from '../config/config.ts';
import { AppError, badRequest } from '../foundation/errors.ts';
import { readJsonBody, validate } from '../api/body.ts';
import { errorResponses, jsonBody, jsonResponse, registerWithOwnBody, tag } from '../api/openapi.ts';
import { ListTasksQuery, SubmitTaskBody } from '../api/schemas.ts';
import type { BodyMemory } from '../api/body-memory.ts';
import { taskToJson, TaskSchema } from '../tasks/model.ts';
import { cronProblem, MISSED_POLICIES, scheduleNamePattern, scheduleToJson, timezoneProblem } from './model.ts';
import type { ScheduleService } from './service.ts';

/**
 * `/schedules` (lib/schedules/README.md says what the folder owns): create or replace by
 * name, read, list, delete, pause, resume, trigger. Validation names the field
 * (`cron …`, `timezone …`, `task.title is required`); the task template is checked with the
 * same schema as POST /tasks and against the handler registry.
 */

export const PutScheduleBody = z
  .object({
    cron: z
      .string({ error: 'cron is required (5 fields, or 6 with seconds first)' })
      .superRefine((cron, ctx) => {
        const problem = cronProblem(cron);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .openapi({ example: '30 2 * * *', description: '5 fields (minute hour day month weekday), or 6 with seconds first.' }),
    timezone: z
      .string({ error: 'timezone must be a string' })
      .superRefine((zone, ctx) => {
        const problem = timezoneProblem(zone);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .default('UTC')
      .openapi({ example: 'Europe/Berlin', description: 'IANA time zone the cron is read in. Default UTC.' }),
    missed: z
      .enum(MISSED_POLICIES, { error: `missed must be one of ${MISSED_POLICIES.join(', ')}` })
      .default('once')
      .openapi({ description: 'After downtime or a pause: skip (none), once (the latest; default), all (each, up to SCHEDULE_MAX_CATCHUP).' }),
    paused: z.boolean({ error: 'paused must be true or false' }).optional().openapi({ description: 'Default false; left out on a replace, unchanged.' }),
    task: z
      .record(z.string(), z.unknown(), {
        error: (issue) => (issue.input === undefined ? 'task is required: the body of POST /tasks' : 'task must be an object: the body of POST /tasks'),
      })
      .openapi({ description: 'The task each occurrence creates: the body of POST /tasks, without run_at.' }),
  })
  .openapi('PutSchedule');

export const ScheduleSchema = z
  .object({
    name: z.string(),
    cron: z.string(),
    timezone: z.string(),
    missed: z.enum(MISSED_POLICIES),
    paused: z.boolean(),
    task: SubmitTaskBody,
    next_run_at: z.iso.datetime({ offset: false }).nullable().openapi({ description: 'The next occurrence not yet fired; null when the cron never matches again.' }),
    last_run_at: z.iso.datetime({ offset: false }).nullable().openapi({ description: 'The latest occurrence fired (or trigger).' }),
    version: z.number().int(),
    created_at: z.iso.datetime({ offset: false }),
    updated_at: z.iso.datetime({ offset: false }),
  })
  .openapi('Schedule');

const ScheduleListSchema = z
  .object({ count: z.number().int(), schedules: z.array(ScheduleSchema), next_cursor: z.string().nullable() })
  .openapi('ScheduleList');

const ListSchedulesQuery = ListTasksQuery.pick({ limit: true }).extend({
  cursor: z.string().regex(scheduleNamePattern, { error: 'cursor is invalid' }).optional().openapi({ param: { name: 'cursor', in: 'query' }, description: 'next_cursor of the previous page' }),
});

const NAME_RULE = 'name must be 1 to 200 characters: letters, digits, ".", "_" or "-" (no spaces), starting with a letter or digit';
const NameParam = z.object({
  name: z.string().regex(scheduleNamePattern, { error: NAME_RULE }).openapi({ param: { name: 'name', in: 'path' }, description: '1 to 200 letters, digits, `.`, `_`, `-`.', example: 'nightly-report' }),
});

const putRoute = createRoute({
  method: 'put',
  path: '/schedules/{name}',
  tags: tag('schedules'),
  summary: 'Create or replace a schedule',
  request: { params: NameParam, body: jsonBody(PutScheduleBody) },
  responses: { 201: jsonResponse(ScheduleSchema, 'created'), 200: jsonResponse(ScheduleSchema, 'replaced'), ...errorResponses(400, 401, 413, 415, 429) },
});
const getRoute = createRoute({
  method: 'get',
  path: '/schedules/{name}',
  tags: tag('schedules'),
  summary: 'Get one schedule',
  request: { params: NameParam },
  responses: { 200: jsonResponse(ScheduleSchema, 'the schedule'), ...errorResponses(400, 401, 404, 429) },
});
const listRoute = createRoute({
  method: 'get',
  path: '/schedules',
  tags: tag('schedules'),
  summary: 'List schedules by name',
  request: { query: ListSchedulesQuery },
  responses: { 200: jsonResponse(ScheduleListSchema, 'one page'), ...errorResponses(400, 401, 429) },
});
const deleteRoute = createRoute({
  method: 'delete',
  path: '/schedules/{name}',
  tags: tag('schedules'),
  summary: 'Delete a schedule (no task is created for it once this returns)',
  request: { params: NameParam },
  responses: { 204: { description: 'deleted' }, ...errorResponses(400, 401, 404, 429) },
});
const pauseRoute = createRoute({
  method: 'post',
  path: '/schedules/{name}/pause',
  tags: tag('schedules'),
  summary: 'Pause: no occurrence fires until resumed',
  request: { params: NameParam },
  responses: { 200: jsonResponse(ScheduleSchema, 'the schedule'), ...errorResponses(400, 401, 404, 429) },
});
const resumeRoute = createRoute({
  method: 'post',
  path: '/schedules/{name}/resume',
  tags: tag('schedules'),
  summary: 'Resume: occurrences that fell due while paused follow the missed policy',
  request: { params: NameParam },
  responses: { 200: jsonResponse(ScheduleSchema, 'the schedule'), ...errorResponses(400, 401, 404, 429) },
});
const triggerRoute = createRoute({
  method: 'post',
  path: '/schedules/{name}/trigger',
  tags: tag('schedules'),
  summary: 'Create one task from the template now',
  request: { params: NameParam },
  responses: { 202: jsonResponse(TaskSchema, 'stored'), ...errorResponses(400, 401, 404, 429) },
});

/** Every schedule route, by operation: functions/functions.ts deploys each as its own function. */
export const scheduleRoutes = {
  putSchedule: putRoute,
  listSchedules: listRoute,
  getSchedule: getRoute,
  deleteSchedule: deleteRoute,
  pauseSchedule: pauseRoute,
  resumeSchedule: resumeRoute,
  triggerSchedule: triggerRoute,
} as const;

export interface ScheduleRouteDeps {
  schedules: ScheduleService;
  /** Which task types exist and how their payloads are checked (the handler registry). */
  handlers: Pick<HandlerRegistry, 'has' | 'options' | 'refreshTypes'>;
  config: Pick<Config, 'maxBodyBytes'>;
  bodyMemory: BodyMemory;
}

/**
 * Registers the schedule routes. Returns the app typed with those `app.openapi` registered:
 * lib/client/ builds its typed client from that type (`ScheduleRoutes`). PUT reads its own
 * body (registerWithOwnBody), so it is not in the type; the client types it by hand.
 */
export function registerScheduleRoutes(app: OpenAPIHono, deps: ScheduleRouteDeps) {
  const { schedules, handlers, config, bodyMemory } = deps;

  registerWithOwnBody(app, putRoute, async (c) => {
    const name = validate(NameParam, { name: c.req.param('name') }).name;
    const raw = await readJsonBody(c, config.maxBodyBytes, bodyMemory);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badRequest('request body must be a JSON object', 'invalid_json');
    const body = validateField(PutScheduleBody, raw);
    if (body.task.run_at !== undefined) {
      throw badRequest('task.run_at is not allowed in a schedule (use task.delay_seconds: the delay after each occurrence)', 'invalid_field');
    }
    const task = validateField(SubmitTaskBody, body.task, 'task');
    const type = task.type ?? 'simulate';
    await handlers.refreshTypes();
    if (!handlers.has(type)) throw badRequest(`task.type: unknown task type ${JSON.stringify(type)}`, 'unknown_type');
    try {
      handlers.options(type).validatePayload?.(task.payload);
    } catch (error) {
      // The same check as POST /tasks, its field named inside the template.
      throw error instanceof AppError ? new AppError(error.status, error.code, `task.${error.message}`) : error;
    }
    const { run_at: _runAt, ...template } = task;
    const { schedule, created } = await schedules.put(name, { cron: body.cron.trim(), timezone: body.timezone, missed: body.missed, paused: body.paused, task: template });
    return c.json(scheduleToJson(schedule), created ? 201 : 200);
  });

  return app
    .openapi(listRoute, async (c) => {
      const query = c.req.valid('query');
      const page = await schedules.list({ afterName: query.cursor, limit: query.limit + 1 });
      const items = page.slice(0, query.limit);
      const next = page.length > query.limit ? items[items.length - 1]!.name : null;
      return c.json({ count: items.length, schedules: items.map(scheduleToJson), next_cursor: next }, 200);
    })
    .openapi(getRoute, async (c) => c.json(scheduleToJson(await schedules.get(c.req.valid('param').name)), 200))
    .openapi(deleteRoute, async (c) => {
      await schedules.delete(c.req.valid('param').name);
      return c.body(null, 204);
    })
    .openapi(pauseRoute, async (c) => c.json(scheduleToJson(await schedules.pause(c.req.valid('param').name)), 200))
    .openapi(resumeRoute, async (c) => c.json(scheduleToJson(await schedules.resume(c.req.valid('param').name)), 200))
    .openapi(triggerRoute, async (c) => c.json(taskToJson(await schedules.trigger(c.req.valid('param').name)), 202));
}

/** The type of the app with the schedule routes, for hono/client (lib/client/). */
export type ScheduleRoutes = ReturnType<typeof registerScheduleRoutes>;

/**
 * The first issue as a 400 naming the field by its full path (`task.title is required`).
 * The task schema's messages start with the field's own name; they get the `task.` prefix.
 */
function validateField<S extends z.ZodType>(schema: S, input: unknown, prefix?: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  const own = issue.path.map(String).join('.');
  let message = issue.message;
  if (own && message.startsWith(own)) message = `${field}${message.slice(own.length)}`;
  else if (field && !message.startsWith(field)) message = `${field}: ${message}`;
  throw badRequest(message, 'invalid_field');
}
