import { inRange, parseIp, type IpAddress } from '../foundation/ip.ts';
import type { TrustProxy } from '../config/trust-proxy.ts';

/**
 * The client address for a request whose socket peer is `peer`, given its `X-Forwarded-For`
 * header (several headers joined by commas, as fetch's Headers does). Undefined when the peer
 * is unknown or not an IP address.
 */
export function clientAddressFrom(peer: string | undefined, forwardedFor: string | undefined, trust: TrustProxy): IpAddress | undefined {
  const peerAddress = peer === undefined ? undefined : parseIp(peer);
  if (!trust || !peerAddress || !forwardedFor) return peerAddress;
  // Nearest first: the peer, then the header from its right end.
  const entries = forwardedFor.split(',').map((entry) => entry.trim()).filter(Boolean).reverse();

  if ('hops' in trust) {
    if (trust.hops === 0 || entries.length === 0) return peerAddress;
    // Fewer entries than proxies: the request skipped an outer proxy; the leftmost entry is
    // still one a proxy of ours wrote.
    const entry = entries[Math.min(trust.hops, entries.length) - 1]!;
    return parseIp(entry) ?? peerAddress;
  }

  const trusted = (address: IpAddress) => trust.ranges.some((range) => inRange(address, range));
  if (!trusted(peerAddress)) return peerAddress;
  let last: IpAddress = peerAddress;
  for (const entry of entries) {
    const address = parseIp(entry);
    if (!address) return peerAddress;
    if (!trusted(address)) return address;
    last = address;
  }
  // Every hop is one of ours: the furthest is the best we know.
  return last;
}

/**
 * The scheme a trusted proxy says the client used (`X-Forwarded-Proto`), lower case, or
 * undefined when nobody we trust said it: no TRUST_PROXY, an unknown peer, or a peer outside
 * the TRUST_PROXY ranges (anyone can send the header; only a proxy of ours speaks for the
 * client). With a hop count every peer is taken for the nearest proxy (that is what the
 * setting claims) and the entry of the outermost one is used; with ranges, the nearest
 * proxy's, the rightmost: an entry left of it may be the client's own.
 */
export function forwardedScheme(peer: string | undefined, forwardedProto: string | undefined, trust: TrustProxy): string | undefined {
  const peerAddress = peer === undefined ? undefined : parseIp(peer);
  if (!trust || !peerAddress || !forwardedProto) return undefined;
  const entries = forwardedProto.split(',').map((entry) => entry.trim().toLowerCase()).filter(Boolean).reverse();
  if (entries.length === 0) return undefined;
  if ('hops' in trust) return trust.hops === 0 ? undefined : entries[Math.min(trust.hops, entries.length) - 1];
  return trust.ranges.some((range) => inRange(peerAddress, range)) ? entries[0] : undefined;
}
