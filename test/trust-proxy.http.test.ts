import type { ServerType } from '@hono/node-server';
import { afterEach, describe, expect, it } from 'vitest';
import { listen } from '../local/server.ts';
import { startRuntime } from './helpers.ts';

/**
 * TRUST_PROXY through a real server and the real (memory) rate limiter, 5 requests a minute:
 * a client that rewrites X-Forwarded-For on every request must not get a fresh budget each
 * time. The client connects over loopback; the addresses are only header text.
 */
describe('TRUST_PROXY over HTTP: forged X-Forwarded-For never escapes the limit', () => {
  const servers: ServerType[] = [];
  afterEach(() => {
    for (const server of servers.splice(0)) server.close();
  });

  async function statuses(trustProxy: string, header: (i: number) => string): Promise<number[]> {
    const runtime = await startRuntime({ env: { APP_PORT: '0', RATE_LIMIT_PER_MINUTE: '5', TRUST_PROXY: trustProxy }, processing: false });
    const { server, url } = await listen(runtime);
    servers.push(server);
    const out: number[] = [];
    for (let i = 0; i < 8; i++) out.push((await fetch(`${url}/stats`, { headers: { 'x-forwarded-for': header(i) } })).status);
    return out;
  }
  const LIMITED = [200, 200, 200, 200, 200, 429, 429, 429];

  it.each([
    ['true', (i: number) => `garbage-${i}`],
    ['1', (i: number) => `203.0.113.5, garbage-${i}`],
    ['false', (i: number) => `203.0.113.${i}`],
    ['1', (i: number) => `198.51.100.${i}, 203.0.113.5`],
    ['2', (i: number) => `198.51.100.${i}, 203.0.113.5, 192.0.2.10`],
    ['127.0.0.0/8, 192.0.2.0/24', (i: number) => `198.51.100.${i}, 203.0.113.5, 192.0.2.10`],
    ['127.0.0.0/8', (i: number) => `2001:db8:0:1::${i + 1}`],
  ])('TRUST_PROXY=%s, a header varied per request: limited after 5', async (trust, header) => {
    expect(await statuses(trust, header)).toEqual(LIMITED);
  });

  it('distinct clients behind trusted proxies keep distinct budgets (the limit is per client, not per proxy)', async () => {
    expect(await statuses('2', (i) => `203.0.113.${i}, 192.0.2.10`)).toEqual(Array(8).fill(200));
    expect(await statuses('127.0.0.1', (i) => `2001:db8:0:${i + 1}::1`)).toEqual(Array(8).fill(200));
  });
});
