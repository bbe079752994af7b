import { describe, expect, it, onTestFinished } from 'vitest';
import { transportUrl } from '../local/remote-transport.ts';
import { captureLogs, startRuntime, submitInput, waitFor } from './helpers.ts';
import { sqldAvailable, useSqld } from './sqld.ts';
import { startHttpOnlyProxy } from './support/proxies.ts';

/**
 * Which transport the Node process uses for a remote libSQL URL (local/remote-transport.ts):
 * a WebSocket when the server accepts one, HTTP with one warning when a proxy in front of it
 * answers the upgrade with a plain response, and what DATABASE_TRANSPORT forces.
 */
describe('transportUrl', () => {
  it('maps each remote scheme to the transport asked for, keeping TLS as the URL says', () => {
    expect(transportUrl('http://127.0.0.1:8080', 'ws')).toBe('ws://127.0.0.1:8080');
    expect(transportUrl('https://db.example.com/x?a=1', 'ws')).toBe('wss://db.example.com/x?a=1');
    expect(transportUrl('ws://127.0.0.1:8080', 'http')).toBe('http://127.0.0.1:8080');
    expect(transportUrl('wss://db.example.com', 'http')).toBe('https://db.example.com');
    expect(transportUrl('libsql://db.turso.io', 'ws')).toBe('wss://db.turso.io');
    expect(transportUrl('libsql://db.turso.io', 'http')).toBe('https://db.turso.io');
    expect(transportUrl('libsql://127.0.0.1:8080?tls=0', 'ws')).toBe('ws://127.0.0.1:8080?tls=0');
    expect(transportUrl('LIBSQL://127.0.0.1:8080?x=1&tls=0', 'http')).toBe('http://127.0.0.1:8080?x=1&tls=0');
  });
});

const available = await sqldAvailable();

describe.skipIf(!available)('the transport to sqld', () => {
  const sqld = useSqld();

  /** A runtime on `url` with a handler that counts its runs; resolves when one task completed. */
  async function runOneTask(env: Record<string, string>) {
    const logs = captureLogs();
    let runs = 0;
    const runtime = await startRuntime({
      env: { LOG_LEVEL: 'info', ...env },
      logSink: logs.sink,
      handlers: { counted: async () => void runs++ },
    });
    runtime.start();
    const { task } = await runtime.service.submit(submitInput({ type: 'counted' }));
    await waitFor(async () => (await runtime.repo.get(task.id))?.status === 'completed', 10_000, 'the task completed');
    expect(runs).toBe(1);
    const transport = logs.records().find((r) => r.msg === 'database transport')?.transport;
    return { logs, transport };
  }

  it('auto: a WebSocket to sqld, for an http:// URL', async () => {
    await sqld.reset();
    const { logs, transport } = await runOneTask({ DATABASE_URL: sqld.url });
    expect(transport).toBe('ws');
    expect(logs.messages('warn')).toEqual([]);
  });

  it('auto behind a proxy that answers the upgrade with a plain response: HTTP, one warning', async () => {
    await sqld.reset();
    const proxy = await startHttpOnlyProxy(sqld.url);
    onTestFinished(() => proxy.close());
    const { logs, transport } = await runOneTask({ DATABASE_URL: proxy.url });
    expect(proxy.refusedUpgrades).toBe(1);
    expect(transport).toBe('http');
    const warnings = logs.records().filter((r) => r.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ msg: expect.stringContaining('using HTTP'), error: expect.stringContaining('Unexpected server response: 200') });
  });

  it('DATABASE_TRANSPORT=http: no WebSocket is attempted', async () => {
    await sqld.reset();
    const proxy = await startHttpOnlyProxy(sqld.url);
    onTestFinished(() => proxy.close());
    const { logs, transport } = await runOneTask({ DATABASE_URL: proxy.url, DATABASE_TRANSPORT: 'http' });
    expect(proxy.refusedUpgrades).toBe(0);
    expect(transport).toBe('http');
    expect(logs.messages('warn')).toEqual([]);
  });

  it('DATABASE_TRANSPORT=ws: a WebSocket, also for a libsql://…?tls=0 URL', async () => {
    await sqld.reset();
    const { transport } = await runOneTask({ DATABASE_URL: `libsql://${new URL(sqld.url).host}?tls=0`, DATABASE_TRANSPORT: 'ws' });
    expect(transport).toBe('ws');
  });
});
