/**
 * The dashboard's login session when API_TOKEN is set: an HMAC-signed cookie value, never the
 * token itself. Value: `<generation>.<expires ms>.<nonce>.<signature>`, signature =
 * HMAC-SHA256 over `<generation>.<expires>.<nonce>` with a key derived from API_TOKEN (so a
 * new token ends every session, on every instance: none can verify the old signatures). The
 * generation is the database's session generation when the session was issued
 * (session-generation.ts); the session middleware honours the cookie only while it is still
 * the current one, which is how a logout ends sessions on the server. The nonce also keys the
 * session's CSRF token, which every form carries.
 * Web Crypto only (Node and every function platform have it); `crypto.subtle.verify` compares
 * signatures in constant time.
 */
const encoder = new TextEncoder();

export const SESSION_COOKIE = 'task_pool_session';

export interface Session {
  /** The session generation it was issued in: valid only while that is current. */
  generation: number;
  expires: number;
  /** The per-session token every dashboard form post must carry. */
  csrfToken: string;
}

const base64url = (bytes: ArrayBuffer | Uint8Array): string =>
  btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

function fromBase64url(text: string): Uint8Array<ArrayBuffer> | null {
  try {
    const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

export interface SessionKeys {
  /** A new session's cookie value, in session generation `generation`. */
  issue(now: number, lifetimeMs: number, generation?: number): Promise<{ value: string; session: Session }>;
  /**
   * The session a cookie value stands for, or null (malformed, forged, expired). Whether its
   * generation is still current is the caller's question (session-middleware.ts).
   */
  verify(value: string | undefined, now: number): Promise<Session | null>;
  /** Whether `presented` is the API token (both hashed, compared without an early exit). */
  tokenMatches(presented: string): Promise<boolean>;
}

export function sessionKeys(apiToken: string): SessionKeys {
  let key: Promise<CryptoKey> | undefined;
  const hmacKey = () =>
    (key ??= crypto.subtle
      .digest('SHA-256', encoder.encode(`task-pool dashboard session\u0000${apiToken}`))
      .then((raw) => crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])));
  const sign = async (text: string) => base64url(await crypto.subtle.sign('HMAC', await hmacKey(), encoder.encode(text)));
  const csrfFor = (nonce: string) => sign(`csrf.${nonce}`);
  let tokenDigest: Promise<Uint8Array> | undefined;
  const sha = async (text: string) => new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)));

  return {
    async issue(now, lifetimeMs, generation = 0) {
      const expires = now + lifetimeMs;
      const nonce = base64url(crypto.getRandomValues(new Uint8Array(18)));
      const payload = `${generation}.${expires}.${nonce}`;
      return { value: `${payload}.${await sign(payload)}`, session: { generation, expires, csrfToken: await csrfFor(nonce) } };
    },
    async verify(value, now) {
      const match = /^(\d{1,15})\.(\d{1,16})\.([A-Za-z0-9_-]{24})\.([A-Za-z0-9_-]{43})$/.exec(value ?? '');
      if (!match) return null;
      const [, generation, expires, nonce, signature] = match as unknown as [string, string, string, string, string];
      const bytes = fromBase64url(signature);
      if (!bytes) return null;
      const valid = await crypto.subtle.verify('HMAC', await hmacKey(), bytes, encoder.encode(`${generation}.${expires}.${nonce}`));
      if (!valid || Number(expires) <= now) return null;
      return { generation: Number(generation), expires: Number(expires), csrfToken: await csrfFor(nonce) };
    },
    async tokenMatches(presented) {
      const [want, got] = await Promise.all([(tokenDigest ??= sha(apiToken)), sha(presented)]);
      let difference = 0;
      for (let i = 0; i < want.length; i++) difference |= want[i]! ^ got[i]!;
      return difference === 0;
    },
  };
}

/** Equal strings, compared without an early exit (CSRF tokens). */
export function sameText(a: string, b: string): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ (b.charCodeAt(i) || 0);
  return difference === 0;
}
