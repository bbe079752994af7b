import { createClient, type Client } from '@libsql/client';
import { redactUrl } from '../lib/config/config.ts';
import { ClientDriver } from '../lib/db/client-driver.ts';

/**
 * How the Node process reaches a remote libSQL server (Turso, sqld): one WebSocket, or HTTP.
 *
 * sqld serves both on the same port (`--http-listen-addr`), and @libsql/client speaks both:
 * `ws(s)://` opens one WebSocket that carries every statement (Hrana over WebSockets),
 * `http(s)://` sends each statement as a POST (Hrana over HTTP, Node's fetch with kept-alive
 * connections). Measured on loopback, in one run, the WebSocket answers about twice as many
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
 * A ClientDriver over the chosen transport, its statements bounded by `timeoutMs` and its
 * client replaced (same URL, same transport) after a timeout.
 */
export async function openRemoteDriver(options: RemoteClientOptions): Promise<ClientDriver> {
  const description = redactUrl(options.url);
  const chosen = options.transport === 'auto' ? await probeWebSocket(options) : options.transport;
  const url = transportUrl(options.url, chosen);
  const open = (): Client => createClient({ url, authToken: options.authToken });
  options.logger?.info('database transport', { database: description, transport: chosen });
  return new ClientDriver(open(), description, {
    timeoutMs: options.timeoutMs,
    reopen: open,
    onReplaced: (reason) => options.logger?.warn('database connection replaced', { database: description, transport: chosen, reason }),
  });
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
