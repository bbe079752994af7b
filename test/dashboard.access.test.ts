import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { createLogger } from '../lib/foundation/log.ts';
import { formatTaskId } from '../lib/tasks/ids.ts';
import { registerDashboard } from '../lib/ui/dashboard.tsx';
import { createAppServices } from '../lib/wiring/app-services.ts';
import { openDatabase } from '../local/database.ts';
import { listen } from '../local/server.ts';
import { startRuntime, submitInput, tempDbUrl, testConfig } from './helpers.ts';
import { killAll, startServe, type ServiceProcess } from './processes.ts';
import { inspector, redisAvailable, REDIS_URL, uniquePrefix } from './redis-helpers.ts';

/**
 * Who may use the dashboard and how often, below the browser (test/dashboard.browser.test.ts
 * drives the pages): its own page limit apart from the API's, with assets never limited and a
 * limited page answered as a page; sessions that a logout or a new API_TOKEN ends on every
 * instance; failed log-ins held back per address; a Secure cookie only on a trusted proxy's word.
 */

const redisOk = await redisAvailable();
const services: ServiceProcess[] = [];
afterAll(() => killAll(services));

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

const TOKEN = 'dashboard-access-token-0123456789';
const ORIGIN = 'http://127.0.0.1';
type App = { fetch(request: Request): Response | Promise<Response> };

/** Logs in through the form: the session cookie (`name=value`) and its CSRF token. */
async function logIn(app: App, token = TOKEN): Promise<{ cookie: string; csrf: string }> {
  const response = await page(app, '/ui/login', { method: 'POST', headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${encodeURIComponent(token)}&next=%2Fui` });
  expect(response.status).toBe(303);
  const cookie = /^(task_pool_session=[^;]+)/.exec(response.headers.get('set-cookie') ?? '')?.[1];
  expect(cookie).toBeDefined();
  const html = await (await page(app, '/ui/tasks', { headers: { cookie: cookie! } })).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  expect(csrf).toBeDefined();
  return { cookie: cookie!, csrf: csrf! };
}

const post = (app: App, path: string, session: { cookie: string; csrf: string }, body = '') =>
  page(app, path, { method: 'POST', headers: { origin: ORIGIN, cookie: session.cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${encodeURIComponent(session.csrf)}${body ? `&${body}` : ''}` });

/** 200 when the cookie opens the task list, else the redirect's status (303 to the login form). */
const opens = async (app: App, cookie: string) => (await page(app, '/ui/tasks', { headers: { cookie } })).status;

describe('dashboard sessions end on the server', () => {
  it('logout ends the session: the old cookie opens no page and its CSRF token cancels nothing', async () => {
    const runtime = await startRuntime({ processing: false, env: { API_TOKEN: TOKEN } });
    const { task } = await runtime.service.submit(submitInput({ delaySeconds: 3600 }));
    const session = await logIn(runtime.app);
    expect(await opens(runtime.app, session.cookie)).toBe(200);
    const out = await post(runtime.app, '/ui/logout', session);
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/ui/login?ended=1');
    const loginPage = await (await page(runtime.app, out.headers.get('location')!)).text();
    expect(loginPage).toContain('every dashboard session');

    // The browser dropped the cookie; someone who kept a copy gets nothing with it.
    expect(await opens(runtime.app, session.cookie)).toBe(303);
    const cancel = await post(runtime.app, `/ui/tasks/${formatTaskId(task.id)}/cancel`, session);
    expect(cancel.status).toBe(401);
    expect((await runtime.service.get(task.id)).status).toBe('pending');
    // A new login works.
    expect(await opens(runtime.app, (await logIn(runtime.app)).cookie)).toBe(200);
  });

  it('one identity (the API token): a logout ends every session, on every instance sharing the database', async () => {
    const env = { API_TOKEN: TOKEN, DATABASE_URL: tempDbUrl() };
    const [a, b] = [await startRuntime({ processing: false, env }), await startRuntime({ processing: false, env })];
    const first = await logIn(a.app);
    const second = await logIn(b.app);
    for (const app of [a.app, b.app]) for (const s of [first, second]) expect(await opens(app, s.cookie)).toBe(200);
    expect((await post(b.app, '/ui/logout', second)).status).toBe(303);
    for (const app of [a.app, b.app]) for (const s of [first, second]) expect(await opens(app, s.cookie)).toBe(303);
    expect((await post(a.app, '/ui/logout', first)).status).toBe(401);
    const again = await logIn(a.app);
    expect(await opens(b.app, again.cookie)).toBe(200);
  });

  it('a logout in one process ends the session in another process on the same file', async () => {
    const env = { API_TOKEN: TOKEN, DATABASE_URL: tempDbUrl(), RATE_LIMIT_PER_MINUTE: '0' };
    const [a, b] = [await startServe(env), await startServe(env)];
    services.push(a, b);
    // The same requests as in process, sent to a server (its own origin in Origin).
    const over = (url: string): App => ({
      fetch: async (request) => {
        const { pathname, search } = new URL(request.url);
        const headers = new Headers(request.headers);
        if (headers.has('origin')) headers.set('origin', url);
        return fetch(`${url}${pathname}${search}`, { method: request.method, headers, body: request.method === 'POST' ? await request.text() : undefined, redirect: 'manual' });
      },
    });
    const session = await logIn(over(a.url));
    expect(await opens(over(b.url), session.cookie)).toBe(200);
    expect((await post(over(a.url), '/ui/logout', session)).status).toBe(303);
    expect(await opens(over(b.url), session.cookie)).toBe(303);
    expect(await opens(over(a.url), session.cookie)).toBe(303);
  });

  it('a changed API_TOKEN ends every session issued under the old one', async () => {
    const url = tempDbUrl();
    const before = await startRuntime({ processing: false, env: { API_TOKEN: TOKEN, DATABASE_URL: url } });
    const session = await logIn(before.app);
    const after = await startRuntime({ processing: false, env: { API_TOKEN: `${TOKEN}-rotated`, DATABASE_URL: url } });
    expect(await opens(after.app, session.cookie)).toBe(303);
    expect((await post(after.app, '/ui/tasks/bulk', session, 'op=cancel-all&confirm=yes')).status).toBe(401);
    expect(await opens(after.app, (await logIn(after.app, `${TOKEN}-rotated`)).cookie)).toBe(200);
  });
});

/** An app whose client address is the request's `x-peer` header (the platform's word, as on Node or Workers). */
async function appWithPeers(env: Record<string, string>): Promise<App> {
  const config = testConfig({ API_TOKEN: TOKEN, ...env });
  const driver = await openDatabase({ url: config.databaseUrl });
  onTestFinished(() => driver.close());
  return createAppServices({ config, logger: createLogger('silent'), driver, clientAddress: (c) => c.req.header('x-peer'), dashboard: registerDashboard }).app;
}

const tryLogIn = (app: App, peer: string, token: string) =>
  page(app, '/ui/login', { method: 'POST', headers: { origin: ORIGIN, 'x-peer': peer, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${encodeURIComponent(token)}` });

describe('failed log-ins are throttled per address', () => {
  it('a burst of wrong tokens: five refused, one more, then 429 pages with Retry-After, with rate limiting off; another address logs in', async () => {
    const app = await appWithPeers({ RATE_LIMIT_PER_MINUTE: '0' });
    const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => tryLogIn(app, '198.51.100.7', `wrong-token-${i}-0123456789`)));
    const statuses = burst.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(6);
    expect(statuses.filter((s) => s === 429)).toHaveLength(24);
    const limited = burst.find((r) => r.status === 429)!;
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(limited.headers.get('content-type')).toContain('text/html');
    const html = await limited.text();
    expect(html).toContain('Too many failed log-ins from your address');
    expect(html).toContain('<form method="post" action="/ui/login"');

    // The right token from that address waits too (it cannot be told from a lucky guess) ...
    expect((await tryLogIn(app, '198.51.100.7', TOKEN)).status).toBe(429);
    // ... but not from another address (IPv4 or IPv6).
    expect((await tryLogIn(app, '203.0.113.9', TOKEN)).status).toBe(303);
    expect((await tryLogIn(app, '2001:db8:0:2::1', TOKEN)).status).toBe(303);

    // After the wait, the right token passes and the address starts over.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await tryLogIn(app, '198.51.100.7', TOKEN)).status).toBe(303);
    for (let i = 0; i < 5; i++) expect((await tryLogIn(app, '198.51.100.7', 'wrong-again-0123456789')).status).toBe(401);
  });

  it('failed log-ins do not spend the API budget of their address', async () => {
    const app = await appWithPeers({ RATE_LIMIT_PER_MINUTE: '3' });
    for (let i = 0; i < 10; i++) await tryLogIn(app, '198.51.100.8', `wrong-token-${i}-0123456789`);
    const api = await page(app, '/stats', { headers: { 'x-peer': '198.51.100.8', authorization: 'Bearer not-the-token-0123456789' } });
    expect(api.status).toBe(401);
  });

  it.skipIf(!redisOk)('with REDIS_URL every instance counts the same failures', async () => {
    const env = { API_TOKEN: TOKEN, DATABASE_URL: tempDbUrl(), REDIS_URL, RATE_LIMIT_PREFIX: uniquePrefix('login'), RATE_LIMIT_PER_MINUTE: '0' };
    const [a, b] = [await startRuntime({ processing: false, env }), await startRuntime({ processing: false, env })];
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await tryLogIn(i % 2 ? a.app : b.app, '198.51.100.9', `wrong-${i}-0123456789abcdef`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 429, 429]);
    const keys = await inspector().keys(`${env.RATE_LIMIT_PREFIX}:login:*`);
    expect(keys).toHaveLength(1);
  });
});

describe('the session cookie is Secure only when a trusted proxy says the scheme is https', () => {
  const secure = async (env: Record<string, string>, peer: string, proto?: string) => {
    const app = await appWithPeers({ RATE_LIMIT_PER_MINUTE: '0', ...env });
    const response = await page(app, '/ui/login', {
      method: 'POST',
      headers: { origin: ORIGIN, 'x-peer': peer, 'content-type': 'application/x-www-form-urlencoded', ...(proto ? { 'x-forwarded-proto': proto } : {}) },
      body: `token=${TOKEN}`,
    });
    expect(response.status).toBe(303);
    return /;\s*Secure/i.test(response.headers.get('set-cookie') ?? '');
  };

  it('through the app: the peer decides whether X-Forwarded-Proto counts', async () => {
    expect(await secure({ TRUST_PROXY: '10.0.0.0/8' }, '127.0.0.1', 'https')).toBe(false);
    expect(await secure({ TRUST_PROXY: '10.0.0.0/8' }, '10.9.8.7', 'https')).toBe(true);
    expect(await secure({ TRUST_PROXY: '10.0.0.0/8' }, '10.9.8.7', 'http')).toBe(false);
    expect(await secure({ TRUST_PROXY: 'false' }, '10.9.8.7', 'https')).toBe(false);
    expect(await secure({ TRUST_PROXY: '1' }, '203.0.113.5', 'https')).toBe(true);
  });

  it('over a real socket on 127.0.0.1: TRUST_PROXY=10.0.0.0/8 ignores the header, 127.0.0.0/8 believes it', async () => {
    for (const [trust, expected] of [['10.0.0.0/8', false], ['127.0.0.0/8', true]] as const) {
      const runtime = await startRuntime({ processing: false, env: { API_TOKEN: TOKEN, APP_PORT: '0', TRUST_PROXY: trust } });
      const { server, url } = await listen(runtime);
      onTestFinished(() => void server.close());
      const response = await fetch(`${url}/ui/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { origin: url, 'x-forwarded-proto': 'https', 'content-type': 'application/x-www-form-urlencoded' },
        body: `token=${TOKEN}`,
      });
      expect(response.status).toBe(303);
      expect(/;\s*Secure/i.test(response.headers.get('set-cookie') ?? ''), `TRUST_PROXY=${trust}`).toBe(expected);
    }
  });
});
