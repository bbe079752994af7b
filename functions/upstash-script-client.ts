/**
 * What the Web bundles use in place of `@upstash/redis`'s `Redis` (esbuild.config.mjs aliases
 * `@upstash/redis/cloudflare` to this file for them; the Node bundle and the tests of
 * lib/rate-limit keep the real client).
 *
 * Why: @upstash/ratelimit calls exactly two commands, `evalsha` and `eval`
 * (TOOLCHAIN.md), but the full client brings a class for each of ~250 commands: 17 KB of the
 * Workers bundle gzipped, which put it over its 100 KB budget. This speaks the same REST
 * protocol for those two: `POST <url>` with `["EVALSHA", sha, numkeys, ...keys, ...args]`,
 * `Authorization: Bearer <token>`, answer `{"result"}` or `{"error"}`. Errors keep Upstash's
 * text, so `NOSCRIPT` still makes the limiter fall back to `eval`. The constructor takes the
 * options lib/rate-limit/upstash.ts passes; of them only `url`, `token` and `signal` matter
 * here (one attempt, no pipelining, no telemetry is what they ask for anyway).
 */
export interface UpstashScriptClientOptions {
  url: string;
  token: string;
  signal?: () => AbortSignal;
}

export class Redis {
  readonly #url: string;
  readonly #token: string;
  readonly #signal: (() => AbortSignal) | undefined;

  constructor(options: UpstashScriptClientOptions) {
    this.#url = options.url.replace(/\/+$/, '');
    this.#token = options.token;
    this.#signal = options.signal;
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
      signal: this.#signal?.(),
    });
    const body = (await response.json().catch(() => ({}))) as { result?: unknown; error?: string };
    if (body.error !== undefined) throw new Error(body.error);
    if (!response.ok) throw new Error(`Upstash REST answered ${response.status}`);
    return body.result;
  }
}
