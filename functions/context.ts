import type { ClientAddress } from '../lib/api/client-identity.ts';
import { loadConfig, type EnvRecord } from '../lib/config/config.ts';
import { createAppServices, type AppServices } from '../lib/wiring/app-services.ts';
import type { TaskHandler } from '../lib/processing/handlers.ts';
import { createLogger, type LogSink } from '../lib/foundation/log.ts';
import type { PollSummary } from '../lib/processing/deadline-poll.ts';
import { registerPollRoute } from '../lib/api/routes/cron-poll.ts';
import { cacheByConfig, remoteDriver } from './environment.ts';
import { pollWithinBudget } from '../lib/wiring/processing-cycle.ts';
import type { Workflow } from '../lib/workflows/define.ts';
import type { DashboardRegistrar } from '../lib/ui/dashboard.tsx';

/**
 * Everything one function isolate needs, built from its env record on the first request and
 * kept for the isolate's life: one database client (HTTP to libSQL, so nothing is held open
 * between requests), one repository whose group commit batches concurrent requests, one app.
 * Nothing is built at import time: Workers forbid I/O outside a request, and a bad config
 * must surface as a logged 500, not a failed deploy-time import.
 */
export interface FunctionContext extends AppServices {
  workerId: string;
  /** One budgeted poll of the processing cycle (lib/wiring/processing-cycle.ts) with this isolate's worker id. */
  poll(): Promise<PollSummary>;
}

export interface FunctionContextOptions {
  /** Names the platform in logs and in `locked_by` (`workers:3f9a…`). */
  platform: string;
  /** Task types beyond the built-in `simulate`. */
  handlers?: Record<string, TaskHandler>;
  /** Workflows (lib/workflows/), run by the same scheduled poll. */
  workflows?: readonly Workflow[];
  /**
   * The dashboard at /ui on the same app (lib/ui/dashboard.tsx `registerDashboard`), passed in
   * so that a bundle without it carries none of it.
   */
  dashboard?: DashboardRegistrar;
  logSink?: LogSink;
  /** The peer address as the platform reports it (rate-limit identity; lib/api/client-identity.ts). */
  clientAddress?: ClientAddress;
}

export function createFunctionContext(env: EnvRecord, options: FunctionContextOptions): FunctionContext {
  const config = loadConfig(env);
  const driver = remoteDriver(config);
  // No host or pid on the edge: a random id per isolate keeps `locked_by` distinct.
  const workerId = `${options.platform}:${crypto.randomUUID().slice(0, 8)}`;
  const logger = createLogger(config.logLevel, options.logSink, { platform: options.platform });
  const services = createAppServices({ config, logger, driver, handlers: options.handlers, workflows: options.workflows, clientAddress: options.clientAddress, dashboard: options.dashboard });
  const poll = () => pollWithinBudget(services, { workerId });
  registerPollRoute(services.app, { cronSecret: config.cronSecret, runPoll: poll });
  return { ...services, workerId, poll };
}

/** One context per distinct configuration, built on first use (environment.ts). */
export function contextCache(options: FunctionContextOptions): (env: EnvRecord) => FunctionContext {
  return cacheByConfig((env) => createFunctionContext(env, options));
}
