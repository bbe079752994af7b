import type { Context, MiddlewareHandler } from 'hono';
import { AppError } from '../foundation/errors.ts';

/**
 * Bearer-token checks for API_TOKEN (the API) and CRON_SECRET (the serverless `/poll`).
 *
 * Constant time: both sides are hashed with SHA-256 and the 32-byte digests compared without
 * an early exit, so neither the position of the first wrong byte nor the secret's length
 * shows in the response time. crypto.subtle exists on Node and every function platform;
 * `node:crypto`'s timingSafeEqual would not.
 */

const encoder = new TextEncoder();

async function sha256(value: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(value)));
}

function equalDigests(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ (b[i] ?? 0);
  return difference === 0;
}

/** The token of an `Authorization: Bearer <token>` header; undefined for anything else. */
export function bearerToken(header: string | null | undefined): string | undefined {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return match?.[1];
}

/** A checker for one secret; its digest is computed once. */
export interface BearerCheck {
  /** Whether the request carries `Authorization: Bearer <secret>`. */
  matches(request: Request): Promise<boolean>;
}

export function bearerCheck(secret: string): BearerCheck {
  let expected: Promise<Uint8Array> | undefined;
  const digest = () => (expected ??= sha256(secret));
  return {
    async matches(request) {
      const presented = bearerToken(request.headers.get('authorization'));
      // Hash even when absent, so "no header" and "wrong token" take the same path.
      const [want, got] = await Promise.all([digest(), sha256(presented ?? '')]);
      return presented !== undefined && equalDigests(want, got);
    },
  };
}

export const unauthorized = () =>
  new AppError(401, 'unauthorized', 'missing or invalid bearer token', { 'WWW-Authenticate': 'Bearer realm="task-pool"' });

/**
 * Middleware: 401 JSON `{"message","code":"unauthorized"}` unless the request carries
 * `Authorization: Bearer <secret>`. Use it for API_TOKEN (access-control.ts) and for CRON_SECRET on
 * `/poll` (routes/cron-poll.ts). The secret is required and an empty one matches nothing:
 * what a route does when its secret is not configured is the caller's decision (`/poll`
 * answers 503), never "open".
 */
export function requireBearer(secret: string | BearerCheck): MiddlewareHandler {
  const check = typeof secret === 'string' ? bearerCheck(secret) : secret;
  return async (c: Context, next) => {
    if (!(await check.matches(c.req.raw))) throw unauthorized();
    await next();
  };
}
