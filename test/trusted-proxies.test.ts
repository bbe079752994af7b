import { describe, expect, it } from 'vitest';
import { inRange, limitingKey, parseIp, parseIpRange, type IpAddress } from '../lib/foundation/ip.ts';
import { parseTrustProxy, type TrustProxy } from '../lib/config/trust-proxy.ts';
import { clientAddressFrom, forwardedScheme } from '../lib/api/trusted-proxies.ts';
import { ConfigError, loadConfig } from '../lib/config/config.ts';

/**
 * TRUST_PROXY as pure logic: parsing, and which address a request is counted as. Addresses
 * here are strings in headers only (documentation ranges 192.0.2.0/24, 198.51.100.0/24,
 * 203.0.113.0/24, 2001:db8::/32); no traffic goes anywhere.
 */
const key = (address: IpAddress | undefined) => (address ? limitingKey(address) : undefined);
const client = (peer: string | undefined, xff: string | undefined, trust: TrustProxy) => key(clientAddressFrom(peer, xff, trust));

describe('parseIp / parseIpRange', () => {
  it('parses IPv4, IPv6 (compressed, bracketed, with an IPv4 tail) and IPv4-mapped IPv6 as IPv4', () => {
    expect(key(parseIp('192.0.2.1'))).toBe('192.0.2.1');
    expect(key(parseIp('::ffff:192.0.2.1'))).toBe('192.0.2.1');
    expect(key(parseIp('[2001:DB8::1]'))).toBe('2001:db8::/64');
    expect(key(parseIp('2001:db8:0:5:aaaa::1'))).toBe('2001:db8:0:5::/64');
    expect(key(parseIp('::1'))).toBe('::/64');
    expect(parseIp('2001:db8::192.0.2.1')?.version).toBe(6);
  });

  it('rejects anything that is not exactly an address', () => {
    for (const text of ['garbage-1', '', 'unknown', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4:80', '2001:db8:::1', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fe80::1%eth0', '_hidden', '2001:db8::g']) {
      expect(parseIp(text), text).toBeUndefined();
    }
  });

  it('CIDR ranges match by prefix, never across IP versions', () => {
    const range = parseIpRange('10.0.0.0/8')!;
    expect(inRange(parseIp('10.200.3.4')!, range)).toBe(true);
    expect(inRange(parseIp('11.0.0.1')!, range)).toBe(false);
    expect(inRange(parseIp('::ffff:10.1.1.1')!, range)).toBe(true);
    expect(inRange(parseIp('2001:db8::1')!, parseIpRange('2001:db8::/32')!)).toBe(true);
    expect(inRange(parseIp('2001:db9::1')!, parseIpRange('2001:db8::/32')!)).toBe(false);
    expect(inRange(parseIp('192.0.2.9')!, parseIpRange('192.0.2.8/29')!)).toBe(true);
    expect(inRange(parseIp('192.0.2.16')!, parseIpRange('192.0.2.8/29')!)).toBe(false);
    expect(inRange(parseIp('127.0.0.1')!, parseIpRange('::1')!)).toBe(false);
    for (const text of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/8/8', 'proxy.internal', '2001:db8::/129']) expect(parseIpRange(text), text).toBeUndefined();
  });
});

describe('parseTrustProxy (TRUST_PROXY)', () => {
  it('takes false, a hop count (true = 1), or a list of addresses/CIDRs', () => {
    expect(parseTrustProxy('false')).toBe(false);
    expect(parseTrustProxy('0')).toBe(false);
    expect(parseTrustProxy('true')).toEqual({ hops: 1 });
    expect(parseTrustProxy('1')).toEqual({ hops: 1 });
    expect(parseTrustProxy('2')).toEqual({ hops: 2 });
    const list = parseTrustProxy('10.0.0.0/8, 192.0.2.7 ,2001:db8::/48');
    expect(list && 'ranges' in list ? list.ranges.map((r) => r.prefix) : list).toEqual([8, 32, 48]);
    expect(() => parseTrustProxy('10.0.0.0/8, proxy.internal')).toThrow(/"proxy.internal" is not an IP address or CIDR range/);
  });

  it('is read by loadConfig: default false, a bad value is a one-line ConfigError naming TRUST_PROXY', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toEqual({ hops: 1 });
    expect(() => loadConfig({ TRUST_PROXY: 'maybe' })).toThrow(ConfigError);
    expect(() => loadConfig({ TRUST_PROXY: 'maybe' })).toThrow(/^invalid TRUST_PROXY="maybe": .*not an IP address/);
  });
});

describe('clientAddressFrom', () => {
  const peer = '127.0.0.1';

  it('false: always the socket peer, whatever the header says', () => {
    expect(client(peer, '203.0.113.5', false)).toBe('127.0.0.1');
    expect(client('::ffff:127.0.0.1', undefined, false)).toBe('127.0.0.1');
  });

  it('1 hop: the entry our proxy appended (the last); what the client wrote to its left is ignored', () => {
    const one = parseTrustProxy('1');
    expect(client(peer, '203.0.113.5', one)).toBe('203.0.113.5');
    expect(client(peer, '198.51.100.1, 10.9.9.9, 203.0.113.5', one)).toBe('203.0.113.5');
    expect(client(peer, undefined, one)).toBe('127.0.0.1');
  });

  it('2 hops: the second entry from the right; fewer entries than hops: the leftmost', () => {
    const two = parseTrustProxy('2');
    expect(client(peer, '198.51.100.1, 203.0.113.5, 192.0.2.10', two)).toBe('203.0.113.5');
    expect(client(peer, '203.0.113.5', two)).toBe('203.0.113.5');
  });

  it('a CIDR list: the first address from the right that is not one of our proxies', () => {
    const ours = parseTrustProxy('127.0.0.0/8, 192.0.2.0/24');
    expect(client(peer, '198.51.100.1, 203.0.113.5, 192.0.2.10, 192.0.2.11', ours)).toBe('203.0.113.5');
    // A peer that is not a proxy of ours: its header is not believed at all.
    expect(client('203.0.113.99', '198.51.100.1', ours)).toBe('203.0.113.99');
    // Every hop ours: the furthest one.
    expect(client(peer, '192.0.2.10', ours)).toBe('192.0.2.10');
  });

  it('an entry that is not an IP address is never the identity: the socket peer is', () => {
    for (const trust of [parseTrustProxy('1'), parseTrustProxy('2'), parseTrustProxy('127.0.0.1')]) {
      expect(client(peer, 'garbage-1', trust)).toBe('127.0.0.1');
      expect(client(peer, 'unknown', trust)).toBe('127.0.0.1');
      expect(client(peer, '_hidden, 203.0.113.5:443', trust)).toBe('127.0.0.1');
    }
    expect(client(peer, '203.0.113.5, garbage-2', parseTrustProxy('1'))).toBe('127.0.0.1');
    expect(client(peer, '203.0.113.5, garbage-2', parseTrustProxy('127.0.0.1'))).toBe('127.0.0.1');
  });

  it('IPv6 clients count by /64: two addresses in one /64 are one client, another /64 is another', () => {
    const one = parseTrustProxy('1');
    expect(client(peer, '2001:db8:0:1::a', one)).toBe('2001:db8:0:1::/64');
    expect(client(peer, '2001:db8:0:1:ffff:ffff:ffff:ffff', one)).toBe('2001:db8:0:1::/64');
    expect(client(peer, '2001:db8:0:2::a', one)).toBe('2001:db8:0:2::/64');
    expect(client('::1', undefined, false)).toBe('::/64');
  });

  it('an unknown or non-IP peer is no address', () => {
    expect(client(undefined, '203.0.113.5', false)).toBeUndefined();
    expect(client('not-an-ip', '203.0.113.5', parseTrustProxy('1'))).toBeUndefined();
  });
});

describe('forwardedScheme: X-Forwarded-Proto is believed from a trusted proxy only', () => {
  const ranges = (text: string) => parseTrustProxy(text);
  it('ignores the header without TRUST_PROXY, from a peer outside the ranges, or with no peer', () => {
    expect(forwardedScheme('127.0.0.1', 'https', false)).toBeUndefined();
    expect(forwardedScheme('127.0.0.1', 'https', ranges('10.0.0.0/8'))).toBeUndefined();
    expect(forwardedScheme(undefined, 'https', ranges('true'))).toBeUndefined();
    expect(forwardedScheme('garbage', 'https', ranges('true'))).toBeUndefined();
    expect(forwardedScheme('10.0.0.1', 'https', ranges('0'))).toBeUndefined();
  });

  it('believes the entry its proxy wrote: the nearest for a range, the outermost of n hops', () => {
    expect(forwardedScheme('10.1.2.3', 'https', ranges('10.0.0.0/8'))).toBe('https');
    expect(forwardedScheme('::ffff:10.1.2.3', 'HTTPS', ranges('10.0.0.0/8'))).toBe('https');
    expect(forwardedScheme('192.0.2.1', 'https', ranges('true'))).toBe('https');
    // A client-written entry left of the proxy's is not the proxy's word.
    expect(forwardedScheme('10.1.2.3', 'https, http', ranges('10.0.0.0/8'))).toBe('http');
    expect(forwardedScheme('192.0.2.1', 'https, http', ranges('1'))).toBe('http');
    expect(forwardedScheme('192.0.2.1', 'https, http', ranges('2'))).toBe('https');
    expect(forwardedScheme('192.0.2.1', 'https', ranges('2'))).toBe('https');
    expect(forwardedScheme('10.1.2.3', undefined, ranges('10.0.0.0/8'))).toBeUndefined();
  });
});
