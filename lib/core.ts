import type { OpenAPIHono } from '@hono/zod-openapi';
import { createApp } from './api/app.ts';
import type { ClientAddress } from './api/client-identity.ts';
import type { Config } from './config.ts';
import type { SqlDriver } from './db/driver.ts';
import { GroupCommitDriver } from './db/group-commit.ts';
import { logStorageOutages } from './db/outage-log.ts';
import { registerHttpTask, HttpPayloadDoc, type HttpTransport } from './delivery/index.ts';
import { createHandlerRegistry, type HandlerRegistry, type TaskHandler } from './processing/handlers.ts';
import type { Logger } from './log.ts';
import type { RateLimiter } from './rate-limit/limiter.ts';
import { TaskRepository } from './tasks/repository.ts';
import { TaskService, type TaskServiceHooks } from './tasks/service.ts';
import { ScheduleRepository } from './schedules/repository.ts';
import { registerScheduleRoutes } from './schedules/routes.ts';
import { ScheduleService, type ScheduleServiceHooks } from './schedules/service.ts';
import type { DashboardRegistrar } from './ui/dashboard.tsx';

/**
 * The wiring every adapter shares: from a config and a database driver, the repository, the
 * handler registry (the built-in `simulate` plus the adapter's own), the task service and the
 * HTTP app, plus schedules (lib/schedules/: service and routes). local/runtime.ts adds the pool
 * and the poller; functions/context.ts adds the budgeted poll.
 */
export interface CoreOptions {
  config: Config;
  logger: Logger;
  driver: SqlDriver;
  /** Task types beyond `simulate`. */
  handlers?: Record<string, TaskHandler>;
  hooks?: TaskServiceHooks;
  rateLimiter?: RateLimiter;
  clientAddress?: ClientAddress;
  /** How `http` tasks send requests (lib/delivery/); default the platform's fetch. */
  httpTransport?: HttpTransport;
  /** Schedules (lib/schedules/): the local adapter wakes its poller from these. */
  scheduleHooks?: ScheduleServiceHooks;
  /**
   * Mounts the dashboard at /ui (lib/ui/dashboard.tsx `registerDashboard`), injected so a
   * bundle that leaves it out carries none of it (the Workers `api` bundle: functions/).
   */
  dashboard?: DashboardRegistrar;
}

export interface Core {
  config: Config;
  logger: Logger;
  driver: SqlDriver;
  repo: TaskRepository;
  handlers: HandlerRegistry;
  service: TaskService;
  schedules: ScheduleService;
  app: OpenAPIHono;
}

export function createCore(options: CoreOptions): Core {
  const { config, logger } = options;
  const driver = logStorageOutages(options.driver, logger);
  const repo = new TaskRepository(new GroupCommitDriver(driver));
  const handlers = createHandlerRegistry(config);
  registerHttpTask(handlers, config, options.httpTransport);
  for (const [type, handler] of Object.entries(options.handlers ?? {})) handlers.register(type, handler);
  const service = new TaskService(repo, config, logger, options.hooks);
  const schedules = new ScheduleService({ repo: new ScheduleRepository(driver), config, logger, hooks: options.scheduleHooks });
  const app = createApp({
    service, handlers, config, logger, rateLimiter: options.rateLimiter, clientAddress: options.clientAddress,
    scheduleCounts: () => schedules.counts(),
  });
  // Registered after createApp's middleware (access control, rate limits) like its own routes.
  registerScheduleRoutes(app, { schedules, handlers, config });
  app.openAPIRegistry.register('HttpPayload', HttpPayloadDoc);
  const core = { config, logger, driver, repo, handlers, service, schedules, app };
  options.dashboard?.(core, schedules);
  return core;
}
