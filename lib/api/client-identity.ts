import type { Context } from 'hono';
import type { BearerCheck } from './auth.ts';

/**
 * Who a request is counted against for rate limiting.
 *
 * The peer address comes from the platform, through `AppDeps.clientAddress`: the socket on
 * Node (local/client-address.ts), `cf-connecting-ip` on Workers (`cloudflareClientAddress`).
 * `X-Forwarded-For` is anyone's to write, so it is read only with TRUST_PROXY=true, and then
 * only its last entry: the one the proxy in front of us appended. TRUST_PROXY therefore
 * means "exactly one proxy hop that appends the peer address" (nginx
 * `$proxy_add_x_forwarded_for`, load balancers); entries further left are client-supplied.
 */
export type ClientAddress = (c: Context) => string | undefined;

/** Workers: Cloudflare sets this header itself; clients cannot forge it. */
export const cloudflareClientAddress: ClientAddress = (c) => c.req.header('cf-connecting-ip');

/** The last non-empty entry of an `X-Forwarded-For` value. */
export function lastForwardedFor(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const entries = header.split(',').map((entry) => entry.trim()).filter(Boolean);
  return entries[entries.length - 1];
}

/** `::ffff:1.2.3.4` (IPv4 on a dual-stack socket) and `1.2.3.4` are one client. */
export function normalizeAddress(address: string): string {
  const trimmed = address.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(trimmed);
  return mapped ? mapped[1]! : trimmed;
}

export interface ClientIdentityOptions {
  clientAddress?: ClientAddress;
  trustProxy: boolean;
  /** API_TOKEN's check: a request bearing the valid token is counted as the token. */
  apiToken?: BearerCheck;
}

/**
 * `token:api` for a request with the valid API token (all holders of the one token share one
 * budget, wherever they connect from; nothing derived from the token goes into Redis keys),
 * else `ip:<address>`. A wrong token counts
 * against the address, so guessing tokens is rate limited too. Requests whose address is
 * unknown share the key `ip:unknown`.
 */
export function clientIdentity(options: ClientIdentityOptions): (c: Context) => Promise<string> {
  return async (c) => {
    if (options.apiToken && (await options.apiToken.matches(c.req.raw))) return 'token:api';
    const forwarded = options.trustProxy ? lastForwardedFor(c.req.header('x-forwarded-for')) : undefined;
    const address = forwarded ?? options.clientAddress?.(c);
    return `ip:${address ? normalizeAddress(address) : 'unknown'}`;
  };
}
