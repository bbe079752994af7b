import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { loadConfig, type Config, type EnvRecord } from '../lib/config/config.ts';
import { createAppServices, type AppServices } from '../lib/wiring/app-services.ts';
import { registerDashboard } from '../lib/ui/dashboard.tsx';
import type { TaskHandler } from '../lib/processing/handlers.ts';
import { createLogger, type LogSink } from '../lib/foundation/log.ts';
import { StopReason } from '../lib/processing/outcome.ts';
import { Poller } from '../lib/processing/poller.ts';
import { processTask, releaseTasks } from '../lib/processing/process-task.ts';
import { WorkerPool } from '../lib/processing/worker-pool.ts';
import { ScheduleFirer } from '../lib/schedules/firing.ts';
import type { NewTask, Task } from '../lib/tasks/model.ts';
import { retentionPolicy, RetentionSweeper } from '../lib/tasks/retention.ts';
import { nodeClientAddress } from './client-address.ts';
import { guardFromConfig } from '../lib/delivery/guard.ts';
import { guardedTransport } from './http-transport.ts';
import { openDatabase } from './database.ts';
import { createIoredisRateLimiter } from './redis-rate-limit.ts';
import { PromMetrics } from './metrics.ts';
import { registerNodeRoutes } from './node-routes.ts';
import { StatusRereads } from './shared-rereads.ts';

/** Names the process holding a lease: host, pid and a random suffix (pids get reused). */
export function makeWorkerId(): string {
  return `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 6)}`;
}

export interface RuntimeOptions {
  env?: EnvRecord;
  config?: Config;
  /** Extra handlers by type, on top of the built-in `simulate`. */
  handlers?: Record<string, TaskHandler>;
  logSink?: LogSink;
  /** Run the pool and poller (serve, worker). Off for an API-only process. */
  processing?: boolean;
  fileDriver?: 'native' | 'client';
}

/**
 * Everything a local process runs, wired once: database, repository, service, handlers,
 * pool and poller, and the Hono app. `serve` adds an HTTP server; `worker` does not.
 */
export interface Runtime extends AppServices {
  /** The prom-client metrics behind `GET /metrics`; absent when METRICS_ENABLED=false. */
  metrics?: PromMetrics;
  pool: WorkerPool;
  poller: Poller;
  workerId: string;
  retention: RetentionSweeper;
  /** Starts the poller (no-op when processing is off). */
  start(): void;
  /** Stops polling, drains the pool within SHUTDOWN_TIMEOUT_SECONDS, releases, closes. */
  shutdown(): Promise<void>;
}

export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const config = options.config ?? loadConfig(options.env ?? process.env);
  const logger = createLogger(config.logLevel, options.logSink);
  const driver = await openDatabase({ url: config.databaseUrl, authToken: config.databaseAuthToken, fileDriver: options.fileDriver });
  const processing = options.processing ?? true;
  // REDIS_URL: ioredis, which only Node has; without it lib/api/access-control.ts builds the
  // limiter from config (Upstash REST or memory).
  const redisRateLimit = config.redisUrl ? createIoredisRateLimiter({ ...config, redisUrl: config.redisUrl }, logger) : undefined;
  // A task committed by this process (a submit, a retry, a follow-up) wakes the poller when due.
  const wakeFor = (task: Pick<Task, 'runAt'>) => (task.runAt <= Date.now() ? poller.wakeForSubmit() : poller.wakeAt(task.runAt));
  const metrics = config.metricsEnabled ? new PromMetrics({ refreshSeconds: config.metricsRefreshSeconds, logger }) : undefined;
  const core = createAppServices({
    config,
    logger,
    driver,
    metrics,
    handlers: options.handlers,
    rateLimiter: redisRateLimit?.limiter,
    clientAddress: nodeClientAddress,
    httpTransport: guardedTransport(guardFromConfig(config)),
    dashboard: registerDashboard,
    hooks: {
      onSubmitted: processing ? wakeFor : undefined,
      onCancelled: (task) => pool.abort(task.id, new StopReason('cancelled', 'task was cancelled')),
      onResumed: processing ? () => poller.wake() : undefined,
    },
    scheduleHooks: processing ? { onChanged: (schedule) => scheduleFirer.changed(schedule), onTasksCreated: () => poller.wake() } : undefined,
  });
  const { repo } = core;
  registerNodeRoutes(core.app, { config, service: core.service, metrics });
  // `?wait=` requests re-read what other processes wrote in one query per 250 ms.
  core.service.events.sharedRereads = new StatusRereads(core.service.events, (ids) => repo.statuses(ids), 250);
  const workerId = makeWorkerId();
  const processDeps = {
    repo,
    handlers: core.handlers,
    config,
    logger: logger.child({ worker: workerId }),
    onFollowUps: (tasks: NewTask[]) => tasks.forEach(wakeFor),
    metrics,
    events: core.service.events,
  };

  const pool: WorkerPool = new WorkerPool({
    workers: config.workers,
    queueSize: config.queueSize,
    logger,
    run: (task, control) => processTask(processDeps, task, control),
    onSlotFree: () => poller.slotFreed(),
  });
  const poller: Poller = new Poller({
    repo,
    pool,
    workerId,
    batchSize: config.pollBatchSize,
    leaseMs: config.leaseSeconds * 1000,
    logger,
    beforePoll: () => scheduleFirer.fireIfDue(),
  });
  // Due schedules fire at the start of each poll; the poller wakes at the next occurrence.
  const scheduleFirer: ScheduleFirer = new ScheduleFirer({
    schedules: core.schedules,
    logger,
    wakeAt: (time) => poller.wakeAt(time),
    recheckMs: config.pollIntervalSeconds * 1000,
  });

  // Old finished tasks are deleted on the poll interval, in bounded batches (lib/tasks/retention.ts).
  const retention = new RetentionSweeper({ repo, policy: retentionPolicy(config), logger });

  let shutdownPromise: Promise<void> | undefined;
  return {
    ...core,
    metrics,
    pool,
    poller,
    workerId,
    retention,
    start: () => {
      if (!processing) return;
      poller.start(config.pollIntervalSeconds * 1000);
      retention.start(config.pollIntervalSeconds * 1000);
    },
    shutdown: () =>
      (shutdownPromise ??= (async () => {
        const inFlight = await poller.stop();
        await retention.stop();
        const unstarted = await pool.drain(config.shutdownTimeoutSeconds * 1000);
        await releaseTasks(repo, [...inFlight, ...unstarted], logger);
        await core.service.closeWaits();
        // Let those answers reach their sockets before the server drops its connections.
        await new Promise((resolve) => setImmediate(resolve));
        await redisRateLimit?.limiter.close();
        await driver.close();
      })()),
  };
}

/** Loads `--handlers <module>`: a module exporting `handlers: Record<type, TaskHandler>`. */
export async function loadHandlersModule(path: string): Promise<Record<string, TaskHandler>> {
  const mod = (await import(pathToFileURL(resolve(path)).href)) as { handlers?: Record<string, TaskHandler> };
  if (!mod.handlers || typeof mod.handlers !== 'object') {
    throw new Error(`${path} must export \`handlers\`: an object mapping task type to an async function`);
  }
  return mod.handlers;
}
