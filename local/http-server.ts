import { getRequestListener } from '@hono/node-server';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { UNLIMITED_PATHS } from '../lib/api/access-control.ts';
import type { Config } from '../lib/config/config.ts';
import type { Logger } from '../lib/foundation/log.ts';
import { ConnectionTable } from './connection-table.ts';

/**
 * The Node HTTP server in front of the Hono app: what a hostile or broken client can do to a
 * socket is bounded here, below the app, because the app never sees it.
 *
 * - Timeouts (SERVER_*_SECONDS): headers within `headersTimeout`, the whole request within
 *   `requestTimeout`, else 408 JSON and the socket closed; an idle keep-alive socket closes
 *   1 s after `keepAliveTimeout` (Node advertises `Keep-Alive: timeout=N` and waits a second
 *   more, so a client reusing the socket at the last moment is not cut mid-request). Node enforces the first two only when it sweeps its connection
 *   list, every `connectionsCheckingInterval` (30 s by default: a 10 s limit became up to
 *   40 s), so the sweep runs every 250 ms.
 * - SERVER_MAX_CONNECTIONS and SERVER_MAX_CONNECTIONS_PER_ADDRESS: local/connection-table.ts
 *   decides, for each new socket, whether it is admitted (closing idle ones to make room), may
 *   carry one health check only (others answer 503 `too_many_connections`), or is closed at
 *   once; one warning per 10 s counts what the limits did.
 * - Parser errors answer the API's JSON shape instead of Node's bare status line: 414 for a
 *   request line over 8 KB (Node's header limit, 16 KB, covers the request line too, so a
 *   100 KB URL was a 431 written while the client was still sending, i.e. a reset), 431 for
 *   headers too large, 400 for malformed requests. The socket then lingers, reading and
 *   discarding what the client still sends, so the client reads the answer instead of a reset.
 * - `stopListening()` and `drain()` for shutdown (local/server.ts sequences them): see their
 *   comments.
 *
 * Error bodies are written here by hand: these requests never reach the app (lib/api/app.ts
 * owns every other error response).
 */
type FetchCallback = Parameters<typeof getRequestListener>[0];

export const MAX_URL_BYTES = 8 * 1024;
const CONNECTIONS_CHECK_MS = 250;
const LINGER_MS = 2000;
const LIMIT_WARNING_EVERY_MS = 10_000;
/**
 * After the listener closed, how long a connection that is open but idle (accepted with no
 * request yet, or kept alive) may still bring a request, answered 503 `shutting_down`, before
 * it is closed. A client whose previous answer came just before the signal sends its next
 * request on that connection at once, and a busy client process may take a while to do so:
 * closing the connection under that request would reset it.
 */
const IDLE_GRACE_MS = 1000;
/**
 * stopListening(): the listener closes after a turn of the event loop that accepted no
 * connection and took at most QUIET_TURN_MS (only a connection completed during that turn can
 * still be in the accept queue), or after MAX_HOLD_MS whatever comes. Answers are held until
 * then, so the clients that keep the queue busy are waiting for them, not reconnecting: in
 * test/shutdown-listener.test.ts the close comes a few turns after the signal.
 */
const QUIET_TURN_MS = 2;
const MAX_HOLD_MS = 1000;

export interface HttpServer {
  server: Server;
  /** Requests being handled right now (the app has them). */
  readonly inFlight: number;
  /**
   * Shutdown, step one (call it in the signal handler itself, before anything answers): from
   * now on no request reaches the app (each is answered 503 `shutting_down`, `Connection:
   * close`), and the listening socket closes as soon as a turn of the event loop accepted no
   * connection (within MAX_HOLD_MS). Closing it resets every connection still in the kernel's
   * accept queue, a request sent on it included; a client connecting after the close is
   * refused instead, which it can retry at once (elsewhere), and every connection accepted gets
   * an answer. No answer leaves before the close, in-flight ones included: a client that read
   * one would reconnect at once, into that queue. Resolves once the listener is closed.
   */
  stopListening(): Promise<void>;
  /**
   * Shutdown, step two (stopListening first, if not called yet): resolves once every request
   * being handled has its answer and every connection is closed, at most `timeoutMs`. Answered
   * connections close after their answer; idle ones get IDLE_GRACE_MS to bring a request.
   */
  drain(timeoutMs: number): Promise<{ answered: boolean }>;
  /** Destroys every socket left (after drain, or when giving up). */
  closeAll(): void;
}

export interface HttpServerOptions {
  fetch: FetchCallback;
  config: Pick<
    Config,
    'serverHeadersTimeoutSeconds' | 'serverRequestTimeoutSeconds' | 'serverKeepAliveTimeoutSeconds' | 'serverMaxConnections' | 'serverMaxConnectionsPerAddress'
  >;
  logger: Logger;
}

export function createHttpServer(options: HttpServerOptions): HttpServer {
  const { config, logger } = options;
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  let listenerClosed: Promise<void> | undefined;
  /** Between stopListening() and the listener's close, answers wait for this (see there). */
  let answersHeld: Promise<void> | undefined;
  let acceptedWhileHolding = 0;
  const appListener = getRequestListener(async (request, env) => {
    const response = await options.fetch(request, env);
    if (answersHeld) await answersHeld;
    return response;
  });
  /** Called whenever a request or a connection ends while draining. */
  let onSettled: (() => void) | undefined;

  const limitCounts = { closed_idle: 0, probes_only: 0, refused: 0 };
  let limitWarnedAt = 0;
  const noteLimit = (what: keyof typeof limitCounts) => {
    limitCounts[what] += 1;
    const now = Date.now();
    if (now - limitWarnedAt < LIMIT_WARNING_EVERY_MS) return;
    logger.warn('connection limits reached', {
      max_connections: config.serverMaxConnections,
      max_connections_per_address: config.serverMaxConnectionsPerAddress,
      ...limitCounts,
    });
    limitWarnedAt = now;
    for (const key of Object.keys(limitCounts) as (keyof typeof limitCounts)[]) limitCounts[key] = 0;
  };
  const connections = new ConnectionTable({ maxConnections: config.serverMaxConnections, maxPerAddress: config.serverMaxConnectionsPerAddress }, (socket) => {
    noteLimit('closed_idle');
    socket.destroy();
  });

  const server = createServer(
    {
      headersTimeout: Math.round(config.serverHeadersTimeoutSeconds * 1000),
      requestTimeout: Math.round(config.serverRequestTimeoutSeconds * 1000),
      keepAliveTimeout: Math.round(config.serverKeepAliveTimeoutSeconds * 1000),
      connectionsCheckingInterval: CONNECTIONS_CHECK_MS,
    },
    (req: IncomingMessage, res: ServerResponse) => {
      const socket = req.socket;
      connections.requestStarted(socket);
      res.once('close', () => {
        inFlight.delete(res);
        onSettled?.();
      });
      if ((req.url ?? '').length > MAX_URL_BYTES) {
        res.shouldKeepAlive = false;
        return writeError(res, 414, 'uri_too_long', `URI too long: at most ${MAX_URL_BYTES} bytes`);
      }
      if (draining) {
        res.shouldKeepAlive = false;
        const answer = () => writeError(res, 503, 'shutting_down', 'the server is shutting down; send the request again (to another instance)');
        return answersHeld ? void answersHeld.then(answer) : answer();
      }
      if (connections.isProbesOnly(socket)) {
        res.shouldKeepAlive = false;
        if (!UNLIMITED_PATHS.has(pathOf(req.url))) {
          return writeError(res, 503, 'too_many_connections', 'too many open connections; send the request again shortly', { 'Retry-After': '1' });
        }
      }
      inFlight.add(res);
      res.once('finish', () => {
        connections.requestAnswered(socket);
        // A response that went out with keep-alive before draining began: close its socket
        // now that it is answered. Otherwise the socket waits for its next request.
        if (draining) socket.end();
      });
      void appListener(req, res);
    },
  );
  // keepAliveTimeout as a server option needs Node 20.? in some lines; the property always works.
  server.keepAliveTimeout = Math.round(config.serverKeepAliveTimeoutSeconds * 1000);
  server.on('connection', (socket: Socket) => {
    const admission = connections.admit(socket);
    if (admission === 'refused') {
      noteLimit('refused');
      socket.destroy();
      return;
    }
    if (admission === 'probes-only') noteLimit('probes_only');
    if (answersHeld) acceptedWhileHolding += 1;
    socket.once('close', () => {
      connections.remove(socket);
      onSettled?.();
    });
  });

  const answered = new WeakSet<Socket>();
  server.on('clientError', (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
    if (answered.has(socket)) return;
    answered.add(socket);
    const response = clientErrorResponse(error);
    const pending = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (!response || !socket.writable || pending?.headersSent) {
      socket.destroy();
      return;
    }
    logger.debug('client error', { code: error.code, status: response.status });
    socket.end(rawResponse(response.status, response.code, response.message));
    // Read and drop what the client is still sending, so that closing does not reset the
    // connection before the client has read the answer; then close, whatever it does.
    socket.on('data', () => {});
    socket.resume();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  });

  const stopListening = () =>
    (listenerClosed ??= new Promise<void>((resolve) => {
      draining = true;
      let release!: () => void;
      answersHeld = new Promise((resolveHeld) => (release = resolveHeld));
      for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
      // The first turn is the one that ran the signal handler: the connections the kernel
      // reported with the signal are accepted in it. Then close after a turn that accepted
      // nothing and ran quickly (QUIET_TURN_MS).
      const startedAt = performance.now();
      let turnStartedAt = startedAt;
      let acceptedBefore = -1;
      const closeWhenQuiet = () => {
        const now = performance.now();
        const quiet = acceptedWhileHolding === acceptedBefore && now - turnStartedAt <= QUIET_TURN_MS;
        if (!quiet && now - startedAt < MAX_HOLD_MS) {
          acceptedBefore = acceptedWhileHolding;
          turnStartedAt = now;
          setImmediate(closeWhenQuiet);
          return;
        }
        // net's close, not http's: http's also closes the connections it counts as idle,
        // among them those just accepted whose request is not read yet (a reset).
        NetServer.prototype.close.call(server);
        answersHeld = undefined;
        release();
        resolve();
      };
      setImmediate(closeWhenQuiet);
    }));

  return {
    server,
    get inFlight() {
      return inFlight.size;
    },
    stopListening,
    async drain(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      await stopListening();
      return new Promise((resolve) => {
        const done = (answeredAll: boolean) => {
          clearTimeout(timer);
          clearTimeout(grace);
          onSettled = undefined;
          resolve({ answered: answeredAll });
        };
        const timer = setTimeout(() => done(inFlight.size === 0), Math.max(0, deadline - Date.now()));
        const grace = setTimeout(() => {
          for (const socket of connections.idleSockets()) socket.destroy();
          onSettled?.();
        }, IDLE_GRACE_MS);
        timer.unref();
        grace.unref();
        onSettled = () => {
          if (inFlight.size === 0 && connections.size === 0) done(true);
        };
        onSettled();
      });
    },
    closeAll() {
      server.closeAllConnections();
    },
  };
}

/** The path of a request target (`/healthz?x=1` → `/healthz`). */
function pathOf(url: string | undefined): string {
  const target = url ?? '';
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

interface ErrorAnswer {
  status: number;
  code: string;
  message: string;
}

function clientErrorResponse(error: NodeJS.ErrnoException & { rawPacket?: Buffer }): ErrorAnswer | undefined {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'request_timeout', message: 'request timed out: send the whole request sooner' };
    case 'HPE_HEADER_OVERFLOW': {
      // rawPacket is the chunk the parser choked on. When it is the start of the request and
      // its first line is still unfinished past 8 KB, the URL is what is too long.
      const chunk = error.rawPacket;
      const firstLineEnd = chunk?.indexOf('\r\n') ?? -1;
      const startsRequest = chunk !== undefined && /^[A-Z]+ /.test(chunk.subarray(0, 16).toString('latin1'));
      return startsRequest && (firstLineEnd === -1 || firstLineEnd > MAX_URL_BYTES)
        ? { status: 414, code: 'uri_too_long', message: `URI too long: at most ${MAX_URL_BYTES} bytes` }
        : { status: 431, code: 'headers_too_large', message: 'request headers too large' };
    }
    case 'ECONNRESET':
    case 'EPIPE':
      return undefined;
    default:
      return { status: 400, code: 'bad_request', message: 'malformed HTTP request' };
  }
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 414: 'URI Too Long', 431: 'Request Header Fields Too Large', 503: 'Service Unavailable' };

function rawResponse(status: number, code: string, message: string): string {
  const body = JSON.stringify({ message, code });
  return `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

function writeError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ message, code });
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'close', ...headers });
  res.end(body);
}
