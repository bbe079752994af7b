import type { ScriptClient } from './upstash.ts';

/**
 * The Upstash REST client the rate limiter uses on every runtime: the two commands
 * @upstash/ratelimit sends (`evalsha`, and `eval` after NOSCRIPT), over Upstash's REST
 * protocol: `POST <url>` with `["EVALSHA", sha, numkeys, ...keys, ...args]`,
 * `Authorization: Bearer <token>`, answer `{"result"}` or `{"error"}`. Errors keep Upstash's
 * text, so `NOSCRIPT` still makes the limiter fall back to `eval`.
 *
 * Written here rather than using `@upstash/redis`, because that client brings a class for each
 * of ~250 commands, a large share of the Workers bundle's budget
 * (bench/README.md, "Figures behind the code"). One attempt per call and no pipelining: failOpen
 * (fail-open.ts) decides what a failure means, retries would only pile up.
 */
export interface UpstashRestClientOptions {
  url: string;
  token: string;
  /** Bounds each call (RATE_LIMIT_TIMEOUT_MS); the limiter fails open after it. */
  timeoutMs: number;
}

export class UpstashRestClient implements ScriptClient {
  readonly #url: string;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(options: UpstashRestClientOptions) {
    this.#url = options.url.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs;
  }

  evalsha(sha: string, keys: string[], args: unknown[]): Promise<unknown> {
    return this.#command(['EVALSHA', sha, keys.length, ...keys, ...args]);
  }

  eval(script: string, keys: string[], args: unknown[]): Promise<unknown> {
    return this.#command(['EVAL', script, keys.length, ...keys, ...args]);
  }

  async #command(command: unknown[]): Promise<unknown> {
    const response = await fetch(this.#url, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
      body: JSON.stringify(command),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const body = (await response.json().catch(() => ({}))) as { result?: unknown; error?: string };
    if (body.error !== undefined) throw new Error(body.error);
    if (!response.ok) throw new Error(`Upstash REST answered ${response.status}`);
    return body.result;
  }
}
