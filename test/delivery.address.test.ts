import { describe, expect, it } from 'vitest';
import { classifyAddress, type AddressKind } from '../lib/delivery/address.ts';
import { parseAllowedHosts } from '../lib/config/parsers.ts';
import { DestinationGuard } from '../lib/delivery/guard.ts';
import { retryAfter } from '../lib/delivery/http-task.ts';
import { loadConfig } from '../lib/config/config.ts';

/**
 * The SSRF guard's address classifier as a pure function: no address here is ever contacted
 * (DESIGN.md: refusal of private and metadata ranges is proven without sending a packet).
 */
const CASES: [string, AddressKind | undefined][] = [
  // IPv4
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['10.0.0.1', 'private'],
  ['10.255.255.255', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['172.32.0.1', 'public'],
  ['172.15.255.255', 'public'],
  ['192.168.1.1', 'private'],
  ['169.254.0.1', 'link-local'],
  ['169.254.169.254', 'metadata'],
  ['169.254.170.2', 'metadata'],
  ['100.100.100.200', 'metadata'],
  ['192.0.0.192', 'metadata'],
  ['100.64.0.1', 'cgnat'],
  ['100.127.255.255', 'cgnat'],
  ['100.128.0.1', 'public'],
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['255.255.255.255', 'broadcast'],
  ['240.0.0.1', 'reserved'],
  ['192.0.2.10', 'documentation'],
  ['198.51.100.7', 'documentation'],
  ['203.0.113.99', 'documentation'],
  ['198.18.0.1', 'benchmark'],
  ['198.19.255.255', 'benchmark'],
  ['198.20.0.1', 'public'],
  ['8.8.8.8', 'public'],
  ['1.1.1.1', 'public'],
  ['93.184.216.34', 'public'],
  // IPv6
  ['::1', 'loopback'],
  ['[::1]', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback'],
  ['::', 'unspecified'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['febf:ffff::1', 'link-local'],
  ['fc00::1', 'private'],
  ['fd12:3456:789a::1', 'private'],
  ['fd00:ec2::254', 'metadata'],
  ['fec0::1', 'private'],
  ['ff02::1', 'multicast'],
  ['ff05::1:3', 'multicast'],
  ['2001:db8::1', 'documentation'],
  ['3fff::1', 'documentation'],
  ['2001:2::1', 'benchmark'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'], // Teredo
  ['100::1', 'reserved'],
  ['2606:4700:4700::1111', 'public'],
  ['2a00:1450:4001:81c::200e', 'public'],
  // IPv4 inside IPv6: the embedded address decides
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['[::ffff:169.254.169.254]', 'metadata'],
  ['::ffff:10.1.2.3', 'private'],
  ['::ffff:8.8.8.8', 'public'],
  ['64:ff9b::a9fe:a9fe', 'metadata'], // NAT64 of 169.254.169.254
  ['64:ff9b::808:808', 'public'],
  ['64:ff9b:1::1', 'private'],
  ['2002:7f00:1::', 'loopback'], // 6to4 of 127.0.0.1
  ['2002:c0a8:101::1', 'private'], // 6to4 of 192.168.1.1
  ['2002:808:808::1', 'public'],
  ['::127.0.0.1', 'reserved'], // IPv4-compatible (deprecated)
  // Not IP literals: DNS names and malformed text
  ['localhost', undefined],
  ['example.com', undefined],
  ['127.0.0.1.nip.io', undefined],
  ['127.1', undefined],
  ['0x7f000001', undefined],
  ['01.2.3.4', undefined],
  ['256.1.1.1', undefined],
  ['1:2:3:4:5:6:7:8:9', undefined],
  ['1::2::3', undefined],
  ['1.2.3.4::', undefined],
  ['12345::', undefined],
];

describe('classifyAddress', () => {
  it.each(CASES)('%s → %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });
});

describe('DestinationGuard', () => {
  const strict = new DestinationGuard({ allowPrivateNetworks: false, allowedHosts: parseAllowedHosts('hooks.internal, *.svc.cluster.local ,[::1]') });

  it('refuses every non-public literal and names the kind and the way to allow it', () => {
    expect(strict.checkHost('169.254.169.254')).toMatch(/169\.254\.169\.254 is a metadata address; set HTTP_ALLOW_PRIVATE_NETWORKS=true/);
    expect(strict.checkHost('[::ffff:10.0.0.1]')).toMatch(/private/);
    expect(strict.checkHost('8.8.8.8')).toBeUndefined();
    expect(strict.checkHost('example.com')).toBeUndefined();
  });

  it('refuses resolved addresses and says which name resolved to them', () => {
    expect(strict.refusal('metadata.example', '169.254.169.254')).toMatch(/169\.254\.169\.254 is a metadata address \(metadata\.example resolves to it\)/);
    expect(strict.refusal('example.com', '93.184.216.34')).toBeUndefined();
  });

  it('refuses localhost names by name only when asked (runtimes without resolved addresses)', () => {
    expect(strict.checkHost('localhost')).toBeUndefined();
    expect(strict.checkHost('localhost', true)).toMatch(/loopback name/);
    expect(strict.checkHost('api.localhost', true)).toMatch(/loopback name/);
  });

  it('lets HTTP_ALLOWED_HOSTS through: exact names, *.suffix, bracketed IPv6', () => {
    expect(strict.refusal('hooks.internal', '10.0.0.5')).toBeUndefined();
    expect(strict.refusal('HOOKS.internal', '10.0.0.5')).toBeUndefined();
    expect(strict.refusal('a.b.svc.cluster.local', '10.0.0.5')).toBeUndefined();
    expect(strict.refusal('svc.cluster.local', '10.0.0.5')).toMatch(/private/);
    expect(strict.refusal('evilsvc.cluster.local', '10.0.0.5')).toMatch(/private/);
    expect(strict.refusal('other.internal', '10.0.0.5')).toMatch(/private/);
    expect(strict.checkHost('[::1]')).toBeUndefined();
  });

  it('HTTP_ALLOW_PRIVATE_NETWORKS=true opens everything', () => {
    const open = new DestinationGuard({ allowPrivateNetworks: true, allowedHosts: [] });
    for (const [address] of CASES) expect(open.checkHost(address, true)).toBeUndefined();
  });
});

describe('retryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('reads delay-seconds and HTTP-dates', () => {
    expect(retryAfter('2', now)).toBe(now + 2000);
    expect(retryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now)).toBe(now + 60_000);
    expect(retryAfter('soon', now)).toBeUndefined();
    expect(retryAfter(null, now)).toBeUndefined();
  });
});

describe('HTTP_* and WEBHOOK_SECRET configuration', () => {
  const base = { DATABASE_URL: 'file:unused.db' };
  it('parses the lists and defaults', () => {
    const config = loadConfig({ ...base, HTTP_ALLOWED_HOSTS: 'Hooks.Internal, *.svc.local', WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, whsec_dGFzay1wb29sLW9sZC1zZWNyZXQtMDEyMzQ1Njc4OQ==' });
    expect(config.httpAllowedHosts).toEqual(['hooks.internal', '*.svc.local']);
    expect(config.webhookSecrets).toHaveLength(2);
    expect(loadConfig(base)).toMatchObject({ httpAllowPrivateNetworks: false, httpMaxResponseBytes: 65_536, httpFollowRedirects: 0, httpMaxPerHost: 10, webhookSecrets: [] });
  });
  it('refuses a secret that is not whsec_ + base64 of 24 to 64 bytes, naming the variable', () => {
    expect(() => loadConfig({ ...base, WEBHOOK_SECRET: 'hunter2' })).toThrow(/^invalid WEBHOOK_SECRET=.*whsec_/);
    expect(() => loadConfig({ ...base, WEBHOOK_SECRET: 'whsec_c2hvcnQ=' })).toThrow(/invalid WEBHOOK_SECRET/);
    expect(() => loadConfig({ ...base, HTTP_MAX_PER_HOST: '0' })).toThrow(/invalid HTTP_MAX_PER_HOST/);
    expect(() => loadConfig({ ...base, HTTP_ALLOWED_HOSTS: 'a b' })).toThrow(/invalid HTTP_ALLOWED_HOSTS/);
  });
});

describe('configuration errors', () => {
  it('do not quote a secret back', () => {
    expect(() => loadConfig({ DATABASE_URL: 'file:unused.db', WEBHOOK_SECRET: 'whsec_hunter2' })).toThrow(/^invalid WEBHOOK_SECRET="…": /);
    try {
      loadConfig({ DATABASE_URL: 'file:unused.db', WEBHOOK_SECRET: 'whsec_hunter2' });
    } catch (error) {
      expect(String(error)).not.toContain('hunter2');
    }
  });
});
