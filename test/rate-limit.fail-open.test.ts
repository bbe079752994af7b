import { describe, expect, it } from 'vitest';
import { createLogger } from '../lib/foundation/log.ts';
import { failOpen } from '../lib/rate-limit/fail-open.ts';
import type { RateLimiter, RateLimitResult } from '../lib/rate-limit/limiter.ts';
import { captureLogs } from './helpers.ts';

/**
 * The wrapper's own logic, against a backend whose behaviour the test sets (the Redis suites
 * run the same wrapper against real Redis, killed and paused).
 */
function scriptedBackend() {
  const state = { mode: 'ok' as 'ok' | 'error' | 'hang', calls: 0 };
  const counted: RateLimitResult = { kind: 'counted', allowed: true, limit: 10, remaining: 9, resetAt: 0 };
  const limiter: RateLimiter = {
    backend: 'scripted',
    close: async () => {},
    check: async () => {
      state.calls++;
      if (state.mode === 'error') throw new Error('connect ECONNREFUSED');
      if (state.mode === 'hang') return new Promise<RateLimitResult>(() => {});
      return counted;
    },
  };
  return { state, limiter };
}

describe('failOpen', () => {
  it('lets requests through on errors and hangs, warns once per outage, probes once per interval, reports recovery', async () => {
    const logs = captureLogs();
    const clock = { now: 1_000_000 };
    const { state, limiter } = scriptedBackend();
    const wrapped = failOpen(limiter, { timeoutMs: 50, probeIntervalMs: 1000, logger: createLogger('info', logs.sink), now: () => clock.now });

    expect(await wrapped.check('k')).toMatchObject({ kind: 'counted' });
    state.mode = 'error';
    expect(await wrapped.check('k')).toEqual({ kind: 'unavailable' });
    // Within the probe interval the backend is not asked at all.
    const before = state.calls;
    for (let i = 0; i < 50; i++) expect(await wrapped.check('k')).toEqual({ kind: 'unavailable' });
    expect(state.calls).toBe(before);

    // Next probe: the backend now hangs; the timeout answers.
    clock.now += 1001;
    state.mode = 'hang';
    const started = performance.now();
    expect(await wrapped.check('k')).toEqual({ kind: 'unavailable' });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(state.calls).toBe(before + 1);

    clock.now += 1001;
    state.mode = 'ok';
    expect(await wrapped.check('k')).toMatchObject({ kind: 'counted' });
    const records = logs.records();
    expect(records.filter((r) => r.level === 'warn')).toHaveLength(1);
    expect(records.find((r) => r.level === 'warn')).toMatchObject({ backend: 'scripted', error: 'connect ECONNREFUSED' });
    expect(records.filter((r) => r.msg === 'rate limiter recovered')).toEqual([
      expect.objectContaining({ level: 'info', outage_ms: 2002, requests_let_through: 52 }),
    ]);

    // A second outage is a second warning.
    state.mode = 'error';
    await wrapped.check('k');
    expect(logs.records().filter((r) => r.level === 'warn')).toHaveLength(2);
  });
});
