import type { HmacSha256 } from './signing.ts';

/**
 * How an `http` task's request leaves the process. The handler (http-task.ts) needs only a
 * status, a few headers and a bounded read of the body, so the transport is this narrow
 * interface rather than `fetch`: on Node it is undici's `request()` through a guarded Agent
 * (local/http-transport.ts), which does without fetch's WHATWG Request/Response/stream objects
 * (a bare `request()` loop ran ~3.5x a bare `fetch` loop against the same loopback receiver;
 * bench/README.md, "http-delivery"); at the edge it is the platform's `fetch` (below).
 */
export interface HttpRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  signal: AbortSignal;
}

export interface HttpAnswer {
  status: number;
  /** The reason phrase, or '' where the transport does not know one. */
  statusText: string;
  /** One response header by lower-case name; several values joined with ', '. */
  header(name: string): string | null;
  /** The body as text, at most `maxBytes` bytes of it (the rest is dropped). */
  read(maxBytes: number): Promise<{ text: string; truncated: boolean }>;
  /** Drops the body unread (redirects). */
  discard(): Promise<void>;
}

export interface HttpTransport {
  /** Sends one request without following redirects; rejects on network errors and aborts. */
  send(request: HttpRequest): Promise<HttpAnswer>;
  /**
   * True when `send` refuses resolved private addresses itself (Node's guarded Agent).
   * Otherwise the handler can only check literal hosts, and refuses `localhost` names too.
   */
  checksResolvedAddresses: boolean;
  /**
   * HMAC-SHA256 for the signature; default Web Crypto. Node's Web Crypto runs every sign as
   * an async job, a large share of the http-delivery bench's CPU, so local/ injects
   * node:crypto's synchronous HMAC instead (bench/README.md, "Figures behind the code").
   */
  hmacSha256?: HmacSha256;
}

export type HttpFetch = (url: string, init: RequestInit) => Promise<Response>;

/** A transport over a WHATWG `fetch`: the platform's at the edge, any other in tests. */
export function fetchTransport(fetchFn: HttpFetch, options: { checksResolvedAddresses?: boolean; hmacSha256?: HmacSha256 } = {}): HttpTransport {
  return {
    async send({ url, method, headers, body, signal }) {
      const response = await fetchFn(url, { method, headers, body, redirect: 'manual', signal });
      return {
        status: response.status,
        statusText: response.statusText,
        header: (name) => response.headers.get(name),
        read: (maxBytes) => readLimited(response, maxBytes),
        discard: async () => void (await response.body?.cancel().catch(() => {})),
      };
    },
    checksResolvedAddresses: options.checksResolvedAddresses ?? false,
    hmacSha256: options.hmacSha256,
  };
}

/** The platform's own fetch: it cannot show resolved addresses, so only literal hosts and `localhost` names are checked. */
export const webTransport: HttpTransport = fetchTransport(
  // Called through a closure: workerd throws "Illegal invocation" for a detached `fetch`.
  (url, init) => fetch(url, init),
);

async function readLimited(response: Response, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  if (!response.body) return { text: '', truncated: false };
  // A declared length within the limit: read it whole, without a reader loop over the stream.
  const declared = response.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) <= maxBytes) {
    return { text: await response.text(), truncated: false };
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > maxBytes) {
      chunks.push(value.subarray(0, maxBytes - size));
      size = maxBytes;
      truncated = true;
      await reader.cancel().catch(() => {});
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  return { text: decodeChunks(chunks), truncated };
}

/** UTF-8 text of byte chunks, a character split across chunks decoded whole. */
export function decodeChunks(chunks: Uint8Array[]): string {
  const decoder = new TextDecoder();
  let text = '';
  for (const chunk of chunks) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}
