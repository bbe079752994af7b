import { Hono } from 'hono';
import { applyAccessControl } from '../lib/api/access-control.ts';
import { requestFacts, type ClientAddress } from '../lib/api/client-identity.ts';
import { handleErrors } from '../lib/api/error-handler.ts';
import { loadConfig, type EnvRecord } from '../lib/config/config.ts';
import { createLogger, type LogSink } from '../lib/foundation/log.ts';
import type { TaskHandler } from '../lib/processing/handlers.ts';
import { ScheduleRepository } from '../lib/schedules/repository.ts';
import { ScheduleControls } from '../lib/schedules/controls.ts';
import type { Workflow } from '../lib/workflows/define.ts';
import { createTaskServices } from '../lib/wiring/task-services.ts';
import { registerDashboard } from '../lib/ui/dashboard.tsx';
import { cacheByConfig, misconfigured, remoteDriver } from './environment.ts';

/**
 * The dashboard (/ui, and / redirecting there) as a function of its own. It is built from the
 * task core alone (lib/wiring/task-services.ts: the same repository, handler registry, task and
 * workflow services as the API, so its forms' actions run the same code) and the schedule
 * controls (lib/schedules/controls.ts, without croner), on a small app with the API's access
 * control and error path. It carries none of the API's routes or OpenAPI generation: with them
 * one Worker came out over the budget (docs/dashboard.md, "On Cloudflare Workers").
 */
export interface DashboardFunctionOptions {
  /** Names the platform in logs. */
  platform: string;
  /** Task types beyond the built-in ones (the type filter lists them). */
  handlers?: Record<string, TaskHandler>;
  /** The workflows the deployment runs (the Workflows page lists them; runs of others are still shown). */
  workflows?: readonly Workflow[];
  logSink?: LogSink;
  /** The peer address as the platform reports it (rate-limit identity). */
  clientAddress?: ClientAddress;
}

export function createDashboardFunction(options: DashboardFunctionOptions): (request: Request, env: EnvRecord) => Promise<Response> {
  const appFor = cacheByConfig((env) => {
    const config = loadConfig(env);
    const logger = createLogger(config.logLevel, options.logSink, { platform: options.platform });
    const core = createTaskServices({ config, logger, driver: remoteDriver(config), handlers: options.handlers, workflows: options.workflows });
    const app = new Hono();
    // The dashboard's paths have their own page limit (lib/ui/page-limit.ts); any other path
    // of this Worker counts against the API's.
    applyAccessControl(app, { config, logger, clientAddress: options.clientAddress, selfLimited: registerDashboard.owns });
    const request = requestFacts({ clientAddress: options.clientAddress, trustProxy: config.trustProxy });
    registerDashboard({ ...core, app, request }, new ScheduleControls({ repo: new ScheduleRepository(core.driver), config, logger }));
    handleErrors(app, logger);
    return app;
  });
  return async (request, env) => {
    let app: Hono;
    try {
      app = appFor(env);
    } catch (error) {
      return misconfigured(error, options).fetch(request);
    }
    return app.fetch(request);
  };
}
