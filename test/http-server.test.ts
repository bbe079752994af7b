import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SETTLED_MS } from '../local/connection-table.ts';
import { listen } from '../local/server.ts';
import { captureLogs, startRuntime, type CapturedLogs } from './helpers.ts';

/**
 * The Node server against slow, idle, greedy and oversized clients, over real loopback
 * sockets (node:net), with the timeouts set to 1–3 s. "Cut within its timeout (+1 s)" is the
 * contract the issue asks for, so those tests do measure time.
 */
const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

async function start(env: Record<string, string> = {}, logs?: CapturedLogs): Promise<{ port: number; url: string }> {
  const runtime = await startRuntime({ env: { APP_PORT: '0', ...env, ...(logs ? { LOG_LEVEL: 'info' } : {}) }, logSink: logs?.sink, processing: false });
  const { server, url } = await listen(runtime);
  servers.push(server);
  return { port: Number(new URL(url).port), url };
}

interface RawConnection {
  socket: Socket;
  /** Everything received so far. */
  text(): string;
  /** Resolves with ms from connect to close, and what was received. */
  closed: Promise<{ afterMs: number; text: string; error?: string }>;
  /** Resolves once `needle` has been received. */
  received(needle: string): Promise<string>;
}

function open(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    let data = '';
    let error: string | undefined;
    const waiters: { needle: string; resolve: (text: string) => void }[] = [];
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      for (const waiter of [...waiters]) if (data.includes(waiter.needle)) waiters.splice(waiters.indexOf(waiter), 1), waiter.resolve(data);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    const openedAt = Date.now();
    const closed = new Promise<{ afterMs: number; text: string; error?: string }>((resolveClosed) =>
      socket.once('close', () => resolveClosed({ afterMs: Date.now() - openedAt, text: data, error })),
    );
    socket.once('connect', () =>
      resolve({
        socket,
        text: () => data,
        closed,
        received: (needle) => (data.includes(needle) ? Promise.resolve(data) : new Promise((r) => waiters.push({ needle, resolve: r }))),
      }),
    );
    socket.once('error', reject);
  });
}

function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
}
function bodyOf(text: string): unknown {
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
}

describe('server timeouts (SERVER_*_TIMEOUT_SECONDS)', () => {
  const env = { SERVER_HEADERS_TIMEOUT_SECONDS: '1', SERVER_REQUEST_TIMEOUT_SECONDS: '2', SERVER_KEEP_ALIVE_TIMEOUT_SECONDS: '1' };

  it('slow headers (a slowloris): 408 JSON and closed within the headers timeout + 1 s', async () => {
    const { port } = await start(env);
    const connection = await open(port);
    connection.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => connection.socket.writable && connection.socket.write(`X-Slow-${Date.now()}: y\r\n`), 200);
    const { afterMs, text } = await connection.closed;
    clearInterval(trickle);
    expect(statusOf(text)).toBe(408);
    expect(bodyOf(text)).toMatchObject({ code: 'request_timeout' });
    expect(afterMs).toBeLessThan(2000);
  });

  it('a slow body (Content-Length 100, 10 bytes sent): 408 JSON and closed within the request timeout + 1 s; no stack logged', async () => {
    const logs = captureLogs();
    const { port } = await start(env, logs);
    const connection = await open(port);
    connection.socket.write('POST /tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"title":');
    const { afterMs, text } = await connection.closed;
    expect(statusOf(text)).toBe(408);
    expect(bodyOf(text)).toMatchObject({ code: 'request_timeout' });
    expect(afterMs).toBeGreaterThanOrEqual(1900);
    expect(afterMs).toBeLessThan(3000);
    // The app's half of the request fails to read its body: a 400 in the request log, not an
    // `unhandled error` with a stack for every slow client.
    const request = await (async () => {
      for (let i = 0; i < 100; i++) {
        const found = logs.records().find((r) => r.msg === 'request');
        if (found) return found;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return undefined;
    })();
    expect(request).toMatchObject({ method: 'POST', path: '/tasks', status: 400 });
    expect(logs.messages('error')).toEqual([]);
  });

  it('a socket that never sends a byte is closed within the headers timeout + 1 s', async () => {
    const { port } = await start(env);
    const { afterMs } = await (await open(port)).closed;
    expect(afterMs).toBeLessThan(2000);
  });

  it('an idle keep-alive socket: told `Keep-Alive: timeout=1`, closed 1 s later (Node’s margin for the client’s timer)', async () => {
    const { port } = await start({ ...env, SERVER_KEEP_ALIVE_TIMEOUT_SECONDS: '1' });
    const connection = await open(port);
    connection.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const answer = await connection.received('"ok"');
    expect(answer).toMatch(/\r\nKeep-Alive: timeout=1\r\n/i);
    const answeredAt = Date.now();
    await connection.closed;
    expect(Date.now() - answeredAt).toBeLessThan(2500);
  });

  it('requests that take their time within the limits are answered normally', async () => {
    const { port } = await start({ ...env, SERVER_HEADERS_TIMEOUT_SECONDS: '3', SERVER_REQUEST_TIMEOUT_SECONDS: '3' });
    const connection = await open(port);
    connection.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    await new Promise((resolve) => setTimeout(resolve, 1200));
    connection.socket.write('\r\n');
    expect(statusOf(await connection.received('"ok"'))).toBe(200);
  });
});

describe('SERVER_MAX_CONNECTIONS', () => {
  it('at the cap, the oldest idle keep-alive connection is closed for a new one; the others keep getting /healthz', async () => {
    const { port } = await start({ SERVER_MAX_CONNECTIONS: '3', SERVER_KEEP_ALIVE_TIMEOUT_SECONDS: '30' });
    const admitted: RawConnection[] = [];
    for (let i = 0; i < 3; i++) {
      const connection = await open(port);
      connection.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await connection.received('"ok"');
      admitted.push(connection);
    }
    // Only a connection idle a while is closed to make room (local/connection-table.ts).
    await new Promise((resolve) => setTimeout(resolve, SETTLED_MS + 50));

    const newcomer = await open(port);
    newcomer.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(statusOf(await newcomer.received('"ok"'))).toBe(200);
    const oldest = await admitted[0]!.closed;
    expect(oldest.error).toBeUndefined();

    for (const connection of admitted.slice(1)) {
      const before = connection.text().length;
      connection.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise<void>((resolve) => {
        const check = () => (connection.text().slice(before).includes('"ok"') ? resolve() : setTimeout(check, 10));
        check();
      });
      expect(statusOf(connection.text().slice(before))).toBe(200);
    }
  });
});

describe('oversized requests', () => {
  it('a 100 KB path: 414 JSON, read by the client (no reset)', async () => {
    const { port } = await start();
    const connection = await open(port);
    connection.socket.write(`GET /tasks/${'a'.repeat(100 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const { text, error } = await connection.closed;
    expect(error).toBeUndefined();
    expect(statusOf(text)).toBe(414);
    expect(bodyOf(text)).toMatchObject({ code: 'uri_too_long', message: expect.stringContaining('URI too long') });
  });

  it('a 9 KB path (below Node’s header limit) is 414 JSON too; an 8 KB one reaches the app', async () => {
    const { url } = await start();
    const long = await fetch(`${url}/tasks/${'a'.repeat(9 * 1024)}`);
    expect(long.status).toBe(414);
    expect(await long.json()).toMatchObject({ code: 'uri_too_long' });
    const fits = await fetch(`${url}/tasks/${'a'.repeat(8 * 1024 - 8)}`);
    expect(fits.status).toBe(404);
  });

  it('headers over Node’s 16 KB limit: 431 JSON', async () => {
    const { port } = await start();
    const connection = await open(port);
    connection.socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20 * 1024)}\r\n\r\n`);
    const { text, error } = await connection.closed;
    expect(error).toBeUndefined();
    expect(statusOf(text)).toBe(431);
    expect(bodyOf(text)).toMatchObject({ code: 'headers_too_large' });
  });

  it('a malformed request line: 400 JSON', async () => {
    const { port } = await start();
    const connection = await open(port);
    connection.socket.write('HELLO\r\n\r\n');
    const { text } = await connection.closed;
    expect(statusOf(text)).toBe(400);
    expect(bodyOf(text)).toMatchObject({ code: 'bad_request' });
  });
});
