import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config/config.ts';
import { createLogger } from '../lib/foundation/log.ts';
import { createIoredisRateLimiter, stripUnsupportedScriptFlags } from '../local/redis-rate-limit.ts';
import type { Runtime } from '../local/runtime.ts';
import { captureLogs, freePort, startRuntime, tempDir, waitFor, type CapturedLogs } from './helpers.ts';
import { killAll, startServe, type ServiceProcess } from './processes.ts';
import { inspector, REDIS_URL, redisAvailable, redisServerAvailable, startRedisServer, uniquePrefix } from './redis-helpers.ts';

const hasRedis = await redisAvailable();
const hasRedisServer = hasRedis && (await redisServerAvailable());

const OUTAGE = 'rate limiter unavailable: letting requests through until it answers again';
const RECOVERED = 'rate limiter recovered';

/** Requests straddling a minute boundary see the previous window's weight change: avoid the edge. */
async function awayFromWindowEdge(): Promise<void> {
  const intoWindow = Date.now() % 60_000;
  if (intoWindow > 57_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoWindow + 50));
}

/**
 * A runtime on the ioredis backend. Tests whose subject is not the timeout give Redis a
 * generous one: on a loaded 2-core machine the first connection can take longer than 200 ms.
 */
async function redisRuntime(url: string, prefix: string, limit: number, logs?: CapturedLogs, timeoutMs = 200): Promise<Runtime> {
  return startRuntime({
    env: { REDIS_URL: url, RATE_LIMIT_PREFIX: prefix, RATE_LIMIT_PER_MINUTE: String(limit), RATE_LIMIT_TIMEOUT_MS: String(timeoutMs), LOG_LEVEL: 'info' },
    logSink: logs?.sink ?? (() => {}),
    processing: false,
  });
}

interface Timed {
  status: number;
  remaining: string | null;
  ms: number;
}

async function timedGet(runtime: Runtime, path = '/stats'): Promise<Timed> {
  const started = performance.now();
  const response = await runtime.app.request(path);
  await response.arrayBuffer();
  return { status: response.status, remaining: response.headers.get('ratelimit-remaining'), ms: performance.now() - started };
}

/** Sends requests until one is counted (the lazy connection is up); returns its remaining count. */
async function untilCounted(runtime: Runtime): Promise<number> {
  return Number(await waitFor(async () => (await timedGet(runtime)).remaining, 10_000, 'the limiter to count'));
}

const outageWarnings = (logs: CapturedLogs) => logs.messages('warn').filter((m) => m === OUTAGE).length;
const recoveries = (logs: CapturedLogs) => logs.messages('info').filter((m) => m === RECOVERED).length;

async function keysWithPrefix(prefix: string): Promise<string[]> {
  const redis = inspector();
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

describe.skipIf(!hasRedis)('ioredis backend (real Redis)', () => {
  it('two app instances sharing one Redis enforce one combined limit', async () => {
    const prefix = uniquePrefix('shared');
    const a = await redisRuntime(REDIS_URL, prefix, 6, undefined, 5000);
    const b = await redisRuntime(REDIS_URL, prefix, 6, undefined, 5000);
    await awayFromWindowEdge();
    const results: Timed[] = [];
    for (let i = 0; i < 10; i++) results.push(await timedGet(i % 2 === 0 ? a : b));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200, 429, 429, 429, 429]);
    // One budget: the remaining count runs down across both instances.
    expect(results.slice(0, 6).map((r) => r.remaining)).toEqual(['5', '4', '3', '2', '1', '0']);

    // Namespaced: every key is under RATE_LIMIT_PREFIX, expires, and names the client.
    const keys = await keysWithPrefix(prefix);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatch(new RegExp(`^${prefix}:rl:ip:unknown:\\d+$`));
      expect(await inspector().pttl(key)).toBeGreaterThan(0);
    }
    // Another prefix is another namespace: its own full budget.
    const other = await redisRuntime(REDIS_URL, uniquePrefix('other'), 6, undefined, 5000);
    expect(await timedGet(other)).toMatchObject({ status: 200, remaining: '5' });
  });

  it('caches the flag-stripped script under its real SHA1, not the hash hard-coded in @upstash/ratelimit', async () => {
    const prefix = uniquePrefix('sha');
    const runtime = await redisRuntime(REDIS_URL, prefix, 100, undefined, 5000);
    await awayFromWindowEdge();
    for (let i = 0; i < 3; i++) expect(await timedGet(runtime)).toMatchObject({ status: 200, remaining: String(99 - i) });
    const source = readFileSync(createRequire(import.meta.url).resolve('@upstash/ratelimit'), 'utf8');
    const script = /var slidingWindowLimitScript = `([^`]*)`/.exec(source)![1]!;
    const libraryHash = createHash('sha1').update(script).digest('hex');
    const realHash = createHash('sha1').update(stripUnsupportedScriptFlags(script)).digest('hex');
    expect(libraryHash).toBe('74740bb3d7792848093cdef586b6b6037c455fd6');
    expect(await inspector().script('EXISTS', realHash, libraryHash)).toEqual([1, 0]);
  });

  it('strips only the allow-key-locking flag', () => {
    expect(stripUnsupportedScriptFlags('#!lua flags=allow-key-locking\n  return 1')).toBe('  return 1');
    expect(stripUnsupportedScriptFlags('#!lua flags=no-writes,allow-key-locking\nreturn 1')).toBe('#!lua flags=no-writes\nreturn 1');
    expect(stripUnsupportedScriptFlags('return 1')).toBe('return 1');
    expect(stripUnsupportedScriptFlags('#!lua\nreturn 1')).toBe('#!lua\nreturn 1');
  });

  it('Redis at a closed port: the service starts, requests pass within the bound, one warning', async () => {
    const logs = captureLogs();
    const started = performance.now();
    const runtime = await redisRuntime(`redis://127.0.0.1:${await freePort()}`, uniquePrefix('closed'), 2, logs);
    expect(performance.now() - started).toBeLessThan(1500);
    const results: Timed[] = [];
    // ~2.5 s of traffic: several probes of the dead backend, still one warning.
    for (let i = 0; i < 25; i++) {
      results.push(await timedGet(runtime));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(results.every((r) => r.status === 200 && r.remaining === null)).toBe(true);
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(1500);
    expect(logs.messages('warn').filter((m) => m === OUTAGE)).toHaveLength(1);
    const warning = logs.records().find((r) => r.msg === OUTAGE)!;
    expect(warning).toMatchObject({ backend: 'redis', timeout_ms: 200 });
    expect(String(warning.error)).toMatch(/ECONNREFUSED|writeable|closed/);
  });

  it('close() stops reconnecting to a dead Redis, so it cannot keep the process alive', async () => {
    const config = loadConfig({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, RATE_LIMIT_PREFIX: uniquePrefix('close') });
    const made = createIoredisRateLimiter({ ...config, redisUrl: config.redisUrl! }, createLogger('silent'))!;
    let attempts = 0;
    made.redis.on('connecting', () => attempts++);
    expect(await made.limiter.check('ip:x')).toEqual({ kind: 'unavailable' });
    await waitFor(() => attempts >= 2, 5000, 'ioredis to retry the dead Redis');
    await made.limiter.close();
    const afterClose = attempts;
    // Retries were 100-400 ms apart before close; none in the next 1.5 s means no timer is left.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(attempts).toBe(afterClose);
    expect(made.redis.status).not.toBe('ready');
  });
});

describe.skipIf(!hasRedisServer)('Redis dying and slowing down (own redis-server)', () => {
  it('killed mid-test: requests keep passing within the bound, one warning, then an info when it is back', async () => {
    const server = await startRedisServer();
    const logs = captureLogs();
    const runtime = await redisRuntime(server.url, uniquePrefix('killed'), 1000, logs);
    expect(await untilCounted(runtime)).toBeLessThan(1000);
    const warningsBefore = outageWarnings(logs);
    const recoveriesBefore = recoveries(logs);

    await server.kill();
    const during: Timed[] = [];
    for (let i = 0; i < 20; i++) {
      during.push(await timedGet(runtime));
      await new Promise((resolve) => setTimeout(resolve, 75));
    }
    expect(during.every((r) => r.status === 200)).toBe(true);
    expect(Math.max(...during.map((r) => r.ms))).toBeLessThan(1500);
    expect(outageWarnings(logs)).toBe(warningsBefore + 1);

    await server.start();
    // Reconnect backs off to 5 s and a probe goes through once a second.
    await waitFor(async () => (await timedGet(runtime)).remaining !== null, 20_000, 'counting to resume');
    expect(recoveries(logs)).toBe(recoveriesBefore + 1);
    expect(outageWarnings(logs)).toBe(warningsBefore + 1);
    const recovered = logs.records().filter((r) => r.msg === RECOVERED).at(-1)!;
    expect(recovered.requests_let_through).toBeGreaterThanOrEqual(20);
  });

  it('its connection killed (CLIENT KILL): requests never fail, and counting continues on the new connection', async () => {
    const server = await startRedisServer();
    const prefix = uniquePrefix('clientkill');
    const runtime = await redisRuntime(server.url, prefix, 1000);
    await awayFromWindowEdge();
    const before = await untilCounted(runtime);
    const admin = inspector(server.url);
    const clients = String(await admin.client('LIST'))
      .split('\n')
      .filter((line) => line.includes(`name=${prefix}-ratelimit`));
    expect(clients).toHaveLength(1);
    const id = /\bid=(\d+)/.exec(clients[0]!)![1]!;
    expect(await admin.client('KILL', 'ID', id)).toBe(1);

    const after: Timed[] = [];
    for (let i = 0; i < 10; i++) after.push(await timedGet(runtime));
    expect(after.every((r) => r.status === 200 && r.ms < 1500)).toBe(true);
    const counted = await waitFor(async () => (await timedGet(runtime)).remaining, 10_000, 'counting on a new connection');
    // The count lives in Redis, not in the connection: it went on from where it was.
    expect(Number(counted)).toBeLessThan(before);
  });

  it('slow (CLIENT PAUSE): requests are let through after RATE_LIMIT_TIMEOUT_MS, one warning', async () => {
    const server = await startRedisServer();
    const logs = captureLogs();
    const runtime = await redisRuntime(server.url, uniquePrefix('slow'), 1000, logs);
    await untilCounted(runtime);
    const warningsBefore = outageWarnings(logs);
    await inspector(server.url).client('PAUSE', 3000, 'ALL');
    const during: Timed[] = [];
    for (let i = 0; i < 10; i++) during.push(await timedGet(runtime));
    expect(during.every((r) => r.status === 200 && r.remaining === null)).toBe(true);
    expect(Math.max(...during.map((r) => r.ms))).toBeLessThan(1500);
    // The first one waited for the timeout; the rest passed at once (no probe due yet).
    expect(during[0]!.ms).toBeGreaterThanOrEqual(150);
    expect(outageWarnings(logs)).toBe(warningsBefore + 1);
    expect(String(logs.records().filter((r) => r.msg === OUTAGE).at(-1)!.error)).toContain('no answer within 200 ms');
    await waitFor(async () => (await timedGet(runtime)).remaining !== null, 15_000, 'counting to resume after the pause');
    expect(logs.messages('info')).toContain(RECOVERED);
  });

  it('serve with a hung Redis: starts, answers, and exits 0 on SIGTERM without waiting for Redis', async () => {
    const server = await startRedisServer();
    const services: ServiceProcess[] = [];
    try {
      await inspector(server.url).client('PAUSE', 30_000, 'ALL');
      const service = await startServe({ DATABASE_DSN: join(tempDir(), 'tasks.db'), REDIS_URL: server.url, RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_PREFIX: uniquePrefix('serve') });
      services.push(service);
      const started = performance.now();
      const response = await fetch(`${service.url}/stats`);
      expect(response.status).toBe(200);
      expect(performance.now() - started).toBeLessThan(1500);
      await service.waitForLog((r) => r.msg === OUTAGE);
      const stopAt = performance.now();
      service.proc.kill('SIGTERM');
      expect(await service.exited).toBe(0);
      expect(performance.now() - stopAt).toBeLessThan(10_000);
    } finally {
      killAll(services);
    }
  });
});
