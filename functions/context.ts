// HTTP only, not `@libsql/client/web` (HTTP + WebSocket): a WebSocket opened in one Workers
// request cannot serve the next, and leaving it out saves 4 KB gzipped.
import { createClient } from '@libsql/client/http';
import type { ClientAddress } from '../lib/api/client-identity.ts';
import { CONFIG_VARIABLES, ConfigError, loadConfig, redactUrl, type EnvRecord } from '../lib/config.ts';
import { createCore, type Core } from '../lib/core.ts';
import { ClientDriver } from '../lib/db/client-driver.ts';
import type { TaskHandler } from '../lib/processing/handlers.ts';
import { createLogger, type LogSink } from '../lib/log.ts';
import { pollOnce, pollOptionsFromConfig, type PollSummary } from '../lib/processing/poll.ts';
import { registerPollRoute } from '../lib/api/routes/poll.ts';
import { fireDueSchedules } from '../lib/schedules/service.ts';
import { pollRetentionBudgetMs, retentionPolicy, sweepFinishedTasks } from '../lib/tasks/retention.ts';

/**
 * Everything one function isolate needs, built from its env record on the first request and
 * kept for the isolate's life: one database client (HTTP to libSQL, so nothing is held open
 * between requests), one repository whose group commit batches concurrent requests, one app.
 * Nothing is built at import time: Workers forbid I/O outside a request, and a bad config
 * must surface as a logged 500, not a failed deploy-time import.
 */
export interface FunctionContext extends Core {
  workerId: string;
  /** One budgeted poll (lib/processing/poll.ts) with this isolate's worker id. */
  poll(): Promise<PollSummary>;
}

export interface FunctionContextOptions {
  /** Names the platform in logs and in `locked_by` (`workers:3f9a…`). */
  platform: string;
  /** Task types beyond the built-in `simulate`. */
  handlers?: Record<string, TaskHandler>;
  logSink?: LogSink;
  /** The peer address as the platform reports it (rate-limit identity; lib/api/client-identity.ts). */
  clientAddress?: ClientAddress;
}

/** What the HTTP libSQL client speaks (`libsql:` means HTTPS); `file:` needs Node's driver. */
const REMOTE_SCHEMES = ['libsql:', 'https:', 'http:'];

export function createFunctionContext(env: EnvRecord, options: FunctionContextOptions): FunctionContext {
  const config = loadConfig(env);
  if (!REMOTE_SCHEMES.some((scheme) => config.databaseUrl.startsWith(scheme))) {
    throw new ConfigError(
      `invalid DATABASE_URL=${JSON.stringify(redactUrl(config.databaseUrl))}: functions need a remote libSQL URL (${REMOTE_SCHEMES.join(', ')})`,
    );
  }
  // No host or pid on the edge: a random id per isolate keeps `locked_by` distinct.
  const workerId = `${options.platform}:${crypto.randomUUID().slice(0, 8)}`;
  const logger = createLogger(config.logLevel, options.logSink, { platform: options.platform });
  const client = createClient({ url: config.databaseUrl, authToken: config.databaseAuthToken });
  const driver = new ClientDriver(client, redactUrl(config.databaseUrl));
  const core = createCore({ config, logger, driver, handlers: options.handlers, clientAddress: options.clientAddress });
  const { repo, handlers, app } = core;
  const pollLogger = logger.child({ worker: workerId });
  const poll = async () => {
    // Whatever fell due since the last poll, however late the platform's cron is.
    await fireDueSchedules(core.schedules, pollLogger);
    // Old finished tasks, within a bounded share of the budget (lib/tasks/retention.ts).
    const options = pollOptionsFromConfig(config, workerId);
    const sweepStarted = Date.now();
    const swept = await sweepFinishedTasks(repo, retentionPolicy(config), { budgetMs: pollRetentionBudgetMs(options.budgetMs) });
    options.budgetMs -= Date.now() - sweepStarted;
    const summary = await pollOnce({ repo, handlers, config, logger: pollLogger }, options);
    if (swept.deleted > 0) pollLogger.info('finished tasks deleted', { ...swept });
    pollLogger.info('poll finished', { ...summary });
    return summary;
  };
  registerPollRoute(app, { cronSecret: config.cronSecret, runPoll: poll });
  return { ...core, workerId, poll };
}

/**
 * Platform bindings → an env record. Workers `vars` may be numbers or booleans
 * (`TASK_WORKERS = 5` in wrangler.toml); bindings that are objects (KV, secrets store) are not
 * configuration and are dropped.
 */
export function envRecordFrom(bindings: object): EnvRecord {
  const env: EnvRecord = {};
  for (const [name, value] of Object.entries(bindings)) {
    if (typeof value === 'string') env[name] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') env[name] = String(value);
  }
  return env;
}

/**
 * One context per distinct configuration, built on first use. Platforms hand every request
 * the same bindings, so in production this holds one entry; tests that run several
 * configurations in one process get one each.
 */
export function contextCache(options: FunctionContextOptions): (env: EnvRecord) => FunctionContext {
  const contexts = new Map<string, FunctionContext>();
  return (env) => {
    const key = JSON.stringify(CONFIG_VARIABLES.map((name) => env[name] ?? null));
    let context = contexts.get(key);
    if (!context) {
      context = createFunctionContext(env, options);
      contexts.set(key, context);
    }
    return context;
  };
}
