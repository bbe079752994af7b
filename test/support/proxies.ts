import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { request } from 'undici';

/**
 * Real loopback proxies in front of a real sqld, for the transport tests
 * (test/database-transport.test.ts, test/database-timeout.test.ts).
 */

export interface TcpProxy {
  /** `127.0.0.1:<port>`: put a scheme in front. */
  host: string;
  /** Connections opened through the proxy so far. */
  readonly opened: number;
  /**
   * Every connection open now stops carrying bytes either way, and stays open: a half-open
   * socket as a client sees it after a network change or behind a stuck proxy. New
   * connections pass as before, unless `alsoNew`: then they are frozen too until `thaw()`
   * (so a statement sent right after the freeze is stuck even when its client opens a fresh
   * connection for it).
   */
  freeze(alsoNew?: boolean): void;
  /** New connections pass again (those frozen stay frozen). */
  thaw(): void;
  close(): Promise<void>;
}

/** A byte-for-byte TCP proxy to `target` (`host:port`) whose open connections can be frozen. */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const [targetHost, targetPort] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const pairs = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();
  let opened = 0;
  let freezeNew = false;
  const server = createServer((client) => {
    opened++;
    const upstream = connect(targetPort, targetHost);
    const pair = { client, upstream, frozen: freezeNew };
    pairs.add(pair);
    client.on('data', (chunk) => pair.frozen || upstream.write(chunk));
    upstream.on('data', (chunk) => pair.frozen || client.write(chunk));
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    get opened() {
      return opened;
    },
    freeze(alsoNew = false) {
      for (const pair of pairs) pair.frozen = true;
      freezeNew = alsoNew;
    },
    thaw() {
      freezeNew = false;
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface HttpOnlyProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Upgrade requests answered with a plain response. */
  readonly refusedUpgrades: number;
  close(): Promise<void>;
}

/**
 * An HTTP reverse proxy to `targetUrl` that does not do WebSockets, like many load balancers
 * and API gateways: a request asking for an upgrade gets an ordinary `200 text/plain`
 * response; every other request is forwarded.
 */
export async function startHttpOnlyProxy(targetUrl: string): Promise<HttpOnlyProxy> {
  let refusedUpgrades = 0;
  const readBody = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  const server = createHttpServer(async (req, res) => {
    if (req.headers.upgrade) {
      refusedUpgrades++;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('this proxy does not do WebSockets\n');
      return;
    }
    try {
      const body = await readBody(req);
      const headers = { ...req.headers };
      delete headers.host;
      delete headers.connection;
      const answer = await request(`${targetUrl}${req.url}`, { method: req.method as 'POST', headers, body: body.length > 0 ? body : undefined });
      const out = Buffer.from(await answer.body.arrayBuffer());
      const sent: Record<string, string> = {};
      for (const [name, value] of Object.entries(answer.headers)) {
        if (typeof value === 'string' && name !== 'transfer-encoding' && name !== 'connection') sent[name] = value;
      }
      sent['content-length'] = String(out.length);
      res.writeHead(answer.statusCode, sent).end(out);
    } catch (error) {
      res.writeHead(502, { 'content-type': 'text/plain' }).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get refusedUpgrades() {
      return refusedUpgrades;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
