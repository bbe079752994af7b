/**
 * IP addresses and CIDR ranges, without `node:net` (lib/ runs on workerd too): parse
 * strictly, compare by prefix, print canonically. Used by the proxy settings and the rate
 * limiter (lib/config/trust-proxy.ts, lib/api/client-identity.ts) and by the SSRF guard's classifier
 * (lib/delivery/address.ts). A value that does not parse is not an address.
 */
export interface IpAddress {
  version: 4 | 6;
  /** 4 or 16 bytes, network order. IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is stored as IPv4. */
  bytes: Uint8Array;
}

export interface IpRange {
  address: IpAddress;
  prefix: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIpv4(text: string): Uint8Array | undefined {
  const match = IPV4.exec(text);
  if (!match) return undefined;
  const parts = match.slice(1).map((part) => (part.length > 1 && part.startsWith('0') ? NaN : Number(part)));
  return parts.every((n) => n >= 0 && n <= 255) ? Uint8Array.from(parts) : undefined;
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (!/^[0-9a-f:.]+$/i.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  // A dotted quad may only be the address's last 32 bits (`::ffff:1.2.3.4`, not `1.2.3.4::`).
  const groups = (half: string, last: boolean): number[] | undefined => {
    if (half === '') return [];
    const out: number[] = [];
    const pieces = half.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (last && i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-f]{1,4}$/i.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1]!, true) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 0xff;
  });
  return bytes;
}

/** `1.2.3.4`, `2001:db8::1`, `[2001:db8::1]`, `::ffff:1.2.3.4` (→ IPv4); anything else undefined. */
export function parseIp(text: string): IpAddress | undefined {
  const trimmed = text.trim().replace(/^\[(.*)\]$/, '$1');
  const v4 = parseIpv4(trimmed);
  if (v4) return { version: 4, bytes: v4 };
  const v6 = parseIpv6(trimmed);
  if (!v6) return undefined;
  const mapped = v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return mapped ? { version: 4, bytes: v6.slice(12) } : { version: 6, bytes: v6 };
}

/** `10.0.0.0/8`, `2001:db8::/32`, or one address (a /32 or /128). */
export function parseIpRange(text: string): IpRange | undefined {
  const [addressText, prefixText, extra] = text.trim().split('/');
  if (extra !== undefined || addressText === undefined) return undefined;
  const address = parseIp(addressText);
  if (!address) return undefined;
  const bits = address.bytes.length * 8;
  if (prefixText === undefined) return { address, prefix: bits };
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  let prefix = Number(prefixText);
  // An IPv4-mapped range (`::ffff:10.0.0.0/104`) is the IPv4 range it maps.
  if (address.version === 4 && addressText.includes(':')) prefix -= 96;
  return prefix >= 0 && prefix <= bits ? { address, prefix } : undefined;
}

export function inRange(address: IpAddress, range: IpRange): boolean {
  if (address.version !== range.address.version) return false;
  for (let bit = 0; bit < range.prefix; bit += 8) {
    const take = Math.min(8, range.prefix - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    if ((address.bytes[bit / 8]! & mask) !== (range.address.bytes[bit / 8]! & mask)) return false;
  }
  return true;
}

/**
 * How a client is counted: an IPv4 address as itself, an IPv6 address by its /64 (one
 * subscriber usually holds a whole /64 and can pick any address in it at will).
 */
export function limitingKey(address: IpAddress): string {
  if (address.version === 4) return address.bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push(((address.bytes[i]! << 8) | address.bytes[i + 1]!).toString(16));
  // Drop trailing zero groups of the prefix so `2001:db8::/64` reads as usual.
  while (groups.length > 0 && groups[groups.length - 1] === '0') groups.pop();
  return `${groups.join(':')}::/64`;
}

/** `[::1]` → `::1`; lower case. URL.hostname keeps IPv6 brackets. */
export const bareHost = (hostname: string): string =>
  (hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname).toLowerCase();
