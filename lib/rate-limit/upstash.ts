import { Ratelimit } from '@upstash/ratelimit';
import { LIMIT_WINDOW_MS, type RateLimitDecision, type RateLimiter } from './limiter.ts';

/**
 * The part of a Redis client @upstash/ratelimit's single-region sliding window calls:
 * `evalsha(sha, keys[], args[])` and, on NOSCRIPT, `eval(script, keys[], args[])`
 * (Upstash-style arrays). upstash-rest-client.ts speaks them over HTTP; local/redis-rate-limit.ts
 * adapts ioredis.
 */
export interface ScriptClient {
  evalsha(sha: string, keys: string[], args: unknown[]): Promise<unknown>;
  eval(script: string, keys: string[], args: unknown[]): Promise<unknown>;
}

type RatelimitRedis = ConstructorParameters<typeof Ratelimit>[0]['redis'];

export interface UpstashRateLimiterOptions {
  client: ScriptClient;
  backend: string;
  limit: number;
  /** RATE_LIMIT_PREFIX; keys are `<prefix>:rl:<key>:<window>`. */
  prefix: string;
  windowMs?: number;
  /**
   * Identifiers already refused stay refused in this process until their window ends,
   * without asking Redis (@upstash/ratelimit's ephemeral cache). On by default: a client
   * hammering after its 429 then costs no Redis round trip. Off in tests that count calls.
   */
  ephemeralCacheKeys?: number | false;
  /** Releases the client (ioredis' socket and reconnect timer). */
  close?: () => Promise<void>;
}

/**
 * Any Upstash-compatible client behind @upstash/ratelimit's sliding window. The library's own
 * timeout is off: failOpen() bounds the wait and logs the outage once.
 */
export class UpstashRateLimiter implements RateLimiter {
  readonly backend: string;
  private readonly ratelimit: Ratelimit;
  private readonly onClose: (() => Promise<void>) | undefined;

  constructor(options: UpstashRateLimiterOptions) {
    this.backend = options.backend;
    this.onClose = options.close;
    const cacheKeys = options.ephemeralCacheKeys ?? 10_000;
    this.ratelimit = new Ratelimit({
      // Only evalsha/eval are called (see ScriptClient); telemetry is off, so nothing else is.
      redis: options.client as unknown as RatelimitRedis,
      limiter: Ratelimit.slidingWindow(options.limit, `${options.windowMs ?? LIMIT_WINDOW_MS} ms`),
      prefix: `${options.prefix}:rl`,
      timeout: 0,
      analytics: false,
      enableProtection: false,
      enableTelemetry: false,
      ephemeralCache: cacheKeys === false ? false : new BoundedMap<string, number>(cacheKeys),
    });
  }

  async check(key: string): Promise<RateLimitDecision> {
    const { success, limit, remaining, reset } = await this.ratelimit.limit(key);
    return { kind: 'counted', allowed: success, limit, remaining, resetAt: reset };
  }

  async close(): Promise<void> {
    await this.onClose?.();
  }
}

/** The ephemeral cache is a plain Map in the library; this one evicts its oldest entry. */
class BoundedMap<K, V> extends Map<K, V> {
  private readonly max: number;

  constructor(max: number) {
    super();
    this.max = max;
  }

  override set(key: K, value: V): this {
    if (!this.has(key) && this.size >= this.max) {
      const oldest = this.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    return super.set(key, value);
  }
}
