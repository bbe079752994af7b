import { createClient } from '@libsql/client';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerd, useBundles } from './bundles.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * Schedules in the built Workers bundle, in real workerd, against a real sqld: created over
 * `fetch`, fired by the cron trigger (`scheduled()`), however late it runs; two isolates
 * polling at the same moment create one task per occurrence, none missing.
 */
const available = await sqldAvailable();

type Scheduled = { scheduled(options: { cron?: string; scheduledTime?: Date }): Promise<{ outcome: string }> };

describe.skipIf(!available)('schedules in the Workers bundle (workerd + sqld)', () => {
  const sqld = useSqld();
  const bundles = useBundles(['workers']);
  const isolates: Miniflare[] = [];
  const bindings = () => ({ DATABASE_URL: sqld.url, SIMULATE_MIN_MS: '0', SIMULATE_MAX_MS: '0', LOG_LEVEL: 'warn', POLL_BUDGET_SECONDS: '2', RATE_LIMIT_PER_MINUTE: '0' });

  beforeAll(async () => {
    isolates.push(await startWorkerd(bundles, bindings()), await startWorkerd(bundles, bindings()));
  });
  afterAll(async () => {
    await Promise.all(isolates.map((mf) => mf.dispose()));
  });

  const call = async (mf: Miniflare, method: string, path: string, body?: unknown) => {
    const response = await mf.dispatchFetch(`http://task-pool.test${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: response.status === 204 ? {} : ((await response.json()) as Record<string, unknown>) };
  };
  const scheduled = async (mf: Miniflare) => ((await mf.getWorker()) as unknown as Scheduled).scheduled({ cron: '* * * * *', scheduledTime: new Date() });
  const keys = async (name: string) => {
    const client = createClient({ url: sqld.url });
    try {
      const result = await client.execute({ sql: 'SELECT idempotency_key FROM tasks WHERE idempotency_key LIKE ? ORDER BY idempotency_key', args: [`schedule:${name}:%`] });
      return result.rows.map((r) => String(r.idempotency_key));
    } finally {
      client.close();
    }
  };

  it('PUT over fetch, then scheduled polls fire it: two at once make one task per occurrence', async () => {
    const [a, b] = isolates as [Miniflare, Miniflare];
    const put = await call(a, 'PUT', '/schedules/edge-tick', { cron: '* * * * * *', missed: 'all', task: { title: 'edge tick', description: 'from a schedule' } });
    expect(put.status).toBe(201);
    const first = Date.parse(put.body.next_run_at as string);

    for (let round = 0; round < 3; round++) {
      await new Promise((resolve) => setTimeout(resolve, 1300));
      const results = await Promise.all([scheduled(a), scheduled(b)]);
      expect(results.map((r) => r.outcome)).toEqual(['ok', 'ok']);
    }

    const schedule = (await call(b, 'GET', '/schedules/edge-tick')).body;
    const next = Date.parse(schedule.next_run_at as string);
    const last = Date.parse(schedule.last_run_at as string);
    expect(next).toBe(last + 1000);
    const expected = Array.from({ length: (last - first) / 1000 + 1 }, (_, i) => `schedule:edge-tick:${new Date(first + i * 1000).toISOString()}`);
    expect(expected.length).toBeGreaterThanOrEqual(3);
    expect(await keys('edge-tick')).toEqual(expected);

    const stats = (await call(a, 'GET', '/stats')).body as { schedules: unknown };
    expect(stats.schedules).toEqual({ total: 1, paused: 0 });
  });

  it('a poll after downtime follows the missed policy; delete stops it', async () => {
    const [a] = isolates as [Miniflare];
    await call(a, 'PUT', '/schedules/edge-once', { cron: '* * * * * *', missed: 'once', task: { title: 'once', description: 'd' } });
    await new Promise((resolve) => setTimeout(resolve, 3300)); // three or more occurrences, no poll
    await scheduled(a);
    expect(await keys('edge-once')).toHaveLength(1);
    const schedule = (await call(a, 'GET', '/schedules/edge-once')).body;
    expect(Date.parse(schedule.next_run_at as string)).toBeGreaterThan(Date.parse(schedule.last_run_at as string));

    expect((await call(a, 'DELETE', '/schedules/edge-once')).status).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await scheduled(a);
    expect(await keys('edge-once')).toHaveLength(1);
  });
});
