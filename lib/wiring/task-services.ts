import type { Config } from '../config/config.ts';
import type { SqlDriver } from '../db/driver.ts';
import { GroupCommitDriver } from '../db/group-commit.ts';
import { logStorageOutages } from '../db/outage-log.ts';
import { registerHttpTask, webTransport, type HttpTransport } from '../delivery/index.ts';
import type { Logger } from '../foundation/log.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { createHandlerRegistry, type HandlerRegistry, type TaskHandler } from '../processing/handlers.ts';
import { TaskRepository } from '../tasks/repository.ts';
import { TaskService, type TaskServiceHooks } from '../tasks/service.ts';
import type { Task } from '../tasks/model.ts';
import type { Workflow } from '../workflows/define.ts';
import { registerWorkflows } from '../workflows/engine.ts';
import { withRunMetrics } from '../workflows/metrics.ts';
import { WorkflowRepository } from '../workflows/repository.ts';
import { WorkflowService } from '../workflows/service.ts';
import { remoteTypes } from '../workflows/remote.ts';
import { RemoteWorkflowRepository, RemoteWorkflows } from '../workflows/remote-registry.ts';

/**
 * The part of the wiring that every deployable needs, HTTP API or not: from a config and a
 * database driver, the driver as the app reads it (storage outages logged once), the
 * repository over group commit, the handler registry (the built-in `simulate` and `http`
 * plus the adapter's own) and the task service. lib/wiring/app-services.ts adds the API and schedules; the
 * dashboard's own Worker (functions/dashboard.ts) adds only the dashboard, so it carries none
 * of the API's routes or croner.
 */
export interface TaskServicesOptions {
  config: Config;
  logger: Logger;
  driver: SqlDriver;
  /** Task types beyond `simulate` and `http`. */
  handlers?: Record<string, TaskHandler>;
  /** Workflows (lib/workflows/), each run as tasks of type `workflow:<name>`. */
  workflows?: readonly Workflow[];
  hooks?: TaskServiceHooks;
  /** How `http` tasks send requests (lib/delivery/); default the platform's fetch. */
  httpTransport?: HttpTransport;
  /** Counters and timings (local/metrics.ts on Node); dropped when absent. */
  metrics?: Metrics;
}

export interface TaskServices {
  config: Config;
  logger: Logger;
  /** The driver for reads (outages logged); writes go through `repo`'s group commit. */
  driver: SqlDriver;
  repo: TaskRepository;
  handlers: HandlerRegistry;
  service: TaskService;
  /** Workflow runs, steps and events (lib/workflows/). */
  workflows: WorkflowService;
  workflowRepo: WorkflowRepository;
}

export function createTaskServices(options: TaskServicesOptions): TaskServices {
  const { config, logger } = options;
  const driver = logStorageOutages(options.driver, logger);
  // One group commit for tasks and workflow steps: a run's step records share commits with
  // the completions around them.
  const writes = new GroupCommitDriver(driver);
  const repo = new TaskRepository(writes, { attemptsKept: config.attemptsKept });
  const handlers = createHandlerRegistry(config);
  registerHttpTask(handlers, config, options.httpTransport);
  for (const [type, handler] of Object.entries(options.handlers ?? {})) handlers.register(type, handler);
  // A run's end is counted from its task's reports (lib/workflows/metrics.ts).
  const metrics = options.metrics && withRunMetrics(options.metrics);
  const workflowRepo = new WorkflowRepository(writes);
  // Workflows served by an app (lib/workflows/remote.ts): registered in the database, so every
  // instance runs them; their type is resolved when a run is claimed, not registered here.
  const remote = new RemoteWorkflows(new RemoteWorkflowRepository(writes));
  // A child run is a task committed in this process, like a submit.
  const onChildStarted = (child: Task) => options.hooks?.onSubmitted?.(child);
  const registry = registerWorkflows(handlers, options.workflows ?? [], {
    repo: workflowRepo,
    config,
    logger,
    metrics,
    onChildStarted,
    isRemote: async (name) => (await remote.get(name)) !== undefined,
  });
  const resolver = remoteTypes({
    repo: workflowRepo,
    remote,
    config,
    transport: options.httpTransport ?? webTransport,
    logger,
    metrics,
    inProcess: (name) => registry.has(name),
    onChildStarted,
  });
  handlers.resolveWith(resolver);
  const service = new TaskService(repo, config, logger, options.hooks, { metrics });
  const workflows = new WorkflowService({
    tasks: service,
    taskRepo: repo,
    repo: workflowRepo,
    registry,
    metrics,
    remote: { workflows: remote, guard: resolver.guard, hasDefaultSecret: config.webhookSecrets.length > 0 },
  });
  return { config, logger, driver, repo, handlers, service, workflows, workflowRepo };
}
