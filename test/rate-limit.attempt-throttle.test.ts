import { describe, expect, it, onTestFinished } from 'vitest';
import { createLogger } from '../lib/foundation/log.ts';
import { MemoryAttemptThrottle, RedisAttemptThrottle, withMemoryFallback, type AttemptPolicy, type AttemptThrottle } from '../lib/rate-limit/attempt-throttle.ts';
import { IoredisScriptClient, createIoredisClient } from '../local/redis-rate-limit.ts';
import { captureLogs } from './helpers.ts';
import { inspector, redisAvailable, REDIS_URL, uniquePrefix } from './redis-helpers.ts';

/**
 * Growing delays after failed attempts (lib/rate-limit/attempt-throttle.ts), in memory and in
 * real Redis, on a clock the test moves: the same decisions from both.
 */
const POLICY: AttemptPolicy = { free: 3, baseMs: 1000, maxMs: 8000, forgetMs: 60_000 };
const redisOk = await redisAvailable();

function clock(start = 1_800_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function contract(name: string, make: (now: () => number) => AttemptThrottle) {
  describe(`attempt throttle: ${name}`, () => {
    it('free attempts, then each waits for the previous one\'s delay, doubling up to the cap', async () => {
      const time = clock();
      const throttle = make(time.now);
      const allowed = async () => (await throttle.attempt('ip:a')).allowed;
      for (let i = 0; i < 3; i++) expect(await allowed()).toBe(true);
      // The 4th passes and starts a 1 s wait; nothing passes during it, however often asked.
      expect(await allowed()).toBe(true);
      for (let i = 0; i < 5; i++) expect(await throttle.attempt('ip:a')).toEqual({ allowed: false, retryAt: time.now() + 1000 });
      // Another key is not held up.
      expect(await throttle.attempt('ip:b')).toEqual({ allowed: true });
      const waits: number[] = [];
      for (let i = 0; i < 5; i++) {
        const refused = await throttle.attempt('ip:a');
        const wait = refused.allowed ? 0 : refused.retryAt - time.now();
        waits.push(wait);
        time.advance(wait);
        expect(await allowed()).toBe(true);
      }
      expect(waits).toEqual([1000, 2000, 4000, 8000, 8000]);
    });

    it('a success forgets the key; so does a quiet spell after the wait', async () => {
      const time = clock();
      const throttle = make(time.now);
      for (let i = 0; i < 4; i++) await throttle.attempt('ip:a');
      expect((await throttle.attempt('ip:a')).allowed).toBe(false);
      await throttle.succeeded('ip:a');
      for (let i = 0; i < 4; i++) expect((await throttle.attempt('ip:a')).allowed).toBe(true);
      expect((await throttle.attempt('ip:a')).allowed).toBe(false);
      time.advance(1000 + 60_000);
      for (let i = 0; i < 4; i++) expect((await throttle.attempt('ip:a')).allowed).toBe(true);
    });

    it('parallel attempts: exactly the free ones and one more pass', async () => {
      const throttle = make(clock().now);
      const decisions = await Promise.all(Array.from({ length: 40 }, () => throttle.attempt('ip:burst')));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(4);
    });
  });
}

contract('memory', (now) => new MemoryAttemptThrottle(POLICY, { now }));

describe.skipIf(!redisOk)('attempt throttle in Redis', () => {
  const redisThrottle = (now: () => number, prefix = uniquePrefix('attempts')) => {
    const redis = createIoredisClient({ url: REDIS_URL, timeoutMs: 500 });
    return { throttle: new RedisAttemptThrottle({ client: new IoredisScriptClient(redis), backend: 'redis', prefix, policy: POLICY, now }), redis, prefix };
  };
  contract('redis', (now) => {
    const made = redisThrottle(now);
    onTestFinished(() => made.redis.disconnect());
    return made.throttle;
  });

  it('two instances share one count; the key expires on its own', async () => {
    const time = clock();
    const a = redisThrottle(time.now);
    const b = redisThrottle(time.now, a.prefix);
    for (let i = 0; i < 4; i++) expect((await (i % 2 ? a : b).throttle.attempt('ip:a')).allowed).toBe(true);
    expect((await b.throttle.attempt('ip:a')).allowed).toBe(false);
    expect((await a.throttle.attempt('ip:a')).allowed).toBe(false);
    const ttl = await inspector().pttl(`${a.prefix}:ip:a`);
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(61_000);
    a.redis.disconnect();
    b.redis.disconnect();
  });
});

describe('attempt throttle with a Redis that is down', () => {
  it('throttles per process meanwhile, and says so once', async () => {
    const logs = captureLogs();
    const time = clock();
    const broken: AttemptThrottle = { backend: 'redis', attempt: () => Promise.reject(new Error('connection refused')), succeeded: () => Promise.reject(new Error('connection refused')) };
    const throttle = withMemoryFallback(broken, new MemoryAttemptThrottle(POLICY, { now: time.now }), { timeoutMs: 100, logger: createLogger('info', logs.sink) });
    const decisions = [];
    for (let i = 0; i < 6; i++) decisions.push((await throttle.attempt('ip:a')).allowed);
    expect(decisions).toEqual([true, true, true, true, false, false]);
    await throttle.succeeded('ip:a');
    expect((await throttle.attempt('ip:a')).allowed).toBe(true);
    expect(logs.messages('warn')).toEqual(['login throttle: Redis unavailable, throttling per process meanwhile']);
  });
});
