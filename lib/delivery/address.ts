/**
 * A pure classifier of IP address literals, the core of the SSRF guard (guard.ts). It reads
 * text and never touches the network, so every range is unit-tested with many addresses
 * (test/delivery.address.test.ts) without sending a packet anywhere.
 *
 * `public` is the only kind the guard lets through by default. The ranges are IANA's special-
 * purpose registries for IPv4 and IPv6; the cloud metadata endpoints are singled out so a
 * refusal says "metadata" rather than "link-local". Addresses that embed an IPv4 address
 * (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) take the kind of the
 * embedded address: ::ffff:127.0.0.1 is loopback, 64:ff9b::808:808 is public.
 */

import { inRange, parseIp, type IpAddress } from '../foundation/ip.ts';

export type AddressKind =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'metadata'
  | 'documentation'
  | 'benchmark'
  | 'reserved';


/** First match wins, so the single metadata addresses come before the ranges holding them. */
const IPV4_RANGES: readonly (readonly [base: string, prefix: number, kind: AddressKind])[] = [
  ['169.254.169.254', 32, 'metadata'], // AWS, GCP, Azure, DigitalOcean, OpenStack
  ['169.254.170.2', 32, 'metadata'], // AWS ECS task metadata
  ['100.100.100.200', 32, 'metadata'], // Alibaba Cloud
  ['192.0.0.192', 32, 'metadata'], // Oracle Cloud
  ['0.0.0.0', 8, 'unspecified'], // "this network"; 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'cgnat'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'], // IETF protocol assignments
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, 'reserved'], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmark'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['255.255.255.255', 32, 'broadcast'],
  ['240.0.0.0', 4, 'reserved'],
];

/** `ipv4-in-low-32` / `ipv4-in-6to4`: the kind of the IPv4 address carried inside. */
type Embedded = 'ipv4-in-low-32' | 'ipv4-in-6to4';

const IPV6_RANGES: readonly (readonly [base: string, prefix: number, kind: AddressKind | Embedded])[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  // IPv4-mapped (::ffff:0:0/96) addresses parse as IPv4 (lib/foundation/ip.ts): classified above.
  ['64:ff9b::', 96, 'ipv4-in-low-32'], // NAT64, well-known prefix
  ['64:ff9b:1::', 48, 'private'], // NAT64, local use
  ['::', 96, 'reserved'], // IPv4-compatible (deprecated)
  ['100::', 64, 'reserved'], // discard only
  ['2001:db8::', 32, 'documentation'],
  ['3fff::', 20, 'documentation'],
  ['2001:2::', 48, 'benchmark'],
  ['2001::', 23, 'reserved'], // IETF protocol assignments, Teredo (2001::/32) included
  ['2002::', 16, 'ipv4-in-6to4'], // 6to4
  ['fd00:ec2::254', 128, 'metadata'], // AWS instance metadata over IPv6
  ['fc00::', 7, 'private'], // unique local
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'private'], // site-local (deprecated)
  ['ff00::', 8, 'multicast'],
];

const parsed = <K>(ranges: readonly (readonly [string, number, K])[]) =>
  ranges.map(([base, prefix, kind]) => [{ address: parseIp(base)!, prefix }, kind] as const);
const IPV4 = parsed(IPV4_RANGES);
const IPV6 = parsed(IPV6_RANGES);

function classify(address: IpAddress): AddressKind {
  if (address.version === 4) {
    for (const [range, kind] of IPV4) if (inRange(address, range)) return kind;
    return 'public';
  }
  for (const [range, kind] of IPV6) {
    if (!inRange(address, range)) continue;
    if (kind === 'ipv4-in-low-32') return classify({ version: 4, bytes: address.bytes.slice(12, 16) });
    if (kind === 'ipv4-in-6to4') return classify({ version: 4, bytes: address.bytes.slice(2, 6) });
    return kind;
  }
  return 'public';
}

/**
 * The kind of an IP address literal (IPv4 dotted-decimal, or IPv6 with or without brackets or
 * a zone), or undefined when `text` is not one (a DNS name). URL hosts are already normalised
 * by the WHATWG parser (`http://0x7f.1/` has hostname `127.0.0.1`), so strict parsing suffices.
 */
export function classifyAddress(text: string): AddressKind | undefined {
  const address = parseIp(text.replace(/%[^\]]*/, ''));
  return address && classify(address);
}
