import type { Logger } from '../foundation/log.ts';
import type { ScriptClient } from './upstash.ts';

/**
 * Growing delays between failed attempts per key (the dashboard's log-ins, per client
 * address): the first `free` attempts pass at once; each later one passes only after the
 * wait the previous one set, and sets a wait twice as long (`baseMs`, 2×, 4×, … up to
 * `maxMs`). A success forgets the key. A key quiet for `forgetMs` after its wait starts over.
 *
 * `attempt` counts the attempt as a failure before the caller checks it, in one atomic step
 * with the check of the wait (a JS turn in memory, one Lua script in Redis): a burst of
 * parallel guesses cannot all pass the check before the first failure is recorded. The caller
 * reports a success with `succeeded`.
 *
 * Unlike the rate limit (limiter.ts), this is about failures, not requests, and it does not
 * care how fast a client sends: only a correct answer, or time, lets the key through again.
 */
export interface AttemptPolicy {
  free: number;
  baseMs: number;
  maxMs: number;
  forgetMs: number;
}

export type AttemptDecision = { allowed: true } | { allowed: false; retryAt: number };

export interface AttemptThrottle {
  /** `memory`, `redis` or `upstash`: for logs. */
  readonly backend: string;
  /** Allowed (and counted as a failure until `succeeded`), or when the key may try again (epoch ms). */
  attempt(key: string): Promise<AttemptDecision>;
  /** The attempt was right: the key's failures are forgotten. */
  succeeded(key: string): Promise<void>;
}

const waitAfter = (failures: number, policy: AttemptPolicy) =>
  failures <= policy.free ? 0 : Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(failures - policy.free - 1, 40));

interface Failures {
  count: number;
  /** Epoch ms before which the key may not try (0: no wait). */
  until: number;
  /** When the state is forgotten. */
  forgetAt: number;
}

/**
 * Per process. Least recently used keys are evicted beyond `maxKeys`, as in memory.ts: a flood
 * of addresses costs bounded memory, and an evicted address starts over.
 */
export class MemoryAttemptThrottle implements AttemptThrottle {
  readonly backend = 'memory';
  readonly #policy: AttemptPolicy;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, Failures>();

  constructor(policy: AttemptPolicy, options: { maxKeys?: number; now?: () => number } = {}) {
    this.#policy = policy;
    this.#maxKeys = options.maxKeys ?? 50_000;
    this.#now = options.now ?? Date.now;
  }

  async attempt(key: string): Promise<AttemptDecision> {
    const now = this.#now();
    let state = this.#keys.get(key);
    this.#keys.delete(key);
    if (!state || state.forgetAt <= now) state = { count: 0, until: 0, forgetAt: 0 };
    this.#keys.set(key, state);
    if (this.#keys.size > this.#maxKeys) this.#keys.delete(this.#keys.keys().next().value!);
    if (now < state.until) return { allowed: false, retryAt: state.until };
    state.count += 1;
    const wait = waitAfter(state.count, this.#policy);
    state.until = wait > 0 ? now + wait : 0;
    state.forgetAt = now + wait + this.#policy.forgetMs;
    return { allowed: true };
  }

  async succeeded(key: string): Promise<void> {
    this.#keys.delete(key);
  }
}

/**
 * The same in Redis (ioredis over TCP or Upstash over HTTP, through ScriptClient): one hash
 * per key, `<prefix>:<key>`, with the failure count, the end of the wait and when to forget
 * them (the caller's clock decides; the key's expiry only cleans up). The check and the count are one script, so every instance sharing the
 * Redis sees one count per address. Times come from the caller's clock.
 */
const ATTEMPT_SCRIPT = `
local now = tonumber(ARGV[1])
local free = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local max = tonumber(ARGV[4])
local forget = tonumber(ARGV[5])
local state = redis.call('HMGET', KEYS[1], 'n', 'until', 'forget')
local n = tonumber(state[1]) or 0
local untilMs = tonumber(state[2]) or 0
if now >= (tonumber(state[3]) or 0) then n = 0 untilMs = 0 end
if now < untilMs then return {0, untilMs} end
n = n + 1
local wait = 0
if n > free then wait = math.min(max, base * 2 ^ math.min(n - free - 1, 40)) end
untilMs = 0
if wait > 0 then untilMs = now + wait end
redis.call('HSET', KEYS[1], 'n', n, 'until', untilMs, 'forget', now + wait + forget)
redis.call('PEXPIRE', KEYS[1], wait + forget)
return {1, untilMs}
`;

export class RedisAttemptThrottle implements AttemptThrottle {
  readonly backend: string;
  readonly #client: ScriptClient;
  readonly #policy: AttemptPolicy;
  readonly #prefix: string;
  readonly #now: () => number;

  constructor(options: { client: ScriptClient; backend: string; prefix: string; policy: AttemptPolicy; now?: () => number }) {
    this.backend = options.backend;
    this.#client = options.client;
    this.#policy = options.policy;
    this.#prefix = options.prefix;
    this.#now = options.now ?? Date.now;
  }

  async attempt(key: string): Promise<AttemptDecision> {
    const { free, baseMs, maxMs, forgetMs } = this.#policy;
    // EVAL every time: attempts are rare, the script is short, and no hash has to be kept in step.
    const reply = await this.#client.eval(ATTEMPT_SCRIPT, [`${this.#prefix}:${key}`], [this.#now(), free, baseMs, maxMs, forgetMs]);
    if (!Array.isArray(reply) || reply.length !== 2) throw new Error(`unexpected reply from the attempt script: ${JSON.stringify(reply)}`);
    return Number(reply[0]) === 1 ? { allowed: true } : { allowed: false, retryAt: Number(reply[1]) };
  }

  async succeeded(key: string): Promise<void> {
    await this.#client.eval("return redis.call('DEL', KEYS[1])", [`${this.#prefix}:${key}`], []);
  }
}

/**
 * A Redis throttle that falls back to a per-process one while Redis errs or does not answer
 * within `timeoutMs`: log-ins keep being throttled (per process) instead of being let through
 * unthrottled or refused. One warning when the outage starts, one line when Redis answers again.
 */
export function withMemoryFallback(primary: AttemptThrottle, fallback: AttemptThrottle, options: { timeoutMs: number; logger: Logger }): AttemptThrottle {
  let down = false;
  const run = async <T>(call: () => Promise<T>, instead: () => Promise<T>): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    });
    try {
      const result = await Promise.race([call(), timedOut]);
      if (down) options.logger.info('login throttle: Redis answers again', { backend: primary.backend });
      down = false;
      return result;
    } catch (error) {
      if (!down) {
        options.logger.warn('login throttle: Redis unavailable, throttling per process meanwhile', { backend: primary.backend, error: error instanceof Error ? error.message : String(error) });
      }
      down = true;
      return instead();
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    backend: primary.backend,
    attempt: (key) => run(() => primary.attempt(key), () => fallback.attempt(key)),
    succeeded: async (key) => {
      await fallback.succeeded(key);
      await run(() => primary.succeeded(key), async () => undefined);
    },
  };
}
