import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { MemoryRateLimiter } from '../lib/rate-limit/memory.ts';
import { startRuntime } from './helpers.ts';

const MINUTE = 60_000;

function clock(start: number) {
  const state = { now: start };
  return { state, now: () => state.now };
}

describe('MemoryRateLimiter', () => {
  it('allows N per window, then refuses; remaining counts down to 0', () => {
    const t = clock(10 * MINUTE);
    const limiter = new MemoryRateLimiter({ limit: 5, now: t.now });
    const decisions = Array.from({ length: 7 }, () => limiter.take('ip:a'));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0, 0]);
    expect(decisions.every((d) => d.limit === 5 && d.resetAt === 11 * MINUTE)).toBe(true);
    // Another client has its own budget.
    expect(limiter.take('ip:b')).toMatchObject({ allowed: true, remaining: 4 });
  });

  it('slides: the previous window still counts, weighted by how much of it overlaps', () => {
    const t = clock(10 * MINUTE + MINUTE / 2);
    const limiter = new MemoryRateLimiter({ limit: 10, now: t.now });
    for (let i = 0; i < 10; i++) expect(limiter.take('k').allowed).toBe(true);
    expect(limiter.take('k').allowed).toBe(false);

    // A fixed window would reset here; a sliding one still sees all 10 (weight 1.0).
    t.state.now = 11 * MINUTE;
    expect(limiter.take('k').allowed).toBe(false);

    // 30% into the next window: floor(0.7 * 10) = 7 still count, so 3 more pass.
    t.state.now = 11 * MINUTE + 0.3 * MINUTE;
    const burst = Array.from({ length: 4 }, () => limiter.take('k'));
    expect(burst.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(burst[0]!.remaining).toBe(2);

    // Two windows later nothing is left of the first burst.
    t.state.now = 13 * MINUTE;
    expect(limiter.take('k')).toMatchObject({ allowed: true, remaining: 9 });
  });

  it('retryAt is the first moment a request passes again, not just the window end', () => {
    const t = clock(20 * MINUTE + 0.5 * MINUTE);
    const limiter = new MemoryRateLimiter({ limit: 4, now: t.now });
    for (let i = 0; i < 4; i++) limiter.take('k');
    const refused = limiter.take('k');
    expect(refused.allowed).toBe(false);
    // All 4 in this window: the next window must first decay them below 4, i.e. just after it starts.
    expect(refused.retryAt).toBeGreaterThan(refused.resetAt);
    t.state.now = refused.retryAt! - 1;
    expect(limiter.take('k').allowed).toBe(false);
    t.state.now = refused.retryAt!;
    expect(limiter.take('k').allowed).toBe(true);

    // Now partly in the window: 3 weighted from before + 1 just taken → refused until decay.
    const again = limiter.take('k');
    expect(again.allowed).toBe(false);
    expect(again.retryAt).toBeLessThan(again.resetAt);
    t.state.now = again.retryAt! - 1;
    expect(limiter.take('k').allowed).toBe(false);
    t.state.now = again.retryAt!;
    expect(limiter.take('k').allowed).toBe(true);
  });

  it('stays bounded with 100k distinct clients: least recently seen keys are evicted', () => {
    const t = clock(30 * MINUTE);
    const address = (i: number) => `ip:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const fill = (limiter: MemoryRateLimiter) => {
      limiter.take('ip:hot');
      limiter.take('ip:hot');
      let maxSize = 0;
      let hotRefused = true;
      for (let i = 0; i < 100_000; i++) {
        limiter.take(address(i));
        // A client that keeps coming back is recent, so it is never the one evicted.
        if (i % 1000 === 0) hotRefused &&= !limiter.take('ip:hot').allowed;
        maxSize = Math.max(maxSize, limiter.size);
      }
      return { maxSize, hotRefused };
    };

    const bounded = new MemoryRateLimiter({ limit: 2, now: t.now, maxKeys: 10_000 });
    const unbounded = new MemoryRateLimiter({ limit: 2, now: t.now, maxKeys: 1_000_000 });
    let boundedRun = { maxSize: 0, hotRefused: false };
    const boundedBytes = retainedBytes(() => (boundedRun = fill(bounded)));
    const unboundedBytes = retainedBytes(() => fill(unbounded));
    expect(boundedRun).toEqual({ maxSize: 10_000, hotRefused: true });

    expect(bounded.size).toBe(10_000);
    expect(unbounded.size).toBe(100_001);
    // The cap is what keeps memory flat: 10x fewer keys, several times less heap retained.
    expect(boundedBytes).toBeLessThan(unboundedBytes / 4);
    expect(boundedBytes / 10_000).toBeLessThan(400);
    console.info(`memory limiter: ~${Math.round(boundedBytes / 10_000)} B/key retained (bounded), ~${Math.round(unboundedBytes / 100_001)} B/key (unbounded)`);
    // The first clients were evicted: they start from a full budget again; the hot one was kept.
    expect(bounded.take(address(0))).toMatchObject({ allowed: true, remaining: 1 });
    expect(bounded.take('ip:hot').allowed).toBe(false);
  });
});

/** Heap still reachable after `run` (its result kept alive), measured between forced GCs. */
function retainedBytes(run: () => unknown): number {
  const gc = forceGc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = run();
  gc();
  const after = process.memoryUsage().heapUsed;
  void kept;
  return after - before;
}

function forceGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('rate limiting over HTTP (memory backend)', () => {
  const headersOf = (response: Response) => ({
    limit: response.headers.get('ratelimit-limit'),
    remaining: response.headers.get('ratelimit-remaining'),
    reset: Number(response.headers.get('ratelimit-reset')),
  });

  it('N requests pass with counting-down headers, then 429 rate_limited with Retry-After', async () => {
    const { app } = await startRuntime({ env: { RATE_LIMIT_PER_MINUTE: '3' }, processing: false });
    const responses: Response[] = [];
    for (let i = 0; i < 3; i++) responses.push(await app.request('/tasks'));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(responses.map((r) => headersOf(r).remaining)).toEqual(['2', '1', '0']);
    for (const r of responses) {
      expect(headersOf(r).limit).toBe('3');
      expect(headersOf(r).reset).toBeGreaterThanOrEqual(0);
      expect(headersOf(r).reset).toBeLessThanOrEqual(60);
    }

    const refused = await app.request('/tasks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"title":"t","description":"d"}' });
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({ message: 'rate limit exceeded', code: 'rate_limited' });
    expect(headersOf(refused).limit).toBe('3');
    expect(headersOf(refused).remaining).toBe('0');
    const retryAfter = refused.headers.get('retry-after')!;
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(120);
  });

  it('limits every route but the probes, and error responses carry the headers too', async () => {
    const { app } = await startRuntime({ env: { RATE_LIMIT_PER_MINUTE: '2' }, processing: false });
    const notFound = await app.request('/tasks/00000000-0000-7000-8000-000000000000');
    expect(notFound.status).toBe(404);
    expect(headersOf(notFound).remaining).toBe('1');
    const spec = await app.request('/openapi.json');
    expect(spec.status).toBe(200);
    expect(headersOf(spec).remaining).toBe('0');
    expect((await app.request('/stats')).status).toBe(429);
    expect((await app.request('/no-such-route')).status).toBe(429);
    for (let i = 0; i < 5; i++) {
      const health = await app.request('/healthz');
      expect(health.status).toBe(200);
      expect(health.headers.get('ratelimit-limit')).toBeNull();
      expect((await app.request('/readyz')).status).toBe(200);
    }
  });

  it('RATE_LIMIT_PER_MINUTE=0 turns limiting off', async () => {
    const { app } = await startRuntime({ env: { RATE_LIMIT_PER_MINUTE: '0' }, processing: false });
    for (let i = 0; i < 20; i++) {
      const response = await app.request('/stats');
      expect(response.status).toBe(200);
      expect(response.headers.get('ratelimit-limit')).toBeNull();
    }
  });
});

