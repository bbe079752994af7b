import { afterEach, describe, expect, it } from 'vitest';
import type { Runtime } from '../local/runtime.ts';
import { captureLogs, freePort, startRuntime, waitFor, type CapturedLogs } from './helpers.ts';
import { startUpstashRest, type UpstashRestFixture } from './fixtures/upstash-rest.ts';
import { inspector, REDIS_URL, redisAvailable, uniquePrefix } from './redis-helpers.ts';

const hasRedis = await redisAvailable();

const OUTAGE = 'rate limiter unavailable: letting requests through until it answers again';

async function awayFromWindowEdge(): Promise<void> {
  const intoWindow = Date.now() % 60_000;
  if (intoWindow > 57_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoWindow + 50));
}

/** A runtime whose config selects the Upstash REST backend (no REDIS_URL). */
/** Tests whose subject is not the timeout pass a generous one (a loaded 2-core machine). */
function upstashRuntime(url: string, token: string, prefix: string, limit: number, logs?: CapturedLogs, timeoutMs = 200): Promise<Runtime> {
  return startRuntime({
    env: {
      UPSTASH_REDIS_REST_URL: url,
      UPSTASH_REDIS_REST_TOKEN: token,
      RATE_LIMIT_PREFIX: prefix,
      RATE_LIMIT_PER_MINUTE: String(limit),
      RATE_LIMIT_TIMEOUT_MS: String(timeoutMs),
      LOG_LEVEL: 'info',
    },
    logSink: logs?.sink ?? (() => {}),
    processing: false,
  });
}

async function timedGet(runtime: Runtime): Promise<{ status: number; remaining: string | null; ms: number }> {
  const started = performance.now();
  const response = await runtime.app.request('/stats');
  await response.arrayBuffer();
  return { status: response.status, remaining: response.headers.get('ratelimit-remaining'), ms: performance.now() - started };
}

describe.skipIf(!hasRedis)('Upstash REST backend (over HTTP, fixture backed by real Redis)', () => {
  let fixture: UpstashRestFixture;
  afterEach(async () => fixture?.close());

  it('two app instances share one limit through the REST endpoint', async () => {
    fixture = await startUpstashRest(REDIS_URL);
    const prefix = uniquePrefix('upstash');
    const a = await upstashRuntime(fixture.url, fixture.token, prefix, 4, undefined, 5000);
    const b = await upstashRuntime(fixture.url, fixture.token, prefix, 4, undefined, 5000);
    await awayFromWindowEdge();
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await timedGet(i % 2 === 0 ? a : b));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 429, 429, 429, 429]);
    expect(results.slice(0, 4).map((r) => r.remaining)).toEqual(['3', '2', '1', '0']);

    // It really went over HTTP: the library's EVALSHA, a NOSCRIPT, then EVAL of the script.
    const names = fixture.commands.map((c) => c[0]);
    expect(names).toContain('EVALSHA');
    expect(names).toContain('EVAL');
    expect(fixture.commands.filter((c) => c[0] === 'EVALSHA').every((c) => c.slice(3).some((arg) => arg.startsWith(`${prefix}:rl:`)))).toBe(true);
    // Each instance refused one request from Redis, then from its ephemeral cache (no round trip).
    const calls = fixture.commands.filter((c) => c[0] === 'EVALSHA' || c[0] === 'EVAL').length;
    // 4 allowed (+1 EVAL after the first NOSCRIPT) + one refusal per instance = 7; without the
    // cache the two later refusals would make it 9.
    expect(calls).toBe(7);

    const redis = inspector();
    const [, keys] = await redis.scan('0', 'MATCH', `${prefix}:*`, 'COUNT', 100_000);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key).toMatch(new RegExp(`^${prefix}:rl:ip:unknown:\\d+$`));
  });

  it('a slow endpoint: requests pass after RATE_LIMIT_TIMEOUT_MS, one warning, an info once it answers again', async () => {
    fixture = await startUpstashRest(REDIS_URL);
    const logs = captureLogs();
    const runtime = await upstashRuntime(fixture.url, fixture.token, uniquePrefix('upstash-slow'), 100, logs);
    await waitFor(async () => (await timedGet(runtime)).remaining, 10_000, 'the limiter to count');
    const warningsBefore = logs.messages('warn').filter((m) => m === OUTAGE).length;
    fixture.delayMs = 2000;
    const during = [];
    for (let i = 0; i < 15; i++) {
      during.push(await timedGet(runtime));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(during.every((r) => r.status === 200 && r.remaining === null)).toBe(true);
    expect(Math.max(...during.map((r) => r.ms))).toBeLessThan(1500);
    expect(logs.messages('warn').filter((m) => m === OUTAGE)).toHaveLength(warningsBefore + 1);
    fixture.delayMs = 0;
    await waitFor(async () => (await timedGet(runtime)).remaining !== null, 10_000, 'counting to resume');
    expect(logs.messages('info')).toContain('rate limiter recovered');
    expect(logs.messages('warn').filter((m) => m === OUTAGE)).toHaveLength(warningsBefore + 1);
  });

  it('a wrong REST token fails open with one warning, and neither token reaches the log', async () => {
    fixture = await startUpstashRest(REDIS_URL);
    const logs = captureLogs();
    const wrongToken = 'wrong-rest-token-0123456789';
    const runtime = await upstashRuntime(fixture.url, wrongToken, uniquePrefix('upstash-auth'), 1, logs, 5000);
    for (let i = 0; i < 5; i++) expect(await timedGet(runtime)).toMatchObject({ status: 200, remaining: null });
    expect(logs.messages('warn').filter((m) => m === OUTAGE)).toHaveLength(1);
    expect(String(logs.records().find((r) => r.msg === OUTAGE)!.error)).toContain('Unauthorized');
    const all = logs.lines.join('\n');
    expect(all).not.toContain(wrongToken);
    expect(all).not.toContain(fixture.token);
  });
});

describe('Upstash REST backend, endpoint unreachable', () => {
  it('a closed port: the service starts and requests pass within the bound, one warning', async () => {
    const logs = captureLogs();
    const runtime = await upstashRuntime(`http://127.0.0.1:${await freePort()}`, 'some-token-0123456789', uniquePrefix('upstash-closed'), 1, logs);
    const results = [];
    for (let i = 0; i < 10; i++) results.push(await timedGet(runtime));
    expect(results.every((r) => r.status === 200 && r.ms < 1500)).toBe(true);
    expect(logs.messages('warn').filter((m) => m === OUTAGE)).toHaveLength(1);
    expect(logs.records().find((r) => r.msg === OUTAGE)).toMatchObject({ backend: 'upstash' });
  });
});
