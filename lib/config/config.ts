import * as z from 'zod';
import { parseTrustProxy } from './trust-proxy.ts';
import { LEVEL_NAMES, type LogLevel } from '../foundation/log.ts';
import { isWebhookSecret, parseAllowedHosts, parseDuration } from './parsers.ts';

/**
 * Configuration from an env record (the process environment on Node, bindings on Workers). lib/ never
 * reads the global environment itself. Every variable, its default and its bounds are declared once here;
 * `.env.example` and docs/configuration.md list the same table.
 */
export type EnvRecord = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const int = (min: number, max: number) =>
  z.coerce
    .number({ error: `must be an integer from ${min} to ${max}` })
    .int({ error: `must be an integer from ${min} to ${max}` })
    .min(min, { error: `must be an integer from ${min} to ${max}` })
    .max(max, { error: `must be an integer from ${min} to ${max}` });

const seconds = (min: number, max: number) =>
  z.coerce
    .number({ error: `must be a number of seconds from ${min} to ${max}` })
    .min(min, { error: `must be a number of seconds from ${min} to ${max}` })
    .max(max, { error: `must be a number of seconds from ${min} to ${max}` });


const trustProxy = z.string().transform((value, ctx) => {
  try {
    return parseTrustProxy(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
    return z.NEVER;
  }
});

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' }).transform((v) => ['true', '1', 'yes'].includes(v));

const url = (schemes: string[]) =>
  z.string().refine((v) => schemes.some((s) => v.startsWith(`${s}:`)) && URL.canParse(v), {
    error: `must be a URL (${schemes.map((s) => `${s}:`).join(', ')})`,
  });

/** `36h`, `7d`, `90m`, `30s`, `500ms` → milliseconds; `0` means forever (kept). */
const duration = z.string().transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration like 36h, 7d, 90m or 30s (0 keeps forever)' });
    return z.NEVER;
  }
  return ms;
});

/**
 * Every variable once: its name in the environment, its field in `Config`, and its schema with
 * the default. Order is the order of `.env.example`. `Config` is derived from this table, so a
 * new variable is one line here (and one in `.env.example`).
 */
const VARIABLES = {
  APP_HOST: ['host', z.string().min(1).default('127.0.0.1')],
  APP_PORT: ['port', int(0, 65535).default(8080)],
  TASK_WORKERS: ['workers', int(1, 1000).default(5)],
  TASK_QUEUE_SIZE: ['queueSize', int(0, 100_000).default(10)],
  TASK_POLL_INTERVAL_SECONDS: ['pollIntervalSeconds', seconds(0.01, 3600).default(5)],
  TASK_POLL_BATCH_SIZE: ['pollBatchSize', int(1, 10_000).default(10)],
  TASK_LEASE_SECONDS: ['leaseSeconds', seconds(1, 86_400).default(30)],
  TASK_MAX_ATTEMPTS: ['maxAttempts', int(1, 1000).default(3)],
  TASK_TIMEOUT_SECONDS: ['timeoutSeconds', seconds(0.01, 86_400).default(300)],
  TASK_MAX_PENDING: ['maxPending', int(0, 1_000_000_000).default(0)],
  TASK_BACKOFF_BASE_MS: ['backoffBaseMs', int(0, 86_400_000).default(1000)],
  TASK_BACKOFF_MAX_MS: ['backoffMaxMs', int(0, 86_400_000).default(300_000)],
  // Attempts that did not complete, kept per task (the newest; lib/tasks/attempts.ts); 0 keeps none.
  TASK_ATTEMPTS_KEPT: ['attemptsKept', int(0, 1000).default(20)],
  SIMULATE_MIN_MS: ['simulateMinMs', int(0, 3_600_000).default(1000)],
  SIMULATE_MAX_MS: ['simulateMaxMs', int(0, 3_600_000).default(5000)],
  // DATABASE_URL wins over the seed's DATABASE_DSN; both become `databaseUrl` (loadConfig).
  DATABASE_DSN: ['databaseDsn', z.string().min(1).optional()],
  DATABASE_URL: ['databaseUrlSetting', z.string().min(1).optional()],
  DATABASE_AUTH_TOKEN: ['databaseAuthToken', z.string().optional()],
  // How the Node process reaches a remote libSQL server (local/remote-transport.ts): `auto`
  // tries a WebSocket and falls back to HTTP when the server or a proxy refuses the upgrade;
  // functions always use HTTP (functions/environment.ts). Ignored for files.
  DATABASE_TRANSPORT: ['databaseTransport', z.enum(['auto', 'ws', 'http'], { error: 'must be auto, ws or http' }).default('auto')],
  // A remote statement with no answer after this long fails as "database unavailable" and its
  // connection is replaced (lib/db/client-driver.ts): a half-open socket never hangs the pool.
  DATABASE_TIMEOUT_SECONDS: ['databaseTimeoutSeconds', seconds(0.1, 3600).default(30)],
  SHUTDOWN_TIMEOUT_SECONDS: ['shutdownTimeoutSeconds', seconds(0, 3600).default(20)],
  POLL_BUDGET_SECONDS: ['pollBudgetSeconds', seconds(0.1, 900).default(25)],
  MAX_BODY_BYTES: ['maxBodyBytes', int(256, 100 * 1024 * 1024).default(65_536)],
  // Bytes of request bodies held at once, all requests together, until each is answered; beyond it 503 (lib/api/body-memory.ts).
  MAX_BODY_MEMORY_BYTES: ['maxBodyMemoryBytes', int(1, 2 ** 40).default(32 * 1024 * 1024)],
  // Node server limits (local/http-server.ts): slow or idle clients, open sockets.
  SERVER_HEADERS_TIMEOUT_SECONDS: ['serverHeadersTimeoutSeconds', seconds(0.1, 3600).default(10)],
  SERVER_REQUEST_TIMEOUT_SECONDS: ['serverRequestTimeoutSeconds', seconds(0.1, 3600).default(30)],
  SERVER_KEEP_ALIVE_TIMEOUT_SECONDS: ['serverKeepAliveTimeoutSeconds', seconds(0.1, 3600).default(5)],
  SERVER_MAX_CONNECTIONS: ['serverMaxConnections', int(1, 1_000_000).default(1024)],
  SERVER_MAX_CONNECTIONS_PER_ADDRESS: ['serverMaxConnectionsPerAddress', int(1, 1_000_000).default(256)],
  RATE_LIMIT_PER_MINUTE: ['rateLimitPerMinute', int(0, 10_000_000).default(60)],
  RATE_LIMIT_PREFIX: ['rateLimitPrefix', z.string().min(1).default('task-pool')],
  RATE_LIMIT_TIMEOUT_MS: ['rateLimitTimeoutMs', int(1, 60_000).default(200)],
  // REDIS_URL wins over REDIS_HOST/REDIS_PORT; they become `redisUrl` (loadConfig).
  REDIS_URL: ['redisUrlSetting', url(['redis', 'rediss']).optional()],
  REDIS_HOST: ['redisHost', z.string().min(1).optional()],
  REDIS_PORT: ['redisPort', int(1, 65535).default(6379)],
  UPSTASH_REDIS_REST_URL: ['upstashUrl', url(['http', 'https']).optional()],
  UPSTASH_REDIS_REST_TOKEN: ['upstashToken', z.string().optional()],
  API_TOKEN: ['apiToken', z.string().min(16, { error: 'must be at least 16 characters' }).optional()],
  CRON_SECRET: ['cronSecret', z.string().min(16, { error: 'must be at least 16 characters' }).optional()],
  TRUST_PROXY: ['trustProxy', trustProxy.default(false)],
  LOG_LEVEL: ['logLevel', z.enum(LEVEL_NAMES, { error: `must be one of ${LEVEL_NAMES.join(', ')}` }).default('info')],
  // `http` tasks (lib/delivery/): SSRF guard, response size, redirects, per-host limit, signing.
  HTTP_ALLOW_PRIVATE_NETWORKS: ['httpAllowPrivateNetworks', bool.default(false)],
  HTTP_ALLOWED_HOSTS: [
    'httpAllowedHosts',
    z
      .string()
      .refine((v) => v.split(',').every((h) => /^(\*\.)?[A-Za-z0-9._:[\]-]+$/.test(h.trim()) || h.trim() === ''), {
        error: 'must be a comma-separated list of host names, IP addresses or *.suffix patterns',
      })
      .optional()
      .transform(parseAllowedHosts),
  ],
  HTTP_MAX_RESPONSE_BYTES: ['httpMaxResponseBytes', int(0, 100 * 1024 * 1024).default(65_536)],
  HTTP_FOLLOW_REDIRECTS: ['httpFollowRedirects', int(0, 20).default(0)],
  HTTP_MAX_PER_HOST: ['httpMaxPerHost', int(1, 10_000).default(10)],
  // `whsec_…` secrets, newest first; every request is signed with each (rotation).
  WEBHOOK_SECRET: [
    'webhookSecrets',
    z
      .string()
      .refine((v) => v.split(',').every((s) => isWebhookSecret(s.trim())), {
        error: 'must be one or more comma-separated whsec_ secrets (base64 of 24 to 64 bytes after the prefix)',
      })
      .optional()
      .transform((v) => (v ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')),
  ],
  // Missed policy `all`: at most this many missed occurrences get a task (lib/schedules/).
  SCHEDULE_MAX_CATCHUP: ['scheduleMaxCatchup', int(1, 10_000).default(100)],
  // The dashboard at /ui (lib/ui/): served at all, actions allowed, session length, page views
  // per client and minute (its own budget, apart from the API's; 0 = off).
  DASHBOARD_ENABLED: ['dashboardEnabled', bool.default(true)],
  DASHBOARD_READ_ONLY: ['dashboardReadOnly', bool.default(false)],
  DASHBOARD_SESSION_HOURS: ['dashboardSessionHours', int(1, 720).default(12)],
  DASHBOARD_RATE_LIMIT_PER_MINUTE: ['dashboardRateLimitPerMinute', int(0, 10_000_000).default(300)],
  // `GET /metrics` on the Node server (local/metrics.ts); its token defaults to API_TOKEN; the
  // database gauges are read at most once per METRICS_REFRESH_SECONDS, however often scraped.
  METRICS_ENABLED: ['metricsEnabled', bool.default(true)],
  METRICS_TOKEN: ['metricsToken', z.string().min(16, { error: 'must be at least 16 characters' }).optional()],
  METRICS_REFRESH_SECONDS: ['metricsRefreshSeconds', seconds(0, 3600).default(10)],
  // A batch is one transaction (lib/tasks/repository.ts insertMany): bounded so one request
  // holds the write lock for tens of milliseconds, not seconds.
  MAX_BATCH_TASKS: ['maxBatchTasks', int(1, 10_000).default(1000)],
  // Finished tasks are deleted this long after they finished; 0 keeps them (lib/tasks/retention.ts).
  TASK_RETENTION_COMPLETED: ['retentionCompletedMs', duration.prefault('7d')],
  TASK_RETENTION_FAILED: ['retentionFailedMs', duration.prefault('30d')],
  // Workflows (lib/workflows/): a step's recorded output, steps per run, how long events wait
  // for a run to reach its waitForEvent.
  WORKFLOW_MAX_STEP_BYTES: ['workflowMaxStepBytes', int(1024, 100 * 1024 * 1024).default(1_048_576)],
  WORKFLOW_MAX_STEPS: ['workflowMaxSteps', int(1, 1_000_000).default(10_000)],
  WORKFLOW_EVENT_RETENTION: ['workflowEventRetentionMs', duration.prefault('7d')],
  // The largest advance the engine sends a remote workflow (lib/workflows/remote.ts): every
  // record of the run travels in each request, so a run over it fails rather than being sent.
  WORKFLOW_MAX_REQUEST_BYTES: ['workflowMaxRequestBytes', int(64 * 1024, 1024 * 1024 * 1024).default(4_194_304)],
} as const satisfies Record<string, readonly [string, z.ZodType]>;

type Variables = typeof VARIABLES;
type Parsed = { [N in keyof Variables as Variables[N][0]]: z.output<Variables[N][1]> };

/** The settings, one field per variable (VARIABLES), with the two pairs above combined. */
export type Config = Omit<Parsed, 'databaseDsn' | 'databaseUrlSetting' | 'redisUrlSetting' | 'redisHost' | 'redisPort'> & {
  /** libSQL URL (`file:`, `libsql:`, `http(s):`, `ws(s):`); a bare path means a file. */
  databaseUrl: string;
  redisUrl: string | undefined;
};

export const CONFIG_VARIABLES = Object.keys(VARIABLES) as (keyof Variables)[];

const schema = z.object(Object.fromEntries(CONFIG_VARIABLES.map((name) => [name, VARIABLES[name][1]])) as {
  [N in keyof Variables]: Variables[N][1];
});

/** Parses and validates; throws ConfigError with one line naming the first bad variable. */
export function loadConfig(env: EnvRecord): Config {
  // An empty value means "unset" (compose files and shells leave `VAR=` behind).
  const input: EnvRecord = {};
  for (const name of CONFIG_VARIABLES) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') input[name] = value.trim();
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]);
    // Secrets are not quoted back: the line goes to logs.
    const shown = /SECRET|TOKEN/.test(name) ? '"…"' : JSON.stringify(input[name] ?? '');
    throw new ConfigError(`invalid ${name}=${shown}: ${issue.message}`);
  }
  const v = parsed.data;
  if (v.SIMULATE_MIN_MS > v.SIMULATE_MAX_MS) {
    throw new ConfigError(`invalid SIMULATE_MIN_MS=${v.SIMULATE_MIN_MS}: must not exceed SIMULATE_MAX_MS (${v.SIMULATE_MAX_MS})`);
  }
  if (Boolean(v.UPSTASH_REDIS_REST_URL) !== Boolean(v.UPSTASH_REDIS_REST_TOKEN)) {
    throw new ConfigError('invalid UPSTASH_REDIS_REST_URL/UPSTASH_REDIS_REST_TOKEN: set both or neither');
  }
  if (v.SERVER_HEADERS_TIMEOUT_SECONDS > v.SERVER_REQUEST_TIMEOUT_SECONDS) {
    // Node refuses it too: the whole request cannot have less time than its headers.
    throw new ConfigError(`invalid SERVER_HEADERS_TIMEOUT_SECONDS=${v.SERVER_HEADERS_TIMEOUT_SECONDS}: must not exceed SERVER_REQUEST_TIMEOUT_SECONDS (${v.SERVER_REQUEST_TIMEOUT_SECONDS})`);
  }
  const fields = Object.fromEntries(CONFIG_VARIABLES.map((name) => [VARIABLES[name][0], v[name]])) as Parsed;
  const { databaseDsn, databaseUrlSetting, redisUrlSetting, redisHost, redisPort, ...rest } = fields;
  return {
    ...rest,
    databaseUrl: normalizeDatabaseUrl(databaseUrlSetting ?? databaseDsn ?? 'tasks.db'),
    redisUrl: redisUrlSetting ?? (redisHost ? `redis://${redisHost}:${redisPort}` : undefined),
  };
}

const URL_SCHEMES = ['file:', 'libsql:', 'http:', 'https:', 'ws:', 'wss:'];

/** `tasks.db` → `file:tasks.db`; URLs pass through; an unknown scheme is an error. */
export function normalizeDatabaseUrl(value: string): string {
  if (URL_SCHEMES.some((s) => value.startsWith(s))) return value;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new ConfigError(`invalid DATABASE_URL=${JSON.stringify(redactUrl(value))}: scheme must be one of ${URL_SCHEMES.join(', ')}`);
  }
  return `file:${value}`;
}

/** A URL with any password or token query parameter removed, for logs. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    for (const key of [...url.searchParams.keys()]) {
      if (/token|secret|password|auth/i.test(key)) url.searchParams.set(key, '***');
    }
    return url.toString();
  } catch {
    return value;
  }
}
