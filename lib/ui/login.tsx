/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Hono } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import type { Config } from '../config/config.ts';
import type { Logger } from '../foundation/log.ts';
import type { AttemptPolicy, AttemptThrottle } from '../rate-limit/attempt-throttle.ts';
import type { DashboardEnv, RequestFacts } from './context.ts';
import { LoginPage } from './pages/login.tsx';
import type { SessionGeneration } from './session-generation.ts';
import { SESSION_COOKIE, type SessionKeys } from './session.ts';

export interface LoginDeps {
  keys: SessionKeys;
  generations: SessionGeneration;
  config: Config;
  logger: Logger;
  /** Failed log-ins per client address (LOGIN_POLICY). */
  throttle: AttemptThrottle;
  /** The client's address key and scheme, as the platform and TRUST_PROXY say. */
  request: RequestFacts;
}

/**
 * Failed log-ins per client address: 5 at once (typos), then each waits for the previous
 * one's delay, 1 s doubling up to 15 min; a correct log-in clears the address, an hour of
 * quiet after its delay forgets it. Apart from the API's rate limit: a token guesser is held
 * back even with RATE_LIMIT_PER_MINUTE=0, and one address's guessing never locks out a
 * correct log-in from another address (nor the API). Held where the rate limit is (Redis or
 * Upstash: every instance counts together; else per process).
 */
export const LOGIN_POLICY: AttemptPolicy = { free: 5, baseMs: 1000, maxMs: 15 * 60_000, forgetMs: 60 * 60_000 };

/**
 * `GET/POST /ui/login`: the form that exchanges API_TOKEN for a signed session cookie
 * (session.ts; HttpOnly, SameSite=Strict, Path=/ui, Secure over HTTPS). Registered before the
 * session middleware: these routes answer without a session.
 */
export function registerLoginRoutes(ui: Hono<DashboardEnv>, { keys, generations, config, logger, throttle, request }: LoginDeps): void {
  const lifetimeMs = config.dashboardSessionHours * 3_600_000;
  ui.get('/login', (c) => c.html(<LoginPage next={safeNext(c.req.query('next'))} failed={false} ended={c.req.query('ended') === '1'} />));
  ui.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(typeof form.next === 'string' ? form.next : undefined);
    const token = typeof form.token === 'string' ? form.token : '';
    const client = request.clientKey(c);
    const decision = await throttle.attempt(client);
    if (!decision.allowed) {
      const seconds = Math.max(1, Math.ceil((decision.retryAt - Date.now()) / 1000));
      c.header('Retry-After', String(seconds));
      return c.html(<LoginPage next={next} failed={false} waitSeconds={seconds} />, 429);
    }
    if (!(await keys.tokenMatches(token))) {
      logger.warn('dashboard login refused', { client });
      return c.html(<LoginPage next={next} failed={true} />, 401);
    }
    await throttle.succeeded(client);
    const { value } = await keys.issue(Date.now(), lifetimeMs, await generations.current());
    setCookie(c, SESSION_COOKIE, value, { path: '/ui', httpOnly: true, sameSite: 'Strict', secure: request.isHttps(c), maxAge: Math.floor(lifetimeMs / 1000) });
    return c.redirect(next, 303);
  });
}

/**
 * `POST /ui/logout`: registered after the session middleware, so it needs the session and its
 * CSRF token (a cross-site post cannot log anyone out). It ends every dashboard session, on
 * every instance, by advancing the session generation (session-generation.ts says why all).
 */
export function registerLogoutRoute(ui: Hono<DashboardEnv>, { generations, logger, request }: Pick<LoginDeps, 'generations' | 'logger' | 'request'>): void {
  ui.post('/logout', async (c) => {
    const generation = await generations.advance();
    logger.info('dashboard logout: every session ended', { generation });
    deleteCookie(c, SESSION_COOKIE, { path: '/ui', secure: request.isHttps(c) });
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
