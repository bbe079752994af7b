import type { Context, Hono } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import type { Config } from '../config/config.ts';
import type { Logger } from '../foundation/log.ts';
import type { DashboardEnv } from './context.ts';
import { LoginPage } from './pages/login.tsx';
import type { SessionGeneration } from './session-generation.ts';
import { SESSION_COOKIE, type SessionKeys } from './session.ts';

export interface LoginDeps {
  keys: SessionKeys;
  generations: SessionGeneration;
  config: Config;
  logger: Logger;
}

/**
 * `GET/POST /ui/login`: the form that exchanges API_TOKEN for a signed session cookie
 * (session.ts; HttpOnly, SameSite=Strict, Path=/ui, Secure over HTTPS). Registered before the
 * session middleware: these routes answer without a session.
 */
export function registerLoginRoutes(ui: Hono<DashboardEnv>, { keys, generations, config, logger }: LoginDeps): void {
  const lifetimeMs = config.dashboardSessionHours * 3_600_000;
  ui.get('/login', (c) => c.html(<LoginPage next={safeNext(c.req.query('next'))} failed={false} ended={c.req.query('ended') === '1'} />));
  ui.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(typeof form.next === 'string' ? form.next : undefined);
    const token = typeof form.token === 'string' ? form.token : '';
    if (!(await keys.tokenMatches(token))) {
      logger.warn('dashboard login refused', {});
      return c.html(<LoginPage next={next} failed={true} />, 401);
    }
    const { value } = await keys.issue(Date.now(), lifetimeMs, await generations.current());
    setCookie(c, SESSION_COOKIE, value, { path: '/ui', httpOnly: true, sameSite: 'Strict', secure: isHttps(c, config), maxAge: Math.floor(lifetimeMs / 1000) });
    return c.redirect(next, 303);
  });
}

/**
 * `POST /ui/logout`: registered after the session middleware, so it needs the session and its
 * CSRF token (a cross-site post cannot log anyone out). It ends every dashboard session, on
 * every instance, by advancing the session generation (session-generation.ts says why all).
 */
export function registerLogoutRoute(ui: Hono<DashboardEnv>, { generations, config, logger }: Omit<LoginDeps, 'keys'>): void {
  ui.post('/logout', async (c) => {
    const generation = await generations.advance();
    logger.info('dashboard logout: every session ended', { generation });
    deleteCookie(c, SESSION_COOKIE, { path: '/ui', secure: isHttps(c, config) });
    return c.redirect('/ui/login?ended=1', 303);
  });
}

/**
 * Only a dashboard path, in visible ASCII: a login link must not send anyone elsewhere (open
 * redirect) nor put a line break into the Location header.
 */
export function safeNext(next: string | undefined): string {
  return next && /^\/ui(?:[/?][\x21-\x5b\x5d-\x7e]*)?$/.test(next) ? next : '/ui';
}

function isHttps(c: Context, config: Config): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  return config.trustProxy && (c.req.header('x-forwarded-proto') ?? '').split(',')[0]!.trim() === 'https';
}
