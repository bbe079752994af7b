import { z } from 'zod';
import { parseTrustProxy, type TrustProxy } from './api/trusted-proxies.ts';
import { LEVEL_NAMES, type LogLevel } from './log.ts';
import { parseAllowedHosts } from './delivery/guard.ts';
import { isWebhookSecret } from './delivery/signing.ts';

/**
 * Configuration from an env record (the process environment on Node, bindings on Workers). lib/ never
 * reads the global environment itself. Every variable, its default and its bounds are declared once here;
 * `.env.example` and docs/configuration.md list the same table.
 */
export type EnvRecord = Record<string, string | undefined>;

export interface Config {
  host: string;
  port: number;
  workers: number;
  queueSize: number;
  pollIntervalSeconds: number;
  pollBatchSize: number;
  /** libSQL URL (`file:`, `libsql:`, `http(s):`, `ws(s):`); a bare path means a file. */
  databaseUrl: string;
  databaseAuthToken: string | undefined;
  rateLimitPerMinute: number;
  rateLimitPrefix: string;
  rateLimitTimeoutMs: number;
  shutdownTimeoutSeconds: number;
  leaseSeconds: number;
  maxAttempts: number;
  timeoutSeconds: number;
  maxPending: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  simulateMinMs: number;
  simulateMaxMs: number;
  redisUrl: string | undefined;
  upstashUrl: string | undefined;
  upstashToken: string | undefined;
  apiToken: string | undefined;
  cronSecret: string | undefined;
  pollBudgetSeconds: number;
  maxBodyBytes: number;
  /** Node server limits (local/http-server.ts): slow or idle clients, open sockets. */
  serverHeadersTimeoutSeconds: number;
  serverRequestTimeoutSeconds: number;
  serverKeepAliveTimeoutSeconds: number;
  serverMaxConnections: number;
  trustProxy: TrustProxy;
  logLevel: LogLevel;
  /** `http` tasks (lib/delivery/): SSRF guard, response size, redirects, per-host limit, signing. */
  httpAllowPrivateNetworks: boolean;
  httpAllowedHosts: string[];
  httpMaxResponseBytes: number;
  httpFollowRedirects: number;
  httpMaxPerHost: number;
  /** `whsec_…` secrets, newest first; every request is signed with each (rotation). */
  webhookSecrets: string[];
  /** Missed policy `all`: at most this many missed occurrences get a task (lib/schedules/). */
  scheduleMaxCatchup: number;
  /** The dashboard at /ui (lib/ui/): served at all, actions allowed, session length. */
  dashboardEnabled: boolean;
  dashboardReadOnly: boolean;
  dashboardSessionHours: number;
  /** `GET /metrics` on the Node server (local/metrics.ts). */
  metricsEnabled: boolean;
  /** Bearer token for `/metrics`; when unset, API_TOKEN protects it (when that is set). */
  metricsToken: string | undefined;
  /** The database gauges are read at most once per this many seconds, however often scraped. */
  metricsRefreshSeconds: number;
  /** Most tasks in one POST /tasks/batch (lib/tasks/service.ts submitMany). */
  maxBatchTasks: number;
  /** Completed tasks are deleted this long after they finished; 0 keeps them (lib/tasks/retention.ts). */
  retentionCompletedMs: number;
  /** Failed and cancelled tasks likewise. */
  retentionFailedMs: number;
}

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

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseDuration(value: string): number | null {
  if (value === '0') return 0;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(value);
  if (!match) return null;
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2]!]!);
  return Number.isSafeInteger(ms) ? ms : null;
}

/** Variable name → schema with its default. Order is the order of `.env.example`. */
const VARIABLES = {
  APP_HOST: z.string().min(1).default('127.0.0.1'),
  APP_PORT: int(0, 65535).default(8080),
  TASK_WORKERS: int(1, 1000).default(5),
  TASK_QUEUE_SIZE: int(0, 100_000).default(10),
  TASK_POLL_INTERVAL_SECONDS: seconds(0.01, 3600).default(5),
  TASK_POLL_BATCH_SIZE: int(1, 10_000).default(10),
  TASK_LEASE_SECONDS: seconds(1, 86_400).default(30),
  TASK_MAX_ATTEMPTS: int(1, 1000).default(3),
  TASK_TIMEOUT_SECONDS: seconds(0.01, 86_400).default(300),
  TASK_MAX_PENDING: int(0, 1_000_000_000).default(0),
  TASK_BACKOFF_BASE_MS: int(0, 86_400_000).default(1000),
  TASK_BACKOFF_MAX_MS: int(0, 86_400_000).default(300_000),
  SIMULATE_MIN_MS: int(0, 3_600_000).default(1000),
  SIMULATE_MAX_MS: int(0, 3_600_000).default(5000),
  DATABASE_DSN: z.string().min(1).optional(),
  DATABASE_URL: z.string().min(1).optional(),
  DATABASE_AUTH_TOKEN: z.string().optional(),
  SHUTDOWN_TIMEOUT_SECONDS: seconds(0, 3600).default(20),
  POLL_BUDGET_SECONDS: seconds(0.1, 900).default(25),
  MAX_BODY_BYTES: int(256, 100 * 1024 * 1024).default(65_536),
  SERVER_HEADERS_TIMEOUT_SECONDS: seconds(0.1, 3600).default(10),
  SERVER_REQUEST_TIMEOUT_SECONDS: seconds(0.1, 3600).default(30),
  SERVER_KEEP_ALIVE_TIMEOUT_SECONDS: seconds(0.1, 3600).default(5),
  SERVER_MAX_CONNECTIONS: int(1, 1_000_000).default(1024),
  RATE_LIMIT_PER_MINUTE: int(0, 10_000_000).default(60),
  RATE_LIMIT_PREFIX: z.string().min(1).default('task-pool'),
  RATE_LIMIT_TIMEOUT_MS: int(1, 60_000).default(200),
  REDIS_URL: url(['redis', 'rediss']).optional(),
  REDIS_HOST: z.string().min(1).optional(),
  REDIS_PORT: int(1, 65535).default(6379),
  UPSTASH_REDIS_REST_URL: url(['http', 'https']).optional(),
  UPSTASH_REDIS_REST_TOKEN: z.string().optional(),
  API_TOKEN: z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
  CRON_SECRET: z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
  TRUST_PROXY: trustProxy.default(false),
  LOG_LEVEL: z.enum(LEVEL_NAMES, { error: `must be one of ${LEVEL_NAMES.join(', ')}` }).default('info'),
  HTTP_ALLOW_PRIVATE_NETWORKS: bool.default(false),
  HTTP_ALLOWED_HOSTS: z
    .string()
    .refine((v) => v.split(',').every((h) => /^(\*\.)?[A-Za-z0-9._:[\]-]+$/.test(h.trim()) || h.trim() === ''), {
      error: 'must be a comma-separated list of host names, IP addresses or *.suffix patterns',
    })
    .optional(),
  HTTP_MAX_RESPONSE_BYTES: int(0, 100 * 1024 * 1024).default(65_536),
  HTTP_FOLLOW_REDIRECTS: int(0, 20).default(0),
  HTTP_MAX_PER_HOST: int(1, 10_000).default(10),
  WEBHOOK_SECRET: z
    .string()
    .refine((v) => v.split(',').every((s) => isWebhookSecret(s.trim())), {
      error: 'must be one or more comma-separated whsec_ secrets (base64 of 24 to 64 bytes after the prefix)',
    })
    .optional(),
  SCHEDULE_MAX_CATCHUP: int(1, 10_000).default(100),
  DASHBOARD_ENABLED: bool.default(true),
  DASHBOARD_READ_ONLY: bool.default(false),
  DASHBOARD_SESSION_HOURS: int(1, 720).default(12),
  METRICS_ENABLED: bool.default(true),
  METRICS_TOKEN: z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
  METRICS_REFRESH_SECONDS: seconds(0, 3600).default(10),
  // A batch is one transaction (lib/tasks/repository.ts insertMany): bounded so one request
  // holds the write lock for tens of milliseconds, not seconds.
  MAX_BATCH_TASKS: int(1, 10_000).default(1000),
  TASK_RETENTION_COMPLETED: duration.prefault('7d'),
  TASK_RETENTION_FAILED: duration.prefault('30d'),
} as const;

export const CONFIG_VARIABLES = Object.keys(VARIABLES) as (keyof typeof VARIABLES)[];

const schema = z.object(VARIABLES);

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
  const redisUrl = v.REDIS_URL ?? (v.REDIS_HOST ? `redis://${v.REDIS_HOST}:${v.REDIS_PORT}` : undefined);
  return {
    host: v.APP_HOST,
    port: v.APP_PORT,
    workers: v.TASK_WORKERS,
    queueSize: v.TASK_QUEUE_SIZE,
    pollIntervalSeconds: v.TASK_POLL_INTERVAL_SECONDS,
    pollBatchSize: v.TASK_POLL_BATCH_SIZE,
    databaseUrl: normalizeDatabaseUrl(v.DATABASE_URL ?? v.DATABASE_DSN ?? 'tasks.db'),
    databaseAuthToken: v.DATABASE_AUTH_TOKEN || undefined,
    rateLimitPerMinute: v.RATE_LIMIT_PER_MINUTE,
    rateLimitPrefix: v.RATE_LIMIT_PREFIX,
    rateLimitTimeoutMs: v.RATE_LIMIT_TIMEOUT_MS,
    shutdownTimeoutSeconds: v.SHUTDOWN_TIMEOUT_SECONDS,
    leaseSeconds: v.TASK_LEASE_SECONDS,
    maxAttempts: v.TASK_MAX_ATTEMPTS,
    timeoutSeconds: v.TASK_TIMEOUT_SECONDS,
    maxPending: v.TASK_MAX_PENDING,
    backoffBaseMs: v.TASK_BACKOFF_BASE_MS,
    backoffMaxMs: v.TASK_BACKOFF_MAX_MS,
    simulateMinMs: v.SIMULATE_MIN_MS,
    simulateMaxMs: v.SIMULATE_MAX_MS,
    redisUrl,
    upstashUrl: v.UPSTASH_REDIS_REST_URL,
    upstashToken: v.UPSTASH_REDIS_REST_TOKEN,
    apiToken: v.API_TOKEN,
    cronSecret: v.CRON_SECRET,
    pollBudgetSeconds: v.POLL_BUDGET_SECONDS,
    maxBodyBytes: v.MAX_BODY_BYTES,
    serverHeadersTimeoutSeconds: v.SERVER_HEADERS_TIMEOUT_SECONDS,
    serverRequestTimeoutSeconds: v.SERVER_REQUEST_TIMEOUT_SECONDS,
    serverKeepAliveTimeoutSeconds: v.SERVER_KEEP_ALIVE_TIMEOUT_SECONDS,
    serverMaxConnections: v.SERVER_MAX_CONNECTIONS,
    trustProxy: v.TRUST_PROXY,
    logLevel: v.LOG_LEVEL,
    httpAllowPrivateNetworks: v.HTTP_ALLOW_PRIVATE_NETWORKS,
    httpAllowedHosts: parseAllowedHosts(v.HTTP_ALLOWED_HOSTS),
    httpMaxResponseBytes: v.HTTP_MAX_RESPONSE_BYTES,
    httpFollowRedirects: v.HTTP_FOLLOW_REDIRECTS,
    httpMaxPerHost: v.HTTP_MAX_PER_HOST,
    webhookSecrets: (v.WEBHOOK_SECRET ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''),
    scheduleMaxCatchup: v.SCHEDULE_MAX_CATCHUP,
    dashboardEnabled: v.DASHBOARD_ENABLED,
    dashboardReadOnly: v.DASHBOARD_READ_ONLY,
    dashboardSessionHours: v.DASHBOARD_SESSION_HOURS,
    metricsEnabled: v.METRICS_ENABLED,
    metricsToken: v.METRICS_TOKEN,
    metricsRefreshSeconds: v.METRICS_REFRESH_SECONDS,
    maxBatchTasks: v.MAX_BATCH_TASKS,
    retentionCompletedMs: v.TASK_RETENTION_COMPLETED,
    retentionFailedMs: v.TASK_RETENTION_FAILED,
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
