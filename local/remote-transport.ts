import { createClient, type Client } from '@libsql/client';
import { Agent, request } from 'undici';
import { redactUrl } from '../lib/config/config.ts';
import { ClientDriver } from '../lib/db/client-driver.ts';
import type { SqlDriver } from '../lib/db/driver.ts';
import { StreamDriver } from './stream-driver.ts';

/**
 * How the Node process reaches a remote libSQL server (Turso, sqld): one WebSocket, or HTTP.
 *
 * sqld serves both on the same port (`--http-listen-addr`), and @libsql/client speaks both:
 * `ws(s)://` opens one WebSocket that carries every statement (Hrana over WebSockets),
 * `http(s)://` sends each statement as a POST (Hrana over HTTP, kept-alive connections; see
 * `requestFetch` below). Measured on loopback, in one run, the WebSocket answers about twice as many
 * sequential statements per second (bench/README.md, "transport"), so `DATABASE_TRANSPORT=auto`
 * (the default) tries it first for every remote URL, `http(s)://` and `libsql://` included
 * (@libsql/client on Node would take `libsql://` as HTTPS). A server or proxy that does not
 * accept the upgrade answers it with a plain HTTP response; then the process uses HTTP and
 * says so in one log line. `ws` and `http` force one (no fallback).
 *
 * Functions do not come here: they use HTTP only (functions/environment.ts).
 */
export type DatabaseTransport = 'auto' | 'ws' | 'http';

export interface RemoteClientOptions {
  url: string;
  authToken?: string;
  transport: DatabaseTransport;
  /** DATABASE_TIMEOUT_SECONDS in ms: bounds the probe and every statement. */
  timeoutMs: number;
  logger?: { warn(msg: string, fields?: Record<string, unknown>): void; info(msg: string, fields?: Record<string, unknown>): void };
}

const TLS_OFF = /[?&]tls=0(&|$)/;

/**
 * The URL @libsql/client needs to use `transport` for `url`: the scheme says the transport.
 * `libsql://` means TLS unless `?tls=0` (as @libsql/client reads it); `http`↔`ws`, `https`↔`wss`.
 */
export function transportUrl(url: string, transport: 'ws' | 'http'): string {
  const colon = url.indexOf(':');
  const scheme = url.slice(0, colon).toLowerCase();
  const tls = scheme === 'libsql' ? !TLS_OFF.test(url) : scheme === 'https' || scheme === 'wss';
  const target = transport === 'ws' ? (tls ? 'wss' : 'ws') : tls ? 'https' : 'http';
  return target + url.slice(colon);
}

/**
 * The URL and token for a raw Hrana WebSocket (local/stream-driver.ts): `ws(s)://host[:port]/path`
 * with the query parameters @libsql/client reads (`tls`, `authToken`) taken out, the token from
 * the URL used when none is given.
 */
export function streamTarget(url: string, authToken?: string): { url: string; authToken?: string } {
  const parsed = new URL(transportUrl(url, 'ws'));
  const fromUrl = parsed.searchParams.get('authToken') ?? undefined;
  parsed.searchParams.delete('tls');
  parsed.searchParams.delete('authToken');
  return { url: parsed.toString(), authToken: authToken ?? fromUrl };
}

/**
 * A driver over the chosen transport, its statements bounded by `timeoutMs` and its
 * connection replaced (same URL, same transport) after a timeout. Over a WebSocket, writes go
 * on one stream kept open (local/stream-driver.ts) and reads through @libsql/client.
 */
export async function openRemoteDriver(options: RemoteClientOptions): Promise<SqlDriver> {
  const description = redactUrl(options.url);
  const chosen = options.transport === 'auto' ? await probeWebSocket(options) : options.transport;
  const url = transportUrl(options.url, chosen);
  const fetch = chosen === 'http' ? requestFetch(options.timeoutMs) : undefined;
  const open = (): Client => createClient({ url, authToken: options.authToken, fetch });
  options.logger?.info('database transport', { database: description, transport: chosen });
  const onReplaced = (reason: string) => options.logger?.warn('database connection replaced', { database: description, transport: chosen, reason });
  const clientDriver = new ClientDriver(open(), description, { timeoutMs: options.timeoutMs, reopen: open, onReplaced, packRows: true });
  if (chosen === 'http') return clientDriver;
  return new StreamDriver(description, { ...streamTarget(options.url, options.authToken), reads: clientDriver, timeoutMs: options.timeoutMs, onReplaced });
}

/**
 * `ws` when a WebSocket to the server answers `SELECT 1` within the timeout, else `http` with
 * a warning that says why. Any failure counts: migrations have just succeeded over the URL as
 * given, so the server is up and it is the WebSocket path (an upgrade a proxy refuses or
 * swallows) that does not work.
 */
async function probeWebSocket(options: RemoteClientOptions): Promise<'ws' | 'http'> {
  const client = createClient({ url: transportUrl(options.url, 'ws'), authToken: options.authToken });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      client.execute('SELECT 1'),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
      }),
    ]);
    return 'ws';
  } catch (error) {
    options.logger?.warn('database: no WebSocket to the server, using HTTP (set DATABASE_TRANSPORT=http to skip the attempt)', {
      database: redactUrl(options.url),
      error: error instanceof Error ? error.message : String(error),
    });
    return 'http';
  } finally {
    clearTimeout(timer);
    client.close();
  }
}

/**
 * The `fetch` @libsql/client's HTTP transport calls, over undici's `request()` on one Agent
 * with kept-alive connections, instead of Node's global fetch: the client hands it a `Request`
 * and reads a `Response` (json, arrayBuffer, or the body as a stream for batches), and what
 * costs is fetch's own WHATWG machinery in between, the same finding as the `http` task
 * transport (local/http-transport.ts). About 1.5–2.5x the sequential statements a second over
 * HTTP here (bench/README.md, "transport"). No library adapts one to the other.
 *
 * The Agent drops a connection that sends nothing for a little longer than the statement
 * timeout, so a connection left half-open after a timeout (lib/db/client-driver.ts) is
 * destroyed rather than kept in the pool.
 */
export function requestFetch(timeoutMs: number): typeof globalThis.fetch {
  const agent = new Agent({ headersTimeout: timeoutMs + 1000, bodyTimeout: timeoutMs + 1000 });
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const req = input instanceof Request ? input : new Request(input, init);
    const body = req.body === null ? undefined : Buffer.from(await req.arrayBuffer());
    const headers: Record<string, string> = {};
    req.headers.forEach((value, name) => (headers[name] = value));
    let status: number;
    let bytes: ArrayBuffer;
    const received: [string, string][] = [];
    try {
      const answer = await request(req.url, { method: req.method as 'POST', headers, body, dispatcher: agent });
      status = answer.statusCode;
      for (const [name, value] of Object.entries(answer.headers)) {
        if (typeof value === 'string') received.push([name, value]);
        else if (Array.isArray(value)) for (const v of value) received.push([name, v]);
      }
      bytes = await answer.body.arrayBuffer();
    } catch (error) {
      // What fetch rejects with when the network fails, so the error reads the same
      // (lib/foundation/storage-errors.ts: `fetch failed` is the database being unavailable).
      throw new TypeError('fetch failed', { cause: error });
    }
    return new Response(status === 204 || status === 304 ? null : bytes, { status, headers: received });
  };
}
