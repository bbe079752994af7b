import { OpenAPIHono } from '@hono/zod-openapi';
import type { ServerType } from '@hono/node-server';
import { afterEach, describe, expect, it } from 'vitest';
import { handleErrors } from '../lib/api/error-handler.ts';
import { bearerToken, requireBearer } from '../lib/api/auth.ts';
import { createLogger } from '../lib/foundation/log.ts';
import { listen } from '../local/server.ts';
import { captureLogs, startRuntime } from './helpers.ts';

const TOKEN = 'tok_3b9f1c2e7d6a4f8e9a0b1c2d3e4f5a6b';
const WRONG = 'tok_3b9f1c2e7d6a4f8e9a0b1c2d3e4f5a6c';
const MISSING_ID = '00000000-0000-7000-8000-000000000000';

/** Every route behind API_TOKEN, with a body where it needs one. */
const PROTECTED: { method: string; path: string; body?: unknown }[] = [
  { method: 'GET', path: '/tasks' },
  { method: 'POST', path: '/tasks', body: { title: 't', description: 'd', type: 'simulate' } },
  { method: 'GET', path: `/tasks/${MISSING_ID}` },
  { method: 'POST', path: `/tasks/${MISSING_ID}/cancel` },
  { method: 'POST', path: `/tasks/${MISSING_ID}/retry` },
  { method: 'GET', path: '/stats' },
];

function init(method: string, authorization?: string, body?: unknown): RequestInit {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.authorization = authorization;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
}

describe('API_TOKEN', () => {
  it('every /tasks route and /stats: 401 JSON without or with a wrong token, served with the right one', async () => {
    const logs = captureLogs();
    const { app } = await startRuntime({ env: { API_TOKEN: TOKEN, LOG_LEVEL: 'debug' }, logSink: logs.sink, processing: false });

    for (const route of PROTECTED) {
      for (const authorization of [undefined, `Bearer ${WRONG}`, `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Basic ${btoa(`u:${TOKEN}`)}`, TOKEN, 'Bearer']) {
        const response = await app.request(route.path, init(route.method, authorization, route.body));
        expect(response.status, `${route.method} ${route.path} with ${String(authorization)}`).toBe(401);
        expect(await response.json()).toEqual({ message: 'missing or invalid bearer token', code: 'unauthorized' });
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
      for (const authorization of [`Bearer ${TOKEN}`, `bearer  ${TOKEN}`]) {
        const response = await app.request(route.path, init(route.method, authorization, route.body));
        expect(response.status, `${route.method} ${route.path}`).not.toBe(401);
        expect(response.status).toBeLessThan(500);
      }
    }
    // Probes and the API description stay open.
    for (const path of ['/healthz', '/readyz', '/openapi.json']) expect((await app.request(path)).status).toBe(200);

    // Requests (and their statuses) were logged, the token never was.
    expect(logs.records().filter((r) => r.msg === 'request' && r.status === 401).length).toBeGreaterThan(30);
    const all = logs.lines.join('\n');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(TOKEN.slice(4, 20));
    expect(all).not.toContain(WRONG);
  });

  it('without API_TOKEN every route is open', async () => {
    const { app } = await startRuntime({ processing: false });
    for (const route of PROTECTED) expect((await app.request(route.path, init(route.method, undefined, route.body))).status).not.toBe(401);
  });

  it('requireBearer guards any route with its own secret (CRON_SECRET on /poll)', async () => {
    const secret = 'cron_0123456789abcdef0123';
    const app = new OpenAPIHono();
    app.post('/poll', requireBearer(secret), (c) => c.json({ polled: true }));
    handleErrors(app, createLogger('silent'));
    expect((await app.request('/poll', { method: 'POST' })).status).toBe(401);
    expect((await app.request('/poll', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(401);
    const ok = await app.request('/poll', { method: 'POST', headers: { authorization: `Bearer ${secret}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ polled: true });
  });

  it('parses only well-formed bearer headers', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('BEARER\tabc ')).toBe('abc');
    for (const header of [undefined, null, '', 'Bearer', 'Bearer ', 'Bearer a b', 'Basic abc', ' Bearer abc', 'Bearerabc']) {
      expect(bearerToken(header)).toBeUndefined();
    }
  });
});

describe('client identity', () => {
  const servers: ServerType[] = [];
  afterEach(() => {
    for (const server of servers.splice(0)) server.close();
  });

  async function serve(env: Record<string, string>) {
    const runtime = await startRuntime({ env: { APP_PORT: '0', ...env }, processing: false });
    const { server, url } = await listen(runtime);
    servers.push(server);
    return url;
  }
  const get = (url: string, headers: Record<string, string> = {}) => fetch(`${url}/stats`, { headers }).then((r) => r.status);

  it('ignores X-Forwarded-For by default: the socket address is the client', async () => {
    const url = await serve({ RATE_LIMIT_PER_MINUTE: '2' });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await get(url, { 'x-forwarded-for': `203.0.113.${i}` }));
    expect(statuses).toEqual([200, 200, 429, 429]);
  });

  it('with TRUST_PROXY=true counts the address the proxy appended (the last X-Forwarded-For entry)', async () => {
    const url = await serve({ RATE_LIMIT_PER_MINUTE: '2', TRUST_PROXY: 'true' });
    // Distinct clients behind the proxy: independent budgets.
    for (let i = 0; i < 3; i++) expect(await get(url, { 'x-forwarded-for': `203.0.113.${i}` })).toBe(200);
    // One client forging the left part of the header still lands in its own bucket.
    const forged = [];
    for (let i = 0; i < 3; i++) forged.push(await get(url, { 'x-forwarded-for': `10.0.0.${i}, 198.51.100.7` }));
    expect(forged).toEqual([200, 200, 429]);
  });

  it('a valid API token is its own client; wrong tokens count against the address', async () => {
    const url = await serve({ RATE_LIMIT_PER_MINUTE: '2', API_TOKEN: TOKEN });
    const wrong = [];
    for (let i = 0; i < 3; i++) wrong.push(await get(url, { authorization: `Bearer ${WRONG}${i}` }));
    // Token guessing is throttled: 401, 401, then 429.
    expect(wrong).toEqual([401, 401, 429]);
    const right = [];
    for (let i = 0; i < 3; i++) right.push(await get(url, { authorization: `Bearer ${TOKEN}` }));
    expect(right).toEqual([200, 200, 429]);
  });
});
