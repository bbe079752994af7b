import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { Agent, fetch as undiciFetch } from 'undici';
import type { HttpTransport } from '../lib/delivery/index.ts';
import { DestinationRefused, type DestinationGuard } from '../lib/delivery/guard.ts';

/**
 * The Node transport for `http` tasks: undici's fetch over an Agent whose DNS lookup refuses
 * addresses the guard does not allow, before any connection is made. So `localhost`, or a
 * public-looking name that resolves to 127.0.0.1 or 169.254.169.254, is refused at connect
 * time; each redirect hop opens its connection through the same lookup. IP literals never
 * reach a lookup; the handler checks those itself (lib/delivery/http-task.ts).
 *
 * Signatures use node:crypto's HMAC (same bytes as Web Crypto's, far cheaper here).
 *
 * The error carries `DestinationRefused` as the fetch error's cause, which the handler turns
 * into a permanent failure that says why.
 */
export function guardedTransport(guard: DestinationGuard, options: { connections?: number } = {}): HttpTransport {
  const agent = new Agent({
    connections: options.connections,
    connect: {
      lookup(hostname, lookupOptions, callback) {
        dnsLookup(hostname, { ...lookupOptions, all: true }, (error, addresses: LookupAddress[]) => {
          if (error) return callback(error, []);
          for (const { address } of addresses) {
            const refusal = guard.refusal(hostname, address);
            if (refusal) return callback(new DestinationRefused(refusal), []);
          }
          // undici's connector asks with `all: true` semantics off or on; answer in its shape.
          if ((lookupOptions as { all?: boolean }).all) return callback(null, addresses);
          const first = addresses[0]!;
          (callback as unknown as (e: null, address: string, family: number) => void)(null, first.address, first.family);
        });
      },
    },
  });
  return {
    fetch: (url, init) => undiciFetch(url, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher: agent }) as unknown as Promise<Response>,
    checksResolvedAddresses: true,
    // Synchronous: Node's Web Crypto HMAC costs a thread-pool job per signature.
    hmacSha256: (key, content) => createHmac('sha256', key).update(content).digest('base64'),
  };
}
