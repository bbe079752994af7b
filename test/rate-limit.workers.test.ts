import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerd, useBundles } from './bundles.ts';
import { startUpstashRest, type UpstashRestFixture } from './fixtures/upstash-rest.ts';
import { freePort } from './helpers.ts';
import { REDIS_URL, redisAvailable, uniquePrefix } from './redis-helpers.ts';

/**
 * Rate limiting and API_TOKEN inside the built Workers bundle in real workerd: the Upstash
 * REST backend (over the fixture, backed by real Redis) and `cf-connecting-ip` as identity.
 * Only routes that answer before the database are called (limited `/openapi.json`, and 401s),
 * so the database URL can point nowhere.
 */
const hasRedis = await redisAvailable();
const API_TOKEN = 'workers-api-token-0123456789';

describe.skipIf(!hasRedis)('rate limiting and auth in the Workers bundle (workerd)', () => {
  const bundles = useBundles(['workers']);
  let mf: Miniflare;
  let fixture: UpstashRestFixture;
  const prefix = uniquePrefix('workers');

  beforeAll(async () => {
    fixture = await startUpstashRest(REDIS_URL);
    mf = await startWorkerd(bundles, {
      DATABASE_URL: `http://127.0.0.1:${await freePort()}`,
      API_TOKEN,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE: '3',
      RATE_LIMIT_PREFIX: prefix,
      // The subject here is counting, not the timeout: room for a loaded machine.
      RATE_LIMIT_TIMEOUT_MS: '5000',
      UPSTASH_REDIS_REST_URL: fixture.url,
      UPSTASH_REDIS_REST_TOKEN: fixture.token,
    });
  });
  afterAll(async () => {
    await mf?.dispose();
    await fixture?.close();
  });

  const get = async (path: string, headers: Record<string, string>) => {
    const response = await mf.dispatchFetch(`http://task-pool.test${path}`, { headers });
    return {
      status: response.status,
      remaining: response.headers.get('ratelimit-remaining'),
      retryAfter: response.headers.get('retry-after'),
      body: (await response.json()) as Record<string, unknown>,
    };
  };

  it('counts per cf-connecting-ip through Upstash REST: 3 allowed, then 429 with Retry-After', async () => {
    const intoWindow = Date.now() % 60_000;
    if (intoWindow > 57_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoWindow + 50));
    const client = { 'cf-connecting-ip': '198.51.100.20' };
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await get('/openapi.json', client));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 429]);
    expect(results.map((r) => r.remaining)).toEqual(['2', '1', '0', '0']);
    expect(results[3]!.body).toEqual({ message: 'rate limit exceeded', code: 'rate_limited' });
    expect(Number(results[3]!.retryAfter)).toBeGreaterThanOrEqual(1);
    // Another address: its own budget. X-Forwarded-For does not make a new client.
    expect((await get('/openapi.json', { 'cf-connecting-ip': '198.51.100.21' })).remaining).toBe('2');
    expect((await get('/openapi.json', { ...client, 'x-forwarded-for': '203.0.113.9' })).status).toBe(429);
    // The counting happened in Redis, through the REST endpoint.
    expect(fixture.commands.some((c) => c[0] === 'EVALSHA' && c.some((arg) => arg.startsWith(`${prefix}:rl:ip:198.51.100.20:`)))).toBe(true);
  });

  it('API_TOKEN guards /tasks and /stats; /healthz stays open', async () => {
    for (const path of ['/tasks', '/stats', '/tasks/00000000-0000-7000-8000-000000000000']) {
      const response = await get(path, { 'cf-connecting-ip': '198.51.100.30', authorization: 'Bearer not-the-token-0123456789' });
      expect(response.status).toBe(401);
      expect(response.body).toEqual({ message: 'missing or invalid bearer token', code: 'unauthorized' });
    }
    expect((await get('/healthz', {})).status).toBe(200);
  });
});
