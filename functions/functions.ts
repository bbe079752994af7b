import { OpenAPIHono } from '../lib/api/openapi-hono.ts';
import { handleErrors } from '../lib/api/error-handler.ts';
import { honoPath } from '../lib/api/openapi.ts';
import { pollRoute } from '../lib/api/routes/cron-poll.ts';
import { SYSTEM_ROUTES } from '../lib/api/routes/system.ts';
import { taskRoutes } from '../lib/api/routes/tasks.ts';
import { TYPE_ROUTES } from '../lib/api/routes/types.ts';
import type { EnvRecord } from '../lib/config/config.ts';
import type { PollSummary } from '../lib/processing/deadline-poll.ts';
import { contextCache, type FunctionContext, type FunctionContextOptions } from './context.ts';
import { misconfigured } from './environment.ts';
import { scheduleRoutes } from '../lib/schedules/routes.ts';
import { workflowRoutes } from '../lib/workflows/routes.ts';

/**
 * The deployable functions, Web-standard: `(Request, env) → Response`. `api` serves every
 * route; each operation also has its own function, so a platform that routes by path (Vercel
 * files, Netlify `config.path`) can deploy, size and scale them apart. An operation function
 * answers only its own method and path (else 404/405 JSON, like the API) and hands the
 * request to the same app, so validation, errors, logging and rate limiting are identical.
 *
 * `scheduledPoll` is for cron triggers that call code, not URLs (Workers `scheduled`,
 * EventBridge, Netlify scheduled functions): no HTTP, no secret.
 */
export type FetchHandler = (request: Request, env: EnvRecord) => Promise<Response>;

/** Each operation's route, as the app declares it (method and path written once, there). */
export const OPERATIONS = { ...taskRoutes, ...SYSTEM_ROUTES, poll: pollRoute, ...scheduleRoutes, ...TYPE_ROUTES, ...workflowRoutes } as const;

export type OperationName = keyof typeof OPERATIONS;

/** Every operation gets its own function from this table: a route added to a module's table needs no edit here. */
const OPERATION_NAMES = Object.keys(OPERATIONS) as OperationName[];

export type TaskPoolFunctions = Record<OperationName | 'api', FetchHandler> & {
  scheduledPoll(env: EnvRecord): Promise<PollSummary>;
  /** The isolate's context for this env (built on first call). */
  context(env: EnvRecord): FunctionContext;
};

/** `platform` names the deployment in logs and in `locked_by`; default `functions`. */
export type FunctionsOptions = Omit<FunctionContextOptions, 'platform'> & { platform?: string };

export function createFunctions(functionsOptions: FunctionsOptions = {}): TaskPoolFunctions {
  const options: FunctionContextOptions = { ...functionsOptions, platform: functionsOptions.platform ?? 'functions' };
  const contextFor = contextCache(options);
  const operationApps = new WeakMap<FunctionContext, Map<OperationName, OpenAPIHono>>();

  const serve = (env: EnvRecord, request: Request, pick: (context: FunctionContext) => OpenAPIHono): Promise<Response> => {
    let context: FunctionContext;
    try {
      context = contextFor(env);
    } catch (error) {
      return Promise.resolve(misconfigured(error, options).fetch(request));
    }
    return Promise.resolve(pick(context).fetch(request));
  };

  const operation = (name: OperationName): FetchHandler => (request, env) =>
    serve(env, request, (context) => {
      let apps = operationApps.get(context);
      if (!apps) operationApps.set(context, (apps = new Map()));
      let app = apps.get(name);
      if (!app) apps.set(name, (app = operationApp(context, name)));
      return app;
    });

  const operations = Object.fromEntries(OPERATION_NAMES.map((name) => [name, operation(name)])) as Record<OperationName, FetchHandler>;

  return {
    api: (request, env) => serve(env, request, (context) => context.app),
    ...operations,
    scheduledPoll: async (env) => contextFor(env).poll(),
    context: contextFor,
  };
}

function operationApp(context: FunctionContext, name: OperationName): OpenAPIHono {
  const route = OPERATIONS[name];
  const app = new OpenAPIHono();
  app.on(route.method.toUpperCase(), honoPath(route), (c) => context.app.fetch(c.req.raw));
  handleErrors(app, context.logger);
  return app;
}
