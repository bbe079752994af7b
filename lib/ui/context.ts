import type { Context } from 'hono';
import type { Config } from '../config/config.ts';
import type { Logger } from '../foundation/log.ts';
import type { TaskInsights } from '../tasks/insights.ts';
import type { TaskService } from '../tasks/service.ts';
import type { WorkflowService } from '../workflows/service.ts';
import type { PageContext } from './pages/layout.tsx';
import type { ScheduleSource } from './schedules.ts';
import type { Session } from './session.ts';

/**
 * What the dashboard's middleware hands its routes: the login session, when API_TOKEN is set
 * and the request carries a valid one (session-middleware.ts); null otherwise.
 */
export type DashboardEnv = { Variables: { session: Session | null } };

/** What every page shows about the request: who is looking and what they may do. */
export function pageContext(c: Context<DashboardEnv>, config: Pick<Config, 'dashboardReadOnly'>, now = Date.now()): PageContext {
  const session = c.get('session') ?? null;
  return { canAct: !config.dashboardReadOnly, readOnly: config.dashboardReadOnly, csrfToken: session?.csrfToken ?? null, loggedIn: session !== null, now };
}

/** What the page and action routes are built from (dashboard.tsx assembles it). */
export interface DashboardRouteDeps {
  config: Config;
  logger: Logger;
  service: TaskService;
  /** The dashboard's bounded read queries. */
  insights: TaskInsights;
  /** The registered task types (the type filter's suggestions). */
  handlers: { types(): string[]; refreshTypes(): Promise<void> };
  /** Workflow runs and their steps (the Workflows, Runs and run pages). */
  workflows: WorkflowService;
  /** Cron schedules, when the deployment has them (the overview's "due next", the Schedules page). */
  schedules?: ScheduleSource;
}

/**
 * What the platform knows about a request that the dashboard cannot tell from the request
 * alone: lib/wiring/ builds it from the adapter's peer address and TRUST_PROXY (the same
 * reading as the API's rate limit, lib/api/client-identity.ts).
 */
export interface RequestFacts {
  /** The client's address as a limiting key (`ip:…`; `ip:unknown` when the platform does not say). */
  clientKey(c: Context): string;
  /**
   * Whether the browser reached us over HTTPS (the session cookie's Secure flag): the URL's
   * scheme, or X-Forwarded-Proto when a proxy TRUST_PROXY trusts sent it, never any peer's.
   */
  isHttps(c: Context): boolean;
}

/** Without the platform's word: every client is `ip:unknown`, and only the URL tells HTTPS. */
export const UNKNOWN_CLIENT: RequestFacts = { clientKey: () => 'ip:unknown', isHttps: (c) => new URL(c.req.url).protocol === 'https:' };
