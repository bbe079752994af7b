import * as z from 'zod';
import { createRoute, type OpenAPIHono } from '../openapi-hono.ts';
import type { TypeStats } from '../../tasks/repository.ts';
import { STATUSES } from '../../tasks/states.ts';
import type { AppDeps } from '../deps.ts';
import { errorResponses, jsonResponse, tag } from '../openapi.ts';

/**
 * Task types: `GET /types` (per type: counts by status, paused, the oldest pending task's age)
 * and `POST /types/{type}/pause` / `resume`. A pause is a row in `paused_types`, which the
 * claim statement reads (lib/tasks/repository.ts): every process and function skips the
 * type's tasks from its next claim; submits are still accepted. Any type name may be paused,
 * registered in this process or not (workers elsewhere may have the handler), also before its
 * first task. A resume deletes the row: a type with neither tasks nor a handler here then
 * leaves `GET /types` (which lists registered types, types with tasks and paused types), so a
 * pause of a mistyped name is undone by its resume.
 */

const TypeSchema = z
  .object({
    type: z.string(),
    counts: z.object(Object.fromEntries(STATUSES.map((s) => [s, z.number().int()])) as Record<(typeof STATUSES)[number], z.ZodNumber>),
    paused: z.boolean(),
    paused_at: z.iso.datetime({ offset: false }).nullable(),
    oldest_pending_age_seconds: z.number().nullable(),
  })
  .openapi('TaskType');
const TypeListSchema = z.object({ count: z.number().int(), types: z.array(TypeSchema) }).openapi('TaskTypeList');
const PauseSchema = z.object({ type: z.string(), paused: z.boolean(), paused_at: z.iso.datetime({ offset: false }).nullable() }).openapi('TaskTypePause');

const TypeParam = z.object({
  type: z
    .string()
    .min(1, { error: 'type must not be empty' })
    .max(100, { error: 'type must be at most 100 characters' })
    .openapi({ param: { name: 'type', in: 'path' }, example: 'simulate' }),
});

const listRoute = createRoute({
  method: 'get',
  path: '/types',
  tags: tag('types'),
  summary: 'Task types: counts by status, paused or not, the oldest pending task',
  responses: { 200: jsonResponse(TypeListSchema, 'every registered type, every type with tasks, every paused type'), ...errorResponses(401, 429) },
});
const pauseRoute = createRoute({
  method: 'post',
  path: '/types/{type}/pause',
  tags: tag('types'),
  summary: 'Stop claiming tasks of this type, in every process and function (submits are still accepted)',
  request: { params: TypeParam },
  responses: { 200: jsonResponse(PauseSchema, 'paused'), ...errorResponses(400, 401, 429) },
});
const resumeRoute = createRoute({
  method: 'post',
  path: '/types/{type}/resume',
  tags: tag('types'),
  summary: 'Claim tasks of this type again (a type with no tasks and no handler then leaves GET /types)',
  request: { params: TypeParam },
  responses: { 200: jsonResponse(PauseSchema, 'resumed'), ...errorResponses(400, 401, 429) },
});

/** Operation name → route, for functions/functions.ts. */
export const TYPE_ROUTES = { listTypes: listRoute, pauseType: pauseRoute, resumeType: resumeRoute } as const;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function typeToJson(stats: TypeStats, now: number) {
  return {
    type: stats.type,
    counts: stats.counts,
    paused: stats.paused,
    paused_at: iso(stats.pausedAt),
    oldest_pending_age_seconds: stats.oldestPendingCreatedAt === null ? null : Math.max(0, (now - stats.oldestPendingCreatedAt) / 1000),
  };
}

/**
 * Registers the type routes. Returns the app typed with them: lib/client/ builds its typed
 * client from that type (`TypeRoutes`).
 */
export function registerTypeRoutes(app: OpenAPIHono, { service, handlers }: AppDeps) {
  return app
    .openapi(listRoute, async (c) => {
      await handlers.refreshTypes();
      const types = await service.types(handlers.types());
      const now = Date.now();
      return c.json({ count: types.length, types: types.map((t) => typeToJson(t, now)) }, 200);
    })
    .openapi(pauseRoute, async (c) => {
      const paused = await service.pauseType(c.req.valid('param').type);
      return c.json({ type: paused.type, paused: true, paused_at: iso(paused.pausedAt) }, 200);
    })
    .openapi(resumeRoute, async (c) => {
      const resumed = await service.resumeType(c.req.valid('param').type);
      return c.json({ type: resumed.type, paused: false, paused_at: null }, 200);
    });
}

/** The type of the app with the type routes, for hono/client (lib/client/). */
export type TypeRoutes = ReturnType<typeof registerTypeRoutes>;
