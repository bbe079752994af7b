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

type Range4 = readonly [base: string, prefix: number, kind: AddressKind];

/** First match wins, so the single metadata addresses come before the ranges holding them. */
const IPV4_RANGES: readonly Range4[] = [
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
type Range6 = readonly [base: string, prefix: number, kind: AddressKind | 'ipv4-in-low-32' | 'ipv4-in-6to4'];

const IPV6_RANGES: readonly Range6[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['::ffff:0:0', 96, 'ipv4-in-low-32'], // IPv4-mapped
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

/** `a.b.c.d` in strict dotted-decimal → a 32-bit number; anything else → undefined. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value;
}

/** An IPv6 literal (optionally in brackets, with a zone) → a 128-bit bigint; else undefined. */
export function parseIPv6(text: string): bigint | undefined {
  let s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (!s.includes(':') || !/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const groups: number[] = [];
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parseHalf = (half: string): number[] | undefined => {
    if (half === '') return [];
    const out: number[] = [];
    const pieces = half.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIPv4(piece);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) out.push(parseInt(piece, 16));
      else return undefined;
    }
    return out;
  };
  const head = parseHalf(halves[0]!);
  const tail = halves.length === 2 ? parseHalf(halves[1]!) : [];
  if (!head || !tail) return undefined;
  if (halves.length === 2) {
    if (head.length + tail.length > 7) return undefined;
    groups.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  } else {
    if (head.length !== 8) return undefined;
    groups.push(...head);
  }
  // A dotted quad is only valid as the last 32 bits.
  if (s.includes('.') && !/(^|:)[0-9.]+$/.test(s)) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

const inRange4 = (value: number, base: number, prefix: number) =>
  prefix === 0 || value >>> (32 - prefix) === base >>> (32 - prefix);

const IPV4_PARSED = IPV4_RANGES.map(([base, prefix, kind]) => [parseIPv4(base)!, prefix, kind] as const);
const IPV6_PARSED = IPV6_RANGES.map(([base, prefix, kind]) => [parseIPv6(base)!, BigInt(128 - prefix), kind] as const);

function classifyIPv4(value: number): AddressKind {
  for (const [base, prefix, kind] of IPV4_PARSED) if (inRange4(value, base, prefix)) return kind;
  return 'public';
}

function classifyIPv6(value: bigint): AddressKind {
  for (const [base, shift, kind] of IPV6_PARSED) {
    if (value >> shift !== base >> shift) continue;
    if (kind === 'ipv4-in-low-32') return classifyIPv4(Number(value & 0xffffffffn));
    if (kind === 'ipv4-in-6to4') return classifyIPv4(Number((value >> 80n) & 0xffffffffn));
    return kind;
  }
  return 'public';
}

/**
 * The kind of an IP address literal (IPv4 dotted-decimal, or IPv6 with or without brackets),
 * or undefined when `text` is not one (a DNS name). URL hosts are already normalised by the
 * WHATWG parser (`http://0x7f.1/` has hostname `127.0.0.1`), so strict parsing suffices.
 */
export function classifyAddress(text: string): AddressKind | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return classifyIPv4(v4);
  const v6 = parseIPv6(text);
  if (v6 !== undefined) return classifyIPv6(v6);
  return undefined;
}
