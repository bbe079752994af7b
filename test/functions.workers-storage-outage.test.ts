import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerd, useBundles } from './bundles.ts';
import { freePort } from './helpers.ts';

/**
 * The Workers bundle in real workerd with its database unreachable (a loopback port nobody
 * listens on): workerd's fetch fails with its own wording, not undici's `fetch failed`, and
 * must still be a 503 db_unavailable with Retry-After, not a 500.
 */
describe('Workers bundle with the database unreachable', () => {
  const bundles = useBundles(['workers']);
  let mf: Miniflare;

  beforeAll(async () => {
    mf = await startWorkerd(bundles, { DATABASE_URL: `http://127.0.0.1:${await freePort()}`, LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0' });
  });
  afterAll(async () => {
    await mf?.dispose();
  });

  it('POST /tasks and GET /tasks answer 503 db_unavailable with Retry-After', async () => {
    for (const [method, body] of [['POST', JSON.stringify({ title: 't', description: 'd' })], ['GET', undefined]] as const) {
      const response = await mf.dispatchFetch('http://task-pool.test/tasks', { method, headers: { 'content-type': 'application/json' }, body });
      expect(response.headers.get('retry-after')).toBe('2');
      expect({ status: response.status, body: await response.json() }).toEqual({ status: 503, body: { message: 'database is unavailable', code: 'db_unavailable' } });
    }
  });
});
