import { describe, expect, it } from 'vitest';
import { startRuntime, tempDbUrl } from './helpers.ts';
import { inspector, redisAvailable, REDIS_URL, uniquePrefix } from './redis-helpers.ts';

/**
 * Who may use the dashboard and how often, below the browser (test/dashboard.browser.test.ts
 * drives the pages): its own page limit apart from the API's, with assets never limited and a
 * limited page answered as a page.
 */

const redisOk = await redisAvailable();

const page = (app: { fetch(request: Request): Response | Promise<Response> }, path: string, init: RequestInit = {}) =>
  Promise.resolve(app.fetch(new Request(`http://127.0.0.1${path}`, init)));

describe('dashboard rate limit', () => {
  it('pages do not spend the API budget, and assets and the favicon are never limited', async () => {
    const runtime = await startRuntime({ processing: false, env: { RATE_LIMIT_PER_MINUTE: '5', DASHBOARD_RATE_LIMIT_PER_MINUTE: '30' } });
    // A quick browse: 20 page views, each with its style sheet, script and icon, and the favicon.
    for (let i = 0; i < 20; i++) {
      for (const path of ['/ui', '/ui/assets/style.css?v=1', '/ui/assets/app.js?v=1', '/ui/assets/icon.svg?v=1', '/favicon.ico']) {
        const response = await page(runtime.app, path);
        expect(response.status, `${path} #${i}`).toBe(200);
      }
    }
    // The API's own budget is untouched by all that.
    expect((await page(runtime.app, '/stats')).status).toBe(200);
    // Past the dashboard's own limit, pages are refused; assets still are not.
    const statuses = [];
    for (let i = 0; i < 12; i++) statuses.push((await page(runtime.app, '/ui/failed')).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(statuses.slice(10)).toEqual([429, 429]);
    for (let i = 0; i < 50; i++) expect((await page(runtime.app, '/ui/assets/style.css')).status).toBe(200);
    expect((await page(runtime.app, '/favicon.ico')).headers.get('content-type')).toBe('image/svg+xml');
  });

  it('a limited page is an HTML page with status 429 and Retry-After, not JSON', async () => {
    const runtime = await startRuntime({ processing: false, env: { DASHBOARD_RATE_LIMIT_PER_MINUTE: '2' } });
    await page(runtime.app, '/ui');
    await page(runtime.app, '/ui/tasks');
    const limited = await page(runtime.app, '/ui/tasks');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toContain('text/html');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.headers.get('ratelimit-limit')).toBe('2');
    expect(limited.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await limited.text();
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('Too many requests');
    expect(html).toMatch(/try again in \d+ s/);
    expect(html).toContain('/ui/assets/style.css');
  });

  it.skipIf(!redisOk)('with REDIS_URL two instances share one page budget, under keys of its own', async () => {
    const prefix = uniquePrefix('ui-pages');
    const env = { DATABASE_URL: tempDbUrl(), REDIS_URL, RATE_LIMIT_PREFIX: prefix, RATE_LIMIT_PER_MINUTE: '100', DASHBOARD_RATE_LIMIT_PER_MINUTE: '4' };
    const [a, b] = [await startRuntime({ processing: false, env }), await startRuntime({ processing: false, env })];
    const statuses = [];
    for (const app of [a.app, b.app, a.app, b.app, a.app, b.app]) statuses.push((await page(app, '/ui/failed')).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    const keys = await inspector().keys(`${prefix}:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((key) => key.startsWith(`${prefix}:ui:rl:`))).toBe(true);
  });

  it('DASHBOARD_RATE_LIMIT_PER_MINUTE=0 turns the page limit off', async () => {
    const runtime = await startRuntime({ processing: false, env: { DASHBOARD_RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_PER_MINUTE: '2' } });
    for (let i = 0; i < 10; i++) expect((await page(runtime.app, '/ui/failed')).status).toBe(200);
  });
});
