import { parseIpRange, type IpRange } from '../foundation/ip.ts';

/**
 * TRUST_PROXY: which `X-Forwarded-For` entries to believe.
 *
 * - `false`: none; the client is the socket peer.
 * - `{ hops: n }` (`1`, `2`, …; `true` is `1`): n proxies stand in front, each appending the
 *   address it got the request from. The peer is the nearest proxy; the entry n−1 from the
 *   right is what the outermost proxy saw, i.e. the client. Entries further left were written
 *   by the client and mean nothing.
 * - `{ ranges }` (`10.0.0.0/8, 192.168.1.7`): any peer or entry inside these ranges is a proxy
 *   of ours; walking from the right, the first address outside them is the client.
 *
 * Whatever the setting, an entry that is not an IP address is never an identity: the answer
 * is then the socket peer, so forged garbage (`X-Forwarded-For: garbage-1`, `-2`, …) lands in
 * one bucket instead of a fresh one per request.
 */
export type TrustProxy = false | { hops: number } | { ranges: IpRange[] };

/** Throws an Error whose message says what TRUST_PROXY accepts. */
export function parseTrustProxy(value: string): TrustProxy {
  const text = value.trim().toLowerCase();
  if (['false', '0', 'no', ''].includes(text)) return false;
  if (['true', 'yes'].includes(text)) return { hops: 1 };
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    if (hops > 100) throw new Error('a hop count must be from 0 to 100');
    return { hops };
  }
  const ranges = text.split(',').map((entry) => {
    const range = parseIpRange(entry);
    if (!range) throw new Error(`${JSON.stringify(entry.trim())} is not an IP address or CIDR range; use false, a hop count, or a comma-separated list of proxy addresses/CIDRs`);
    return range;
  });
  return { ranges };
}
