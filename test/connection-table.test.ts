import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { addressKey, ConnectionTable, PROBE_RESERVE, PROBE_RESERVE_PER_ADDRESS, SETTLED_MS } from '../local/connection-table.ts';

/**
 * Who gets a connection and which idle one is closed for it (local/connection-table.ts), with
 * stand-in sockets and a clock the test moves. The real server under a flood:
 * test/http-server.connections.test.ts.
 */
function table(maxConnections: number, maxPerAddress: number) {
  let now = 0;
  const closed: Socket[] = [];
  const connections = new ConnectionTable({ maxConnections, maxPerAddress }, (socket) => closed.push(socket), () => now);
  const connect = (remoteAddress: string) => {
    const socket = { remoteAddress, destroyed: false } as unknown as Socket;
    return { socket, admission: connections.admit(socket) };
  };
  /** `count` connections from `address`, each given a request that is still being handled. */
  const busy = (address: string, count: number) =>
    Array.from({ length: count }, () => {
      const { socket } = connect(address);
      connections.requestStarted(socket);
      return socket;
    });
  return { connections, closed, connect, busy, wait: (ms: number) => (now += ms) };
}

describe('ConnectionTable', () => {
  it('past its bound an address makes room from its own settled idle connections, oldest first', () => {
    const t = table(100, 2);
    const first = t.connect('10.0.0.1').socket;
    const second = t.connect('10.0.0.1').socket;
    t.wait(SETTLED_MS);
    expect(t.connect('10.0.0.1').admission).toBe('admitted');
    expect(t.closed).toEqual([first]);
    expect(t.connections.size).toBe(2);
    // The one left idle is settled too; the newcomer is not yet.
    expect(t.connect('10.0.0.1').admission).toBe('admitted');
    expect(t.closed).toEqual([first, second]);
  });

  it('a connection accepted or answered a moment ago is never closed: its request may be right behind', () => {
    const t = table(100, 1);
    const { socket } = t.connect('10.0.0.1');
    t.wait(SETTLED_MS - 1);
    expect(t.connect('10.0.0.1').admission).toBe('probes-only');
    t.connections.requestStarted(socket);
    t.wait(SETTLED_MS);
    t.connections.requestAnswered(socket);
    expect(t.connect('10.0.0.1').admission).toBe('probes-only');
    expect(t.closed).toEqual([]);
  });

  it('an address whose connections are all busy (held long-polls) gets the probe reserve, its share of it, then nothing', () => {
    const t = table(100, 3);
    t.busy('10.0.0.1', 3);
    for (let i = 0; i < PROBE_RESERVE_PER_ADDRESS; i++) expect(t.connect('10.0.0.1').admission).toBe('probes-only');
    expect(t.connect('10.0.0.1').admission).toBe('refused');
    // Another address is not affected.
    expect(t.connect('10.0.0.2').admission).toBe('admitted');
    expect(t.closed).toEqual([]);
  });

  it('at the cap, the oldest settled idle connection of the address holding the most is closed', () => {
    const t = table(6, 10);
    t.busy('10.0.0.1', 1);
    const small = t.connect('10.0.0.1').socket;
    const greedy = [t.connect('10.0.0.2').socket, t.connect('10.0.0.2').socket];
    t.busy('10.0.0.2', 2);
    t.wait(SETTLED_MS);
    expect(t.connections.size).toBe(6);
    expect(t.connect('10.0.0.3').admission).toBe('admitted');
    expect(t.closed).toEqual([greedy[0]]);
    expect(t.connect('10.0.0.3').admission).toBe('admitted');
    expect(t.closed).toEqual([greedy[0], greedy[1]]);
    // 10.0.0.2 now holds 2 busy ones; 10.0.0.1 has the only settled idle connection left.
    expect(t.connect('10.0.0.3').admission).toBe('admitted');
    expect(t.closed).toEqual([greedy[0], greedy[1], small]);
  });

  it('at the cap with every connection busy: the probe reserve, then refusal; a busy connection is never closed', () => {
    const t = table(4, 2);
    t.busy('10.0.0.1', 2);
    t.busy('10.0.0.2', 2);
    const addresses = Array.from({ length: PROBE_RESERVE }, (_, i) => `10.1.0.${i}`);
    for (const address of addresses) expect(t.connect(address).admission).toBe('probes-only');
    expect(t.connect('10.2.0.1').admission).toBe('refused');
    // A reserve connection idle a while (a socket that sent nothing) makes room for a probe.
    t.wait(SETTLED_MS);
    expect(t.connect('10.2.0.1').admission).toBe('probes-only');
    expect(t.closed).toHaveLength(1);
    expect(t.connections.size).toBe(4 + PROBE_RESERVE);
  });

  it('a connection is busy until every pipelined request on it is answered', () => {
    const t = table(1, 1);
    const { socket } = t.connect('10.0.0.1');
    t.connections.requestStarted(socket);
    t.connections.requestStarted(socket);
    t.connections.requestAnswered(socket);
    t.wait(SETTLED_MS);
    expect(t.connections.idleSockets()).toEqual([]);
    t.connections.requestAnswered(socket);
    expect(t.connections.idleSockets()).toEqual([socket]);
  });

  it('a closed connection frees its place', () => {
    const t = table(1, 1);
    const { socket } = t.connect('10.0.0.1');
    t.connections.requestStarted(socket);
    expect(t.connect('10.0.0.2').admission).toBe('probes-only');
    t.connections.remove(socket);
    expect(t.connect('10.0.0.2').admission).toBe('admitted');
  });

  it('counts an address as the rate limiter does: IPv4-mapped as IPv4, IPv6 by its /64', () => {
    expect(addressKey('::ffff:127.0.0.2')).toBe('127.0.0.2');
    expect(addressKey('2001:db8:1:2::1')).toBe(addressKey('2001:db8:1:2:ffff::9'));
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
    expect(addressKey(undefined)).toBe('unknown');
  });
});
