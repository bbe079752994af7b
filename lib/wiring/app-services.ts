import type { OpenAPIHono } from '../api/openapi-hono.ts';
import { createApp } from '../api/app.ts';
import { BodyMemory } from '../api/body-memory.ts';
import { requestFacts, type ClientAddress } from '../api/client-identity.ts';
import { HttpPayloadDoc } from '../delivery/index.ts';
import type { RateLimiter } from '../rate-limit/limiter.ts';
import type { RedisBackend } from '../rate-limit/select.ts';
import { ScheduleRepository } from '../schedules/repository.ts';
import { registerScheduleRoutes } from '../schedules/routes.ts';
import { ScheduleService, type ScheduleServiceHooks } from '../schedules/service.ts';
import { registerWorkflowRoutes } from '../workflows/routes.ts';
import { createTaskServices, type TaskServices, type TaskServicesOptions } from './task-services.ts';
import type { DashboardRegistrar } from '../ui/dashboard.tsx';

/**
 * The wiring the API's adapters share: the task core (task-services.ts: driver, repository,
 * handlers, service, workflows), schedules (lib/schedules/: service and routes), the workflow
 * routes (lib/workflows/routes.ts) and the HTTP app.
 * local/runtime.ts adds the pool and the poller; functions/context.ts adds the budgeted poll.
 */
export interface AppServicesOptions extends TaskServicesOptions {
  rateLimiter?: RateLimiter;
  /** The adapter's Redis connection (ioredis on Node), for the limits built here (the dashboard's). */
  redis?: RedisBackend;
  clientAddress?: ClientAddress;
  /** Schedules (lib/schedules/): the local adapter wakes its poller from these. */
  scheduleHooks?: ScheduleServiceHooks;
  /**
   * Mounts the dashboard at /ui (lib/ui/dashboard.tsx `registerDashboard`), injected so a
   * bundle that leaves it out carries none of it (the Workers `api` bundle: functions/).
   */
  dashboard?: DashboardRegistrar;
  /**
   * A full garbage collection, where the platform offers one (local/collect-garbage.ts): run
   * once large request bodies have all been answered (lib/api/body-memory.ts).
   */
  collectGarbage?: () => void;
}

export interface AppServices extends TaskServices {
  schedules: ScheduleService;
  app: OpenAPIHono;
}

export function createAppServices(options: AppServicesOptions): AppServices {
  const tasks = createTaskServices(options);
  const { config, logger, driver, handlers, service } = tasks;
  // A schedule's tasks are inserted by its own repository, not through `tasks.repo`, and may
  // carry a flow key: the task repository is told, so its next claim is the full one (its
  // keyless claim skips tasks with a key; TaskRepository.claimDueTasks). For every task a
  // fire or trigger creates, keyed or not: the hook knows only a count, and the cost is one
  // full claim after a fire. Before the adapter's hook, which wakes the local poller.
  const hooks: ScheduleServiceHooks = {
    ...options.scheduleHooks,
    onTasksCreated: (count) => {
      tasks.repo.noteFlowPending();
      options.scheduleHooks?.onTasksCreated?.(count);
    },
  };
  const schedules = new ScheduleService({ repo: new ScheduleRepository(driver), config, logger, hooks });
  const dashboard = options.dashboard && config.dashboardEnabled ? options.dashboard : undefined;
  const bodyMemory = new BodyMemory(config.maxBodyMemoryBytes, { afterLargeBodies: options.collectGarbage });
  const app = createApp({
    service, handlers, config, logger, bodyMemory, rateLimiter: options.rateLimiter, clientAddress: options.clientAddress,
    scheduleCounts: () => schedules.counts(),
    // The dashboard limits its pages itself, with a budget of its own (lib/ui/page-limit.ts).
    selfLimited: dashboard ? (path) => dashboard.owns(path) : undefined,
    runCounts: () => tasks.workflows.runCounts(),
  });
  // Registered after createApp's middleware (access control, rate limits, body memory) like its own routes.
  registerScheduleRoutes(app, { schedules, handlers, config, bodyMemory });
  registerWorkflowRoutes(app, { workflows: tasks.workflows, config, bodyMemory });
  app.openAPIRegistry.register('HttpPayload', HttpPayloadDoc);
  const core = { ...tasks, schedules, app };
  const request = requestFacts({ clientAddress: options.clientAddress, trustProxy: config.trustProxy });
  dashboard?.({ ...core, request, redis: options.redis }, schedules);
  return core;
}
