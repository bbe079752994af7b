import type { Context } from 'hono';
import type { BearerCheck } from './auth.ts';
import { limitingKey } from '../foundation/ip.ts';
import type { TrustProxy } from '../config/trust-proxy.ts';
import { clientAddressFrom, forwardedScheme } from './trusted-proxies.ts';

/**
 * Who a request is counted against for rate limiting.
 *
 * The peer address comes from the platform, through `AppDeps.clientAddress`: the socket on
 * Node (local/client-address.ts), `cf-connecting-ip` on Workers (`cloudflareClientAddress`).
 * `X-Forwarded-For` is anyone's to write: which of its entries to believe is TRUST_PROXY's
 * to say (./trusted-proxies.ts), and an entry that is not an IP address is never believed.
 */
export type ClientAddress = (c: Context) => string | undefined;

/** Workers: Cloudflare sets this header itself; clients cannot forge it. */
export const cloudflareClientAddress: ClientAddress = (c) => c.req.header('cf-connecting-ip');

export interface ClientIdentityOptions {
  clientAddress?: ClientAddress;
  trustProxy: TrustProxy;
  /** API_TOKEN's check: a request bearing the valid token is counted as the token. */
  apiToken?: BearerCheck;
}

/**
 * `token:api` for a request with the valid API token (all holders of the one token share one
 * budget, wherever they connect from; nothing derived from the token goes into Redis keys),
 * else `ip:<address>` (IPv6: `ip:<its /64>::/64`). A wrong token counts against the address,
 * so guessing tokens is rate limited too. Requests whose address is unknown share the key
 * `ip:unknown`.
 */
export function clientIdentity(options: ClientIdentityOptions): (c: Context) => Promise<string> {
  const addressKey = clientAddressKey(options);
  return async (c) => {
    if (options.apiToken && (await options.apiToken.matches(c.req.raw))) return 'token:api';
    return addressKey(c);
  };
}

/**
 * The client's address as a limiting key: `ip:<address>` (IPv6: its /64), `ip:unknown` when
 * the platform does not say. The dashboard's limits (lib/ui/) count by it too.
 */
export function clientAddressKey(options: Omit<ClientIdentityOptions, 'apiToken'>): (c: Context) => string {
  return (c) => {
    const address = clientAddressFrom(options.clientAddress?.(c), c.req.header('x-forwarded-for'), options.trustProxy);
    return `ip:${address ? limitingKey(address) : 'unknown'}`;
  };
}

/**
 * What the platform and TRUST_PROXY say about a request beyond its own bytes, for parts that
 * do not read headers themselves (the dashboard, lib/ui/): the client's address key, and
 * whether the client connected over HTTPS (the request URL's scheme, or X-Forwarded-Proto from
 * a trusted proxy: ./trusted-proxies.ts `forwardedScheme`).
 */
export function requestFacts(options: Omit<ClientIdentityOptions, 'apiToken'>): { clientKey: (c: Context) => string; isHttps: (c: Context) => boolean } {
  return {
    clientKey: clientAddressKey(options),
    isHttps: (c) =>
      new URL(c.req.url).protocol === 'https:' || forwardedScheme(options.clientAddress?.(c), c.req.header('x-forwarded-proto'), options.trustProxy) === 'https',
  };
}
