import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { STATUS_CODES } from 'node:http';
import { Agent, request } from 'undici';
import { decodeChunks, type HttpTransport } from '../lib/delivery/index.ts';
import { DestinationRefused, type DestinationGuard } from '../lib/delivery/guard.ts';

/**
 * The Node transport for `http` tasks: undici's `request()` over an Agent whose DNS lookup
 * refuses addresses the guard does not allow, before any connection is made. So `localhost`, or
 * a public-looking name that resolves to 127.0.0.1 or 169.254.169.254, is refused at connect
 * time; each redirect hop (followed by the handler, never by undici) opens its connection
 * through the same lookup. IP literals never reach a lookup; the handler checks those itself
 * (lib/delivery/http-task.ts).
 *
 * `request()` rather than undici's `fetch`: the handler reads a status, a few headers and a
 * bounded body, and fetch's WHATWG Request/Response/stream layers cost more than the rest of a
 * delivery (bench/README.md, "http-delivery"). `request()` does not follow redirects and has
 * no reason phrase; the standard one for the status is used.
 *
 * Signatures use node:crypto's HMAC (same bytes as Web Crypto's, far cheaper here).
 *
 * A refused destination rejects with `DestinationRefused` (or an error caused by it), which the
 * handler turns into a permanent failure that says why.
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
    async send({ url, method, headers, body, signal }) {
      const response = await request(url, { method: method as 'POST', headers, body, signal, dispatcher: agent });
      const { statusCode, headers: received, body: stream } = response;
      return {
        status: statusCode,
        statusText: STATUS_CODES[statusCode] ?? '',
        header(name) {
          const value = received[name];
          return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
        },
        async read(maxBytes) {
          const declared = received['content-length'];
          if (typeof declared === 'string' && /^\d+$/.test(declared) && Number(declared) <= maxBytes) return { text: await stream.text(), truncated: false };
          const chunks: Uint8Array[] = [];
          let size = 0;
          for await (const chunk of stream as AsyncIterable<Buffer>) {
            if (size + chunk.byteLength > maxBytes) {
              chunks.push(chunk.subarray(0, maxBytes - size));
              stream.destroy();
              return { text: decodeChunks(chunks), truncated: true };
            }
            chunks.push(chunk);
            size += chunk.byteLength;
          }
          return { text: decodeChunks(chunks), truncated: false };
        },
        // Reads (and drops) a short body so the connection can be reused; a long one closes it.
        discard: () => stream.dump({ limit: 64 * 1024 }).catch(() => {}),
      };
    },
    checksResolvedAddresses: true,
    // Synchronous: Node's Web Crypto HMAC costs a thread-pool job per signature.
    hmacSha256: (key, content) => createHmac('sha256', key).update(content).digest('base64'),
  };
}
