import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { AppError } from '../foundation/errors.ts';
import type { DashboardEnv } from './context.ts';
import type { SessionGeneration } from './session-generation.ts';
import { SESSION_COOKIE, sameText, type SessionKeys } from './session.ts';

/**
 * With API_TOKEN set, every dashboard route registered after this needs a session: a page
 * without one redirects to the login form (and back afterwards), a form post without one is
 * a 401 page, and a form post must carry the session's CSRF token (403 otherwise). A session
 * is a cookie signed with the current token whose generation is still the database's
 * (session-generation.ts): after a logout, a kept copy of the cookie opens nothing.
 */
export function requireSession(keys: SessionKeys, generations: SessionGeneration): MiddlewareHandler<DashboardEnv> {
  return async (c, next) => {
    const signed = await keys.verify(getCookie(c, SESSION_COOKIE), Date.now());
    const session = signed && signed.generation === (await generations.current()) ? signed : null;
    if (!session) {
      if (c.req.method === 'GET' || c.req.method === 'HEAD') {
        const url = new URL(c.req.url);
        return c.redirect(`/ui/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
      }
      throw new AppError(401, 'unauthorized', 'Your session has expired or you are not logged in. Log in again.');
    }
    c.set('session', session);
    if (c.req.method === 'POST') {
      const form = await c.req.parseBody();
      if (typeof form._csrf !== 'string' || !sameText(form._csrf, session.csrfToken)) {
        throw new AppError(403, 'csrf', 'This form is out of date or did not come from this dashboard. Reload the page and try again.');
      }
    }
    await next();
  };
}
