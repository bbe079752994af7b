import type { Socket } from 'node:net';
import { limitingKey, parseIp } from '../lib/foundation/ip.ts';

/**
 * The Node server's open connections, by client address, and which of them may be closed to
 * make room (local/http-server.ts asks at every new connection). Without it one address could
 * fill SERVER_MAX_CONNECTIONS with idle sockets or held `?wait=` requests, and every other
 * client, health checks included, found its connection closed at once.
 *
 * A connection is *busy* while a request on it is being handled (a held `?wait=` request
 * included) and *idle* otherwise: connected with no request yet, or answered and kept alive.
 * Only a connection idle for SETTLED_MS is ever closed to make room: one accepted or answered
 * a moment ago may have its (next) request right behind, not read yet, and closing it would
 * reset that request. Past that, closing an idle connection loses nothing a client can't
 * resend (a request still on the wire aside: the race every keep-alive timeout has too).
 *
 * A new connection from address A is admitted in this order:
 * 1. A already holds SERVER_MAX_CONNECTIONS_PER_ADDRESS: A's own oldest idle connection is
 *    closed for it; if A has none settled, go to 3. Past its bound an address only competes
 *    with itself, so its long-polls count against it, not against everyone.
 * 2. All SERVER_MAX_CONNECTIONS are open: the oldest idle connection of the address holding
 *    the most (among those with one settled) is closed for it; if there is none, go to 3.
 * 3. The probe reserve: a few connections beyond both bounds, PROBE_RESERVE_PER_ADDRESS at
 *    most per address, each for one request, and only `/healthz` and `/readyz` reach the app
 *    on it (others: 503 `too_many_connections`, `Retry-After: 1`). Which connection carries a
 *    probe is unknown until its request is read, so this is how a health check gets through a
 *    cap full of busy connections. A full reserve makes room as in 2.
 * 4. Else the connection is closed at once.
 *
 * The address is the socket's peer (an IPv6 address counted by its /64, as the rate limiter
 * counts it: lib/foundation/ip.ts `limitingKey`). TRUST_PROXY does not apply: no header is
 * read before a connection is admitted, and behind a proxy every connection is the proxy's.
 */

/** Connections admitted beyond the bounds, one health-check request each. */
export const PROBE_RESERVE = 16;
/** Of the reserve, at most this many per address: a flooding address cannot take it all. */
export const PROBE_RESERVE_PER_ADDRESS = 2;
/**
 * How long a connection must have been idle before it may be closed to make room. A request
 * sent right behind the connect or the last answer is read within a few turns of the event
 * loop; this covers turns slowed down by a loaded process.
 */
export const SETTLED_MS = 250;

export type Admission = 'admitted' | 'probes-only' | 'refused';

interface Peer {
  key: string;
  open: number;
  /** Idle connections and since when (ms), oldest first: a Map iterates in insertion order. */
  idle: Map<Socket, number>;
}

class Pool {
  readonly peers = new Map<string, Peer>();
  size = 0;
  constructor(
    readonly capacity: number,
    readonly perAddress: number,
  ) {}
}

interface Entry {
  pool: Pool;
  peer: Peer;
  /** Requests being handled on it: busy while above 0. */
  requests: number;
}

export interface ConnectionLimits {
  maxConnections: number;
  maxPerAddress: number;
}

export class ConnectionTable {
  private readonly main: Pool;
  private readonly reserve = new Pool(PROBE_RESERVE, PROBE_RESERVE_PER_ADDRESS);
  private readonly entries = new Map<Socket, Entry>();

  /**
   * `close` is called for each idle connection closed to make room, after it left the table.
   * `now` is the clock in ms (tests may pass their own).
   */
  constructor(
    limits: ConnectionLimits,
    private readonly close: (socket: Socket) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.main = new Pool(limits.maxConnections, limits.maxPerAddress);
  }

  /** A new connection: admitted (idle until its first request), for probes only, or refused. */
  admit(socket: Socket): Admission {
    const key = addressKey(socket.remoteAddress);
    if (this.makeRoom(this.main, key)) {
      this.add(socket, key, this.main);
      return 'admitted';
    }
    if (this.makeRoom(this.reserve, key)) {
      this.add(socket, key, this.reserve);
      return 'probes-only';
    }
    return 'refused';
  }

  /** A request on it is being handled (pipelined ones count one each). */
  requestStarted(socket: Socket): void {
    const entry = this.entries.get(socket);
    if (!entry) return;
    entry.requests += 1;
    entry.peer.idle.delete(socket);
  }

  /** A request on it was answered; with none left it waits, idle, for the next one. */
  requestAnswered(socket: Socket): void {
    const entry = this.entries.get(socket);
    if (!entry || --entry.requests > 0 || socket.destroyed) return;
    entry.peer.idle.set(socket, this.now());
  }

  /** It closed. */
  remove(socket: Socket): void {
    const entry = this.entries.get(socket);
    if (!entry) return;
    this.entries.delete(socket);
    entry.peer.idle.delete(socket);
    entry.peer.open -= 1;
    entry.pool.size -= 1;
    if (entry.peer.open === 0) entry.pool.peers.delete(entry.peer.key);
  }

  isProbesOnly(socket: Socket): boolean {
    return this.entries.get(socket)?.pool === this.reserve;
  }

  /** Connections open (reserve included). */
  get size(): number {
    return this.entries.size;
  }

  /** Every idle connection, now. */
  idleSockets(): Socket[] {
    return [...this.entries].filter(([socket, entry]) => entry.peer.idle.has(socket)).map(([socket]) => socket);
  }

  private makeRoom(pool: Pool, key: string): boolean {
    const peer = pool.peers.get(key);
    const settledBefore = this.now() - SETTLED_MS;
    if (peer && peer.open >= pool.perAddress) return this.closeOldestIdle(peer, settledBefore);
    if (pool.size < pool.capacity) return true;
    let greediest: Peer | undefined;
    for (const candidate of pool.peers.values()) {
      if (candidate.open > (greediest?.open ?? 0) && oldestIdle(candidate, settledBefore)) greediest = candidate;
    }
    return greediest !== undefined && this.closeOldestIdle(greediest, settledBefore);
  }

  private closeOldestIdle(peer: Peer, settledBefore: number): boolean {
    const oldest = oldestIdle(peer, settledBefore);
    if (!oldest) return false;
    this.remove(oldest);
    this.close(oldest);
    return true;
  }

  private add(socket: Socket, key: string, pool: Pool): void {
    let peer = pool.peers.get(key);
    if (!peer) pool.peers.set(key, (peer = { key, open: 0, idle: new Map() }));
    peer.open += 1;
    peer.idle.set(socket, this.now());
    pool.size += 1;
    this.entries.set(socket, { pool, peer, requests: 0 });
  }
}

/** The peer's connection idle the longest, if it has been idle since before `settledBefore`. */
function oldestIdle(peer: Peer, settledBefore: number): Socket | undefined {
  const first = peer.idle.entries().next();
  return !first.done && first.value[1] <= settledBefore ? first.value[0] : undefined;
}

/** The address a connection counts against: IPv4 as itself, IPv6 by its /64. */
export function addressKey(remoteAddress: string | undefined): string {
  const address = remoteAddress === undefined ? undefined : parseIp(remoteAddress);
  return address ? limitingKey(address) : 'unknown';
}
