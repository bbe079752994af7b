import type { MiddlewareHandler } from 'hono';

/**
 * No inline script or style anywhere: everything from /ui/assets/. Forms post to this origin
 * only, and no other site may frame the pages (clickjacking on the action buttons).
 */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * Every dashboard response, error pages included: the CSP above, no MIME sniffing, no
 * referrer outside this origin, and nothing cached unless the route says so (the assets do).
 */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'same-origin');
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
  };
}
