import type { OpenAPIHono } from '@hono/zod-openapi';
import { createApp } from './api/app.ts';
import type { ClientAddress } from './api/client-identity.ts';
import type { Config } from './config.ts';
import type { SqlDriver } from './db/driver.ts';
import { GroupCommitDriver } from './db/group-commit.ts';
import { createHandlerRegistry, type HandlerRegistry, type TaskHandler } from './processing/handlers.ts';
import type { Logger } from './log.ts';
import type { RateLimiter } from './rate-limit/limiter.ts';
import { TaskRepository } from './tasks/repository.ts';
import { TaskService, type TaskServiceHooks } from './tasks/service.ts';
import type { DashboardRegistrar } from './ui/dashboard.tsx';
import type { ScheduleSummaryProvider } from './ui/schedules.ts';

/**
 * The wiring every adapter shares: from a config and a database driver, the repository, the
 * handler registry (the built-in `simulate` plus the adapter's own), the task service and the
 * HTTP app. local/runtime.ts adds the pool and the poller; functions/context.ts adds the
 * budgeted poll.
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
  /**
   * Mounts the dashboard at /ui (lib/ui/dashboard.tsx `registerDashboard`), injected so a
   * bundle that leaves it out carries none of it (the Workers `api` bundle: functions/).
   */
  dashboard?: DashboardRegistrar;
  /** Cron schedules for the dashboard's overview, when the deployment has them. */
  schedules?: ScheduleSummaryProvider;
}

export interface Core {
  config: Config;
  logger: Logger;
  driver: SqlDriver;
  repo: TaskRepository;
  handlers: HandlerRegistry;
  service: TaskService;
  app: OpenAPIHono;
}

export function createCore(options: CoreOptions): Core {
  const { config, logger, driver } = options;
  const repo = new TaskRepository(new GroupCommitDriver(driver));
  const handlers = createHandlerRegistry(config);
  for (const [type, handler] of Object.entries(options.handlers ?? {})) handlers.register(type, handler);
  const service = new TaskService(repo, config, logger, options.hooks);
  const app = createApp({ service, handlers, config, logger, rateLimiter: options.rateLimiter, clientAddress: options.clientAddress });
  const core = { config, logger, driver, repo, handlers, service, app };
  options.dashboard?.(core, options.schedules);
  return core;
}
