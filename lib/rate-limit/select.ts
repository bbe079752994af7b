import type { Config } from '../config/config.ts';
import type { Logger } from '../foundation/log.ts';
import { MemoryAttemptThrottle, RedisAttemptThrottle, withMemoryFallback, type AttemptPolicy, type AttemptThrottle } from './attempt-throttle.ts';
import { failOpen } from './fail-open.ts';
import type { RateLimiter } from './limiter.ts';
import { MemoryRateLimiter } from './memory.ts';
import { UpstashRateLimiter, type ScriptClient } from './upstash.ts';
import { UpstashRestClient } from './upstash-rest-client.ts';

export type RateLimitConfig = Pick<Config, 'rateLimitPerMinute' | 'rateLimitPrefix' | 'rateLimitTimeoutMs' | 'upstashUrl' | 'upstashToken'>;

export interface RedisBackend {
  client: ScriptClient;
  /** For logs: `redis` (ioredis) or `upstash`. */
  backend: string;
  close?: () => Promise<void>;
}

/** The Redis to count in: the adapter's TCP client, else Upstash over HTTP when configured, else none (memory). */
export function redisBackend(config: Omit<RateLimitConfig, 'rateLimitPerMinute'>, redis?: RedisBackend): RedisBackend | undefined {
  if (redis) return redis;
  if (!config.upstashUrl || !config.upstashToken) return undefined;
  return { backend: 'upstash', client: new UpstashRestClient({ url: config.upstashUrl, token: config.upstashToken, timeoutMs: config.rateLimitTimeoutMs }) };
}

/**
 * The limiter the config asks for, or undefined when RATE_LIMIT_PER_MINUTE=0 (off).
 * `redis` is a TCP client the platform adapter built (local/ passes ioredis when REDIS_URL
 * is set); without one, UPSTASH_REDIS_REST_URL/_TOKEN select Upstash over HTTP; else memory.
 * Redis-backed limiters come wrapped in failOpen.
 */
export function createRateLimiter(config: RateLimitConfig, logger: Logger, redis?: RedisBackend): RateLimiter | undefined {
  if (config.rateLimitPerMinute === 0) return undefined;
  const chosen = redisBackend(config, redis);
  if (!chosen) return new MemoryRateLimiter({ limit: config.rateLimitPerMinute });
  const limiter = new UpstashRateLimiter({ client: chosen.client, backend: chosen.backend, limit: config.rateLimitPerMinute, prefix: config.rateLimitPrefix, close: chosen.close });
  return failOpen(limiter, { timeoutMs: config.rateLimitTimeoutMs, logger });
}

/**
 * An attempt throttle (attempt-throttle.ts) in the same place as the limiter: Redis (the
 * adapter's, or Upstash from config) shared by every instance, falling back to this process's
 * memory while Redis is down; memory alone when there is none. Keys: `<RATE_LIMIT_PREFIX>:<name>:…`.
 */
export function createAttemptThrottle(config: Omit<RateLimitConfig, 'rateLimitPerMinute'>, logger: Logger, options: { name: string; policy: AttemptPolicy; redis?: RedisBackend }): AttemptThrottle {
  const memory = new MemoryAttemptThrottle(options.policy);
  const chosen = redisBackend(config, options.redis);
  if (!chosen) return memory;
  const shared = new RedisAttemptThrottle({ client: chosen.client, backend: chosen.backend, prefix: `${config.rateLimitPrefix}:${options.name}`, policy: options.policy });
  return withMemoryFallback(shared, memory, { timeoutMs: config.rateLimitTimeoutMs, logger });
}
