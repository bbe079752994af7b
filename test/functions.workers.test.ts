import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskJson } from '../lib/tasks/model.ts';
import { startWorkerd, useBundles } from './bundles.ts';
import { waitFor } from './helpers.ts';
import { startUpstashRest, type UpstashRestFixture } from './fixtures/upstash-rest.ts';
import { redisAvailable, REDIS_URL, uniquePrefix } from './redis-helpers.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * The built Workers bundle (dist/workers/index.mjs, exactly what `wrangler deploy` uploads)
 * in real workerd via miniflare, against a real sqld: the API over `fetch`, the cron trigger
 * over `scheduled()`. No nodejs_compat flag: the bundle must run on plain Workers.
 */
const available = await sqldAvailable();
const CRON_SECRET = 'workers-cron-secret-0123456789';

describe.skipIf(!available)('Cloudflare Workers bundle in workerd', () => {
  const sqld = useSqld();
  const bundles = useBundles(['workers']);
  let mf: Miniflare;

  beforeAll(async () => {
    mf = await startWorkerd(bundles, {
      DATABASE_URL: sqld.url,
      CRON_SECRET,
      SIMULATE_MIN_MS: '0',
      SIMULATE_MAX_MS: 0, // wrangler `vars` may be numbers
      LOG_LEVEL: 'warn',
      POLL_BUDGET_SECONDS: '5',
      RATE_LIMIT_PER_MINUTE: '0',
    });
  });
  afterAll(async () => {
    await mf?.dispose();
  });

  const call = async (method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}) => {
    const response = await mf.dispatchFetch(`http://task-pool.test${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('creates through fetch, completes on the cron trigger, and reads back', async () => {
    const created = await call('POST', '/tasks', { body: { title: 'edge', description: 'from workerd' } });
    expect(created.status).toBe(202);
    const id = created.body.id as string;
    expect(created.body.status).toBe('pending');

    // miniflare types Fetcher through @cloudflare/workers-types, which is not installed.
    const worker = (await mf.getWorker()) as unknown as {
      scheduled(options: { cron?: string; scheduledTime?: Date }): Promise<{ outcome: string }>;
    };
    const result = await worker.scheduled({ cron: '* * * * *', scheduledTime: new Date() });
    expect(result.outcome).toBe('ok');

    const done = await waitFor(async () => {
      const { body } = await call('GET', `/tasks/${id}`);
      return body.status === 'completed' ? (body as unknown as TaskJson) : undefined;
    }, 10_000, 'the task to complete after scheduled()');
    expect(done.attempts).toBe(1);
    expect(done.locked_by).toMatch(/^workers:/);
    expect(done.result).toEqual({ slept_ms: 0 });
  });

  it('?wait= holds a GET until the cron-triggered poll completes the task (re-reads: no in-process news on the edge)', async () => {
    const created = await call('POST', '/tasks', { body: { title: 'wait', description: 'on the edge' } });
    const id = created.body.id as string;
    let answered = false;
    const held = call('GET', `/tasks/${id}?wait=20`).finally(() => (answered = true));
    // Nothing processes the task until scheduled() runs: the request must still be held.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(answered).toBe(false);
    const worker = (await mf.getWorker()) as unknown as { scheduled(options: { cron?: string; scheduledTime?: Date }): Promise<{ outcome: string }> };
    expect((await worker.scheduled({ cron: '* * * * *', scheduledTime: new Date() })).outcome).toBe('ok');
    const { status, body } = await held;
    expect(status).toBe(200);
    expect(body.status).toBe('completed');
    expect((await call('GET', `/tasks/${id}?wait=61`)).status).toBe(400);
  });

  it('lists with a cursor, gets, cancels, and answers unknown ids with 404 JSON', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await call('POST', '/tasks', { body: { title: `t${i}`, description: 'd', delay_seconds: 3600 } })).body.id as string);
    const page = await call('GET', '/tasks?status=pending&limit=2');
    expect(page.status).toBe(200);
    expect(page.body.count).toBe(2);
    expect((page.body.tasks as TaskJson[]).map((t) => t.id)).toEqual([ids[2], ids[1]]);
    const next = await call('GET', `/tasks?status=pending&limit=2&cursor=${page.body.next_cursor as string}`);
    expect((next.body.tasks as TaskJson[]).map((t) => t.id)).toContain(ids[0]);

    const cancelled = await call('POST', `/tasks/${ids[0]}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect((await call('POST', `/tasks/${ids[0]}/cancel`)).status).toBe(409);
    expect((await call('GET', `/tasks/${ids[1]}`)).body.status).toBe('pending');

    const missing = await call('GET', '/tasks/00000000-0000-7000-8000-000000000000');
    expect(missing).toEqual({ status: 404, body: { message: 'task not found', code: 'not_found' } });
    expect((await call('GET', '/stats')).status).toBe(200);
  });

  it('POST /poll: 401 without or with a wrong secret, 200 and a summary with it', async () => {
    const none = await call('POST', '/poll');
    expect(none.status).toBe(401);
    expect(none.body.code).toBe('unauthorized');
    expect((await call('POST', '/poll', { headers: { authorization: 'Bearer wrong-secret-0123456789' } })).status).toBe(401);

    const { body: task } = await call('POST', '/tasks', { body: { title: 'via http poll', description: 'd' } });
    const ok = await call('POST', '/poll', { headers: { authorization: `Bearer ${CRON_SECRET}` } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ claimed: expect.any(Number), completed: expect.any(Number), duration_ms: expect.any(Number) });
    expect(ok.body.completed).toBeGreaterThanOrEqual(1);
    expect((await call('GET', `/tasks/${task.id as string}`)).body.status).toBe('completed');
  });
});

/**
 * Rate limiting in workerd over Upstash REST (lib/rate-limit/upstash-rest-client.ts): a real
 * Redis behind the REST fixture, @upstash/ratelimit's real scripts.
 */
const redisUp = await redisAvailable();

describe.skipIf(!available || !redisUp)('Workers bundle: rate limiting over Upstash REST', () => {
  const sqld = useSqld();
  const bundles = useBundles(['workers']);
  let mf: Miniflare;
  let upstash: UpstashRestFixture;

  beforeAll(async () => {
    upstash = await startUpstashRest(REDIS_URL);
    mf = await startWorkerd(bundles, {
      DATABASE_URL: sqld.url,
      LOG_LEVEL: 'error',
      RATE_LIMIT_PER_MINUTE: '3',
      // This test counts; failing open (its own tests) must not kick in on a loaded machine.
      RATE_LIMIT_TIMEOUT_MS: '5000',
      RATE_LIMIT_PREFIX: uniquePrefix('workers'),
      UPSTASH_REDIS_REST_URL: upstash.url,
      UPSTASH_REDIS_REST_TOKEN: upstash.token,
    });
  });
  afterAll(async () => {
    await mf?.dispose();
    await upstash?.close();
  });

  it('counts requests in Redis and answers the fourth in a minute with 429', async () => {
    const statuses: number[] = [];
    const headers: Headers[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await mf.dispatchFetch('http://task-pool.test/stats', { headers: { 'cf-connecting-ip': '198.51.100.4' } });
      statuses.push(response.status);
      headers.push(new Headers([...response.headers]));
      await response.text();
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(headers.map((h) => h.get('ratelimit-remaining'))).toEqual(['2', '1', '0', '0']);
    expect(headers[3]!.get('ratelimit-limit')).toBe('3');
    expect(Number(headers[3]!.get('retry-after'))).toBeGreaterThan(0);
    expect(upstash.commands.map((c) => c[0]!.toUpperCase())).toContain('EVALSHA');
    // Another client address has its own budget (cf-connecting-ip is the identity on Workers).
    expect((await mf.dispatchFetch('http://task-pool.test/stats', { headers: { 'cf-connecting-ip': '198.51.100.5' } })).status).toBe(200);
  });
});
