import { request } from 'node:http';
import { connect, type Socket } from 'node:net';

/**
 * Clients for the connection-limit tests, each from a chosen loopback source address (Linux
 * routes all of 127.0.0.0/8 to `lo`, so 127.0.0.2 is a second client to the server): a raw
 * socket, one HTTP request, and a flood that keeps N connections open and reopens each one
 * the server closes.
 */

export interface Answer {
  status?: number;
  code?: string;
  /** The parsed JSON body, if it was JSON. */
  body?: unknown;
  /** The error code when there was no answer (ECONNRESET, ECONNREFUSED, timeout, …). */
  error?: string;
  ms: number;
}

/**
 * One request on its own connection (`Connection: close`, so it leaves no idle connection
 * behind), from `from`; a `json` body is POSTed. Never waits beyond `timeoutMs`.
 */
export function requestFrom(port: number, from: string, path: string, options: { json?: unknown; timeoutMs?: number } = {}): Promise<Answer> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const body = options.json === undefined ? undefined : JSON.stringify(options.json);
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (answer: Omit<Answer, 'ms'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...answer, ms: Math.round(performance.now() - started) });
    };
    const headers: Record<string, string> = { connection: 'close' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const req = request({ host: '127.0.0.1', port, path, method: body === undefined ? 'GET' : 'POST', localAddress: from, agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let json: { code?: string } | undefined;
        try {
          json = JSON.parse(text) as { code?: string };
        } catch {
          // not JSON: the status says enough
        }
        finish({ status: res.statusCode, code: json?.code, body: json });
      });
      res.on('error', (error: NodeJS.ErrnoException) => finish({ error: error.code ?? error.message }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => finish({ error: error.code ?? error.message }));
    req.setTimeout(timeoutMs, () => {
      finish({ error: 'timeout' });
      req.destroy();
    });
    req.end(body);
  });
}

export interface Flood {
  /** Connections open right now (connected, not yet closed). */
  readonly open: number;
  /** Connections opened so far. */
  readonly opened: number;
  /** Stops reopening and closes every connection. */
  stop(): void;
}

/**
 * Keeps `connections` sockets open from `from`, each sending `request` (if given) once
 * connected and nothing more, and reopens each one as soon as it closes, whoever closed it.
 * Stops by itself after `forMs`.
 */
export function flood(port: number, options: { from: string; connections: number; request?: string; forMs: number }): Flood {
  const sockets = new Set<Socket>();
  let opened = 0;
  let open = 0;
  let stopped = false;
  const stopAt = Date.now() + options.forMs;
  const slot = () => {
    if (stopped || Date.now() > stopAt) return;
    const socket = connect({ host: '127.0.0.1', port, localAddress: options.from });
    sockets.add(socket);
    opened += 1;
    let connected = false;
    socket.on('connect', () => {
      connected = true;
      open += 1;
      if (options.request) socket.write(options.request);
    });
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      if (connected) open -= 1;
      slot();
    });
  };
  for (let i = 0; i < options.connections; i++) slot();
  const timer = setTimeout(() => (stopped = true), options.forMs);
  timer.unref();
  return {
    get open() {
      return open;
    },
    get opened() {
      return opened;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** Resolves once `check()` holds, polling every 20 ms; rejects after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Opens one raw connection from `from` and resolves once it is connected. */
export function openFrom(port: number, from: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: from });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}
