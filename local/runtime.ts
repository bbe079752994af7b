import { hostname } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { loadConfig, type Config, type EnvRecord } from '../lib/config/config.ts';
import { guardFromConfig } from '../lib/delivery/guard.ts';
import { createLogger, type LogSink } from '../lib/foundation/log.ts';
import type { TaskHandler } from '../lib/processing/handlers.ts';
import type { Poller } from '../lib/processing/poller.ts';
import type { WorkerPool } from '../lib/processing/worker-pool.ts';
import type { RetentionSweeper } from '../lib/tasks/retention.ts';
import { registerDashboard } from '../lib/ui/dashboard.tsx';
import type { AppServices } from '../lib/wiring/app-services.ts';
import type { Workflow } from '../lib/workflows/define.ts';
import { createServicesWithLoop, type ProcessingLoop } from '../lib/wiring/processing-cycle.ts';
import { nodeClientAddress } from './client-address.ts';
import { garbageCollector } from './collect-garbage.ts';
import { openDatabase } from './database.ts';
import { guardedTransport } from './http-transport.ts';
import { PromMetrics } from './metrics.ts';
import { registerNodeRoutes } from './node-routes.ts';
import { createIoredisBackend } from './redis-rate-limit.ts';
import { createRateLimiter } from '../lib/rate-limit/select.ts';
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
  /** Workflows (lib/workflows/). */
  workflows?: readonly Workflow[];
  logSink?: LogSink;
  /** Run the pool and poller (serve, worker). Off for an API-only process. */
  processing?: boolean;
  fileDriver?: 'native' | 'client';
}

/** Everything a local process runs. `serve` adds an HTTP server; `worker` does not. */
export interface Runtime extends AppServices {
  /** The prom-client metrics behind `GET /metrics`; absent when METRICS_ENABLED=false. */
  metrics?: PromMetrics;
  /** The processing cycle of this process (lib/wiring/processing-cycle.ts). */
  loop: ProcessingLoop;
  pool: WorkerPool;
  poller: Poller;
  workerId: string;
  retention: RetentionSweeper;
  /** Starts the processing loop (no-op when processing is off). */
  start(): void;
  /** Stops polling, drains the pool within SHUTDOWN_TIMEOUT_SECONDS, releases, closes. */
  shutdown(): Promise<void>;
}

/**
 * The Node adapter's part: the native file driver, Prometheus metrics, ioredis, the undici
 * transport, the dashboard and Node-only routes. The services and the processing loop are
 * the core's (lib/wiring/).
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const config = options.config ?? loadConfig(options.env ?? process.env);
  const logger = createLogger(config.logLevel, options.logSink);
  const driver = await openDatabase({
    url: config.databaseUrl,
    authToken: config.databaseAuthToken,
    fileDriver: options.fileDriver,
    transport: config.databaseTransport,
    timeoutMs: config.databaseTimeoutSeconds * 1000,
    logger,
  });
  const processing = options.processing ?? true;
  // REDIS_URL: ioredis, which only Node has, for the API's limit and the dashboard's; without
  // it lib/ builds the limiters from config (Upstash REST or memory).
  const redis = config.redisUrl ? createIoredisBackend({ ...config, redisUrl: config.redisUrl }, logger) : undefined;
  const shared = redis && { backend: redis.backend, client: redis.client };
  const metrics = config.metricsEnabled ? new PromMetrics({ refreshSeconds: config.metricsRefreshSeconds, logger }) : undefined;
  const workerId = makeWorkerId();
  const { services, loop } = createServicesWithLoop({
    config,
    logger,
    driver,
    metrics,
    workerId,
    processing,
    handlers: options.handlers,
    workflows: options.workflows,
    rateLimiter: shared && createRateLimiter(config, logger, shared),
    redis: shared,
    clientAddress: nodeClientAddress,
    httpTransport: guardedTransport(guardFromConfig(config)),
    dashboard: registerDashboard,
    collectGarbage: garbageCollector(),
  });
  registerNodeRoutes(services.app, { config, service: services.service, metrics });
  // `?wait=` requests re-read what other processes wrote in one query per 250 ms.
  services.service.events.sharedRereads = new StatusRereads(services.service.events, (ids) => services.repo.statuses(ids), 250);

  let shutdownPromise: Promise<void> | undefined;
  return {
    ...services,
    metrics,
    loop,
    pool: loop.pool,
    poller: loop.poller,
    workerId,
    retention: loop.retention,
    start: () => {
      if (processing) loop.start();
    },
    shutdown: () =>
      (shutdownPromise ??= (async () => {
        await loop.stop(config.shutdownTimeoutSeconds * 1000);
        await services.service.closeWaits();
        // Let those answers reach their sockets before the server drops its connections.
        await new Promise((resolve) => setImmediate(resolve));
        redis?.redis.disconnect();
        await driver.close();
      })()),
  };
}

/**
 * Loads `--handlers <module>`: a module exporting `handlers` (task type → async function),
 * `workflows` (an array of defineWorkflow(...) results), or both. A TypeScript module is
 * loaded through tsx, registered only then: the package runs as built JavaScript, and a
 * JavaScript handlers module needs no loader.
 */
export async function loadHandlersModule(path: string): Promise<{ handlers?: Record<string, TaskHandler>; workflows?: Workflow[] }> {
  if (TYPESCRIPT_FILE.test(path)) await registerTypeScript();
  const mod = (await import(pathToFileURL(resolve(path)).href)) as { handlers?: unknown; workflows?: unknown };
  if (mod.handlers !== undefined && (typeof mod.handlers !== 'object' || mod.handlers === null)) {
    throw new Error(`${path}: \`handlers\` must be an object mapping task type to an async function`);
  }
  if (mod.workflows !== undefined && !Array.isArray(mod.workflows)) {
    throw new Error(`${path}: \`workflows\` must be an array of defineWorkflow(...) results`);
  }
  if (mod.handlers === undefined && mod.workflows === undefined) {
    throw new Error(`${path} must export \`handlers\` (task type → async function) or \`workflows\` (defineWorkflow(...) results)`);
  }
  return { handlers: mod.handlers as Record<string, TaskHandler> | undefined, workflows: mod.workflows as Workflow[] | undefined };
}

const TYPESCRIPT_FILE = /\.[cm]?tsx?$/;
let typeScriptRegistered = false;

/**
 * tsx's loaders for ESM and CommonJS (a handlers module in a project without `"type": "module"`
 * is CommonJS). Not when this module is itself TypeScript: then the repository's source runs
 * under tsx already (`npm start`, local/bin.mjs), and a second registration would compile
 * every file twice.
 */
async function registerTypeScript(): Promise<void> {
  if (typeScriptRegistered || TYPESCRIPT_FILE.test(fileURLToPath(import.meta.url))) return;
  typeScriptRegistered = true;
  const [esm, cjs] = await Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]);
  cjs.register();
  esm.register();
}
