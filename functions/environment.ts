// HTTP only, not `@libsql/client/web` (HTTP + WebSocket): a WebSocket opened in one Workers
// request cannot serve the next, and leaving it out makes the bundle smaller.
import { createClient } from '@libsql/client/http';
import { Hono } from 'hono';
import { handleErrors } from '../lib/api/error-handler.ts';
import { CONFIG_VARIABLES, ConfigError, redactUrl, type Config, type EnvRecord } from '../lib/config/config.ts';
import { ClientDriver } from '../lib/db/client-driver.ts';
import type { SqlDriver } from '../lib/db/driver.ts';
import { AppError } from '../lib/foundation/errors.ts';
import { createLogger, type LogSink } from '../lib/foundation/log.ts';

/**
 * What every deployable function does with its platform's environment, whichever app it
 * serves (the API: context.ts; the dashboard: dashboard.ts): bindings to an env record, the
 * remote database, one built context per configuration, and the answer while the
 * configuration is invalid. Imports nothing of the API's routes, so the dashboard's Worker
 * carries none of them.
 */

/** What the HTTP libSQL client speaks (`libsql:` means HTTPS); `file:` needs Node's driver. */
const REMOTE_SCHEMES = ['libsql:', 'https:', 'http:'];

/** A function's database: the HTTP libSQL client for the configured remote URL. */
export function remoteDriver(config: Config): SqlDriver {
  if (!REMOTE_SCHEMES.some((scheme) => config.databaseUrl.startsWith(scheme))) {
    throw new ConfigError(
      `invalid DATABASE_URL=${JSON.stringify(redactUrl(config.databaseUrl))}: functions need a remote libSQL URL (${REMOTE_SCHEMES.join(', ')})`,
    );
  }
  const open = () => createClient({ url: config.databaseUrl, authToken: config.databaseAuthToken });
  // DATABASE_TIMEOUT_SECONDS bounds each statement here too: a fetch to a server that stopped
  // answering would otherwise hold the request (or the poll) until the platform kills it.
  return new ClientDriver(open(), redactUrl(config.databaseUrl), { timeoutMs: config.databaseTimeoutSeconds * 1000, reopen: open, packRows: true });
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
 * One value per distinct configuration, built on first use. Platforms hand every request the
 * same bindings, so in production this holds one entry; tests that run several
 * configurations in one process get one each.
 */
export function cacheByConfig<T>(build: (env: EnvRecord) => T): (env: EnvRecord) => T {
  const built = new Map<string, T>();
  return (env) => {
    const key = JSON.stringify(CONFIG_VARIABLES.map((name) => env[name] ?? null));
    let value = built.get(key);
    if (value === undefined) {
      value = build(env);
      built.set(key, value);
    }
    return value;
  };
}

/**
 * The answer while the configuration is invalid: a 500 in the API's JSON shape. The detail
 * (which variable) goes to the log only; it may quote a value, and values can be secrets.
 */
export function misconfigured(error: unknown, options: { platform: string; logSink?: LogSink }): Hono {
  const logger = createLogger('error', options.logSink, { platform: options.platform });
  logger.error('configuration is invalid', { error });
  const app = new Hono();
  app.all('*', () => {
    throw new AppError(500, 'misconfigured', 'the service is misconfigured (see the function logs)');
  });
  handleErrors(app, logger);
  return app;
}
