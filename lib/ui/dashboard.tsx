/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { csrf } from 'hono/csrf';
import type { Config } from '../config/config.ts';
import type { SqlDriver } from '../db/driver.ts';
import { AppError } from '../foundation/errors.ts';
import type { Logger } from '../foundation/log.ts';
import { createAttemptThrottle, type RedisBackend } from '../rate-limit/select.ts';
import { TaskInsights } from '../tasks/insights.ts';
import type { TaskService } from '../tasks/service.ts';
import type { WorkflowService } from '../workflows/service.ts';
import { registerActionRoutes } from './actions.tsx';
import { serveAsset, serveIcon } from './assets.ts';
import { UNKNOWN_CLIENT, type DashboardEnv, type RequestFacts } from './context.ts';
import { dashboardErrorPage } from './error-page.tsx';
import { LOGIN_POLICY, registerLoginRoutes, registerLogoutRoute } from './login.tsx';
import { pageLimit } from './page-limit.ts';
import { isDashboardPath } from './paths.ts';
import { registerPageRoutes } from './page-routes.tsx';
import type { ScheduleSource } from './schedules.ts';
import { securityHeaders } from './security-headers.ts';
import { SessionGeneration } from './session-generation.ts';
import { requireSession } from './session-middleware.ts';
import { sessionKeys } from './session.ts';

/** What the dashboard is built from: lib/wiring/app-services.ts passes the core it built. */
export interface DashboardDeps {
  /** Where /ui is mounted: the API's app (Node), or the dashboard Worker's own. */
  app: { route(path: string, app: Hono): unknown };
  /** The raw driver: the dashboard's reads (lib/tasks/insights.ts) need no group commit. */
  driver: SqlDriver;
  service: TaskService;
  /** Workflow runs (lib/workflows/): the Workflows, Runs and run pages and their actions. */
  workflows: WorkflowService;
  config: Config;
  logger: Logger;
  /** The registered task types (the type filter's suggestions). */
  handlers: { types(): string[]; refreshTypes(): Promise<void> };
  /** The client's address and scheme as the platform and TRUST_PROXY say (limits' key, Secure cookie). */
  request?: RequestFacts;
  /** The adapter's Redis connection (ioredis on Node) for the dashboard's limits; else config decides. */
  redis?: RedisBackend;
}

/**
 * Mounts the dashboard; `owns(path)` says which paths it then serves (paths.ts), which the
 * API's rate limit leaves to the dashboard's own. Injected by the adapters that want a
 * dashboard, so a bundle without one carries none of lib/ui/.
 */
export type DashboardRegistrar = ((deps: DashboardDeps, schedules?: ScheduleSource) => void) & { owns(path: string): boolean };

/**
 * The dashboard at /ui: server-rendered pages (hono/jsx), plain links and forms, so it works
 * without JavaScript; /ui/assets/app.js only adds "select this page". Mounted by
 * lib/wiring/app-services.ts on the same app as the API when the adapter asks for it (the
 * Node server), and on Workers by its own function (functions/dashboard.ts) on an app of its
 * own. `schedules`: cron schedules, when the deployment has them (the overview's "due next",
 * the Schedules page and its actions).
 *
 * In request order: security headers on every answer (security-headers.ts), the public
 * assets (never rate limited), the dashboard's own page limit (page-limit.ts; the API's limit
 * leaves the dashboard's paths to it, paths.ts), hono's csrf check on every form post (Origin
 * or Sec-Fetch-Site must be this origin) and the body limit; with API_TOKEN set, the login form (login.tsx) and then the
 * session every other route needs (session-middleware.ts: a signed cookie of the current
 * session generation, session-generation.ts, which a logout advances; and the session's CSRF
 * token on every form post); the pages (page-routes.tsx) and the actions (actions.tsx);
 * errors as pages (error-page.tsx). DASHBOARD_READ_ONLY hides the actions and refuses their
 * posts with 403. DASHBOARD_ENABLED=false mounts nothing (404, like any unknown path).
 */
export const registerDashboard: DashboardRegistrar = Object.assign((deps: DashboardDeps, schedules?: ScheduleSource): void => {
  const { config, app, logger } = deps;
  if (!config.dashboardEnabled) return;
  const request = deps.request ?? UNKNOWN_CLIENT;
  const keys = config.apiToken ? sessionKeys(config.apiToken) : null;
  const routeDeps = { config, logger, service: deps.service, workflows: deps.workflows, insights: new TaskInsights(deps.driver), handlers: deps.handlers, schedules };
  const ui = new Hono<DashboardEnv>();

  ui.use(securityHeaders());
  ui.get('/assets/:name', serveAsset);
  const limited = pageLimit({ config, logger, redis: deps.redis, clientKey: (c) => request.clientKey(c) });
  if (limited) ui.use(limited);
  ui.use(csrf());
  ui.use(bodyLimit({ maxSize: config.maxBodyBytes, onError: () => { throw new AppError(413, 'body_too_large', 'the form is too large'); } }));
  if (keys) {
    const generations = new SessionGeneration(deps.driver);
    const throttle = createAttemptThrottle(config, logger, { name: 'login', policy: LOGIN_POLICY, redis: deps.redis });
    registerLoginRoutes(ui, { keys, generations, config, logger, throttle, request });
    ui.use(requireSession(keys, generations));
    registerLogoutRoute(ui, { generations, logger, request });
  }
  registerPageRoutes(ui, routeDeps);
  registerActionRoutes(ui, routeDeps);
  ui.all('*', () => {
    throw new AppError(404, 'not_found', 'There is no such dashboard page.');
  });
  ui.onError(dashboardErrorPage({ config, logger, sessions: keys !== null }));

  const site = new Hono();
  site.get('/', (c) => c.redirect('/ui', 302));
  // Browsers ask for it on pages without an icon link (a JSON answer of the API, an image).
  site.get('/favicon.ico', serveIcon);
  site.route('/ui', ui);
  app.route('/', site);
}, { owns: isDashboardPath });
