import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Config } from '../lib/config/config.ts';
import type { RateLimiter } from '../lib/rate-limit/limiter.ts';
import type { Logger } from '../lib/foundation/log.ts';
import { createRateLimiter, type RedisBackend } from '../lib/rate-limit/select.ts';
import type { ScriptClient } from '../lib/rate-limit/upstash.ts';

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

/**
 * Redis before 7.x rejects the `allow-key-locking` flag of @upstash/ratelimit's scripts
 * (`ERR Unexpected flag in script shebang`; measured on 7.0). The flag only matters to
 * Upstash's own server, so it is dropped, and the shebang line with it when no flag is left.
 */
export function stripUnsupportedScriptFlags(script: string): string {
  const match = /^#!lua([^\n]*)\n/.exec(script);
  if (!match) return script;
  const flagsMatch = /flags=(\S*)/.exec(match[1]!);
  if (!flagsMatch) return script;
  const flags = flagsMatch[1]!.split(',').filter((flag) => flag && flag !== 'allow-key-locking');
  const rest = script.slice(match[0].length);
  return flags.length === 0 ? rest : `#!lua flags=${flags.join(',')}\n${rest}`;
}

const toArg = (value: unknown): string => (typeof value === 'string' ? value : value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value));

/**
 * ioredis with the Upstash calling convention @upstash/ratelimit uses.
 *
 * The library calls `evalsha(<hash hard-coded in the library>, keys[], args[])` and, on
 * NOSCRIPT, `eval(script, keys[], args[])`. Its hard-coded hash is the SHA1 of the script
 * *with* the flag; what Redis caches is the stripped script under another SHA1. So `eval`
 * records library hash → (real SHA1, stripped script), and later `evalsha` calls run the
 * real SHA1, re-sending the script only if Redis lost its cache (restart, SCRIPT FLUSH).
 */
export class IoredisScriptClient implements ScriptClient {
  private readonly scripts = new Map<string, { sha: string; script: string }>();
  private connecting: Promise<void> | undefined;

  constructor(readonly redis: Redis) {}

  async evalsha(hash: string, keys: string[], args: unknown[]): Promise<unknown> {
    const known = this.scripts.get(hash);
    await this.connected();
    if (!known) return this.redis.evalsha(hash, keys.length, ...keys, ...args.map(toArg));
    try {
      return await this.redis.evalsha(known.sha, keys.length, ...keys, ...args.map(toArg));
    } catch (error) {
      if (!String(error).includes('NOSCRIPT')) throw error;
      return this.redis.eval(known.script, keys.length, ...keys, ...args.map(toArg));
    }
  }

  async eval(script: string, keys: string[], args: unknown[]): Promise<unknown> {
    const stripped = stripUnsupportedScriptFlags(script);
    this.scripts.set(sha1(script), { sha: sha1(stripped), script: stripped });
    await this.connected();
    return this.redis.eval(stripped, keys.length, ...keys, ...args.map(toArg));
  }

  /**
   * The offline queue is off (commands issued while Redis is away must fail, not pile up and
   * replay later), so the very first command would fail while the lazy connection is still
   * being made. Wait for that first connection; a reconnecting client fails at once.
   * failOpen bounds the wait.
   */
  private connected(): Promise<void> {
    const { redis } = this;
    if (redis.status === 'wait') redis.connect().catch(() => {});
    if (redis.status !== 'connecting' && redis.status !== 'connect') return Promise.resolve();
    return (this.connecting ??= new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        redis.off('ready', onReady);
        redis.off('close', onClose);
        this.connecting = undefined;
        if (error) reject(error);
        else resolve();
      };
      const onReady = () => settle();
      const onClose = () => settle(new Error('Redis connection closed before it was ready'));
      redis.once('ready', onReady);
      redis.once('close', onClose);
    }));
  }
}

export interface IoredisClientOptions {
  url: string;
  timeoutMs: number;
  connectionName?: string;
  logger?: Logger;
}

/**
 * An ioredis client that cannot hold requests or the process hostage: lazy connect (the
 * service starts with Redis down), no offline queue, in-flight commands rejected when the
 * connection drops (maxRetriesPerRequest 0) and per-command timeout, reconnects backing off
 * to 5 s. `disconnect()` cancels the reconnect timer, so shutdown is not kept waiting.
 */
export function createIoredisClient(options: IoredisClientOptions): Redis {
  const redis = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: Math.max(1000, options.timeoutMs * 5),
    // Bounds the life of a command a slow Redis never answers; failOpen has already let the
    // request through after timeoutMs, this only stops such commands from accumulating.
    commandTimeout: Math.max(1000, options.timeoutMs * 5),
    retryStrategy: (attempt) => Math.min(5000, 50 * 2 ** Math.min(attempt, 7)),
    connectionName: options.connectionName,
  });
  // Without a listener ioredis prints every failed reconnect to stderr; failOpen logs the
  // outage once instead.
  redis.on('error', (error: Error) => options.logger?.debug('redis connection error', { error }));
  return redis;
}

export interface IoredisRateLimit {
  limiter: RateLimiter;
  redis: Redis;
}

/**
 * REDIS_URL's connection for every limit counted in Redis (the API's, the dashboard's pages
 * and failed logins): one lazy ioredis client; `close` disconnects it.
 */
export function createIoredisBackend(config: Config & { redisUrl: string }, logger: Logger): RedisBackend & { redis: Redis } {
  const redis = createIoredisClient({ url: config.redisUrl, timeoutMs: config.rateLimitTimeoutMs, connectionName: `${config.rateLimitPrefix.replace(/[^\w:.-]/g, '_')}-ratelimit`, logger });
  return { backend: 'redis', client: new IoredisScriptClient(redis), close: async () => redis.disconnect(), redis };
}

/** REDIS_URL's limiter: @upstash/ratelimit over ioredis, failing open. */
export function createIoredisRateLimiter(config: Config & { redisUrl: string }, logger: Logger): IoredisRateLimit | undefined {
  const backend = createIoredisBackend(config, logger);
  const limiter = createRateLimiter(config, logger, backend);
  if (!limiter) {
    backend.redis.disconnect();
    return undefined;
  }
  return { limiter, redis: backend.redis };
}
