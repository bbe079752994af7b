import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Config } from '../config/config.ts';
import { AppError, badRequest } from '../foundation/errors.ts';
import type { Logger } from '../foundation/log.ts';
import { BULK_MAX, countBulk, runBulk, type BulkAction, type BulkSelection } from '../tasks/bulk.ts';
import type { SqlDriver } from '../db/driver.ts';
import { TaskInsights, type TaskSearch } from '../tasks/insights.ts';
import type { TaskService } from '../tasks/service.ts';
import { ASSETS } from './assets.ts';
import { formatTaskId, isLegacyTaskId, isTaskId } from '../tasks/ids.ts';
import { filterQuery, filterValues, toSearch, type FilterValues } from './filters.ts';
import { formatCount } from './format.ts';
import { FailedPage } from './pages/failed.tsx';
import type { PageContext } from './pages/layout.tsx';
import { LoginPage } from './pages/login.tsx';
import { MessagePage } from './pages/message.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { diagnose, TaskPage } from './pages/task.tsx';
import { ConfirmPage, TasksPage, type BulkNotice } from './pages/tasks.tsx';
import type { ScheduleSummaryProvider } from './schedules.ts';
import { SESSION_COOKIE, sameText, sessionKeys, type Session } from './session.ts';

/** What the dashboard is built from: lib/wiring/app-services.ts passes the core it built. */
export interface DashboardDeps {
  /** Where /ui is mounted: the API's app (Node), or the dashboard Worker's own. */
  app: { route(path: string, app: Hono): unknown };
  /** The raw driver: the dashboard's reads (lib/tasks/insights.ts) need no group commit. */
  driver: SqlDriver;
  service: TaskService;
  config: Config;
  logger: Logger;
  /** The registered task types (the type filter's suggestions). */
  handlers: { types(): string[] };
}

type Env = { Variables: { session: Session | null } };

const PAGE_SIZE = 50;

/**
 * No inline script or style anywhere: everything from /ui/assets/. Forms post to this origin
 * only, and no other site may frame the pages (clickjacking on the action buttons).
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The dashboard at /ui: server-rendered pages (hono/jsx), plain links and forms, so it works
 * without JavaScript; /ui/assets/app.js only adds "select this page". Mounted by
 * lib/wiring/app-services.ts on the same app as the API when the adapter asks for it (the Node server), and
 * on Workers by its own function (functions/dashboard.ts) on an app of its own.
 *
 * Access: with API_TOKEN set, a login form exchanges the token for a signed session cookie
 * (session.ts; HttpOnly, SameSite=Strict, Path=/ui, Secure over HTTPS). Every form post
 * passes hono's csrf middleware (Origin or Sec-Fetch-Site must be this origin) and, with a
 * session, carries the session's CSRF token. DASHBOARD_READ_ONLY hides the actions and refuses
 * their posts with 403. DASHBOARD_ENABLED=false mounts nothing (404, like any unknown path).
 */
/** `schedules`: cron schedules, when the deployment has them (the overview's "due next"). */
export type DashboardRegistrar = (deps: DashboardDeps, schedules?: ScheduleSummaryProvider) => void;

export const registerDashboard: DashboardRegistrar = (deps, schedules) => {
  const { config, app } = deps;
  if (!config.dashboardEnabled) return;
  const insights = new TaskInsights(deps.driver);
  const keys = config.apiToken ? sessionKeys(config.apiToken) : null;
  const ui = new Hono<Env>();

  ui.use(async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'same-origin');
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
  });

  ui.get('/assets/:name', (c) => {
    const asset = ASSETS[c.req.param('name')];
    if (!asset) throw new AppError(404, 'not_found', 'no such asset');
    return c.body(asset.body, 200, { 'Content-Type': asset.type, 'Cache-Control': 'public, max-age=86400' });
  });

  ui.use(csrf());
  ui.use(bodyLimit({ maxSize: config.maxBodyBytes, onError: () => { throw new AppError(413, 'body_too_large', 'the form is too large'); } }));

  if (keys) {
    const lifetimeMs = config.dashboardSessionHours * 3_600_000;
    ui.get('/login', (c) => c.html(<LoginPage next={safeNext(c.req.query('next'))} failed={false} />));
    ui.post('/login', async (c) => {
      const form = await c.req.parseBody();
      const next = safeNext(typeof form.next === 'string' ? form.next : undefined);
      const token = typeof form.token === 'string' ? form.token : '';
      if (!(await keys.tokenMatches(token))) {
        deps.logger.warn('dashboard login refused', {});
        return c.html(<LoginPage next={next} failed={true} />, 401);
      }
      const { value } = await keys.issue(Date.now(), lifetimeMs);
      setCookie(c, SESSION_COOKIE, value, { path: '/ui', httpOnly: true, sameSite: 'Strict', secure: isHttps(c, config), maxAge: Math.floor(lifetimeMs / 1000) });
      return c.redirect(next, 303);
    });
    ui.use(async (c, next) => {
      const session = await keys.verify(getCookie(c, SESSION_COOKIE), Date.now());
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
    });
    ui.post('/logout', (c) => {
      deleteCookie(c, SESSION_COOKIE, { path: '/ui', secure: isHttps(c, config) });
      return c.redirect('/ui/login', 303);
    });
  }

  const pageOf = (c: Context<Env>): PageContext => {
    const session = c.get('session') ?? null;
    return { canAct: !config.dashboardReadOnly, readOnly: config.dashboardReadOnly, csrfToken: session?.csrfToken ?? null, loggedIn: session !== null, now: Date.now() };
  };
  const actionsAllowed: MiddlewareHandler<Env> = async (_c, next) => {
    if (config.dashboardReadOnly) throw new AppError(403, 'read_only', 'The dashboard is read-only (DASHBOARD_READ_ONLY=true): no task was changed.');
    await next();
  };

  ui.get('/', async (c) => {
    const [overview, dueNext] = await Promise.all([insights.overview(), schedules ? schedules.dueNext(10) : Promise.resolve(null)]);
    return c.html(<OverviewPage page={pageOf(c)} overview={overview} schedules={dueNext} />);
  });

  ui.get('/tasks', async (c) => {
    const values = filterValues((name) => c.req.query(name));
    const result = await insights.search(toSearch(values), PAGE_SIZE);
    return c.html(<TasksPage page={pageOf(c)} values={values} result={result} types={deps.handlers.types()} notice={bulkNotice(c)} />);
  });

  ui.get('/tasks/:id', async (c) => {
    const id = c.req.param('id');
    if (!isTaskId(id) && !isLegacyTaskId(id)) throw new AppError(404, 'not_found', 'task not found');
    const task = await deps.service.get(id);
    const now = Date.now();
    const ahead = task.status === 'pending' && task.runAt <= now ? await insights.claimedBefore(task, now, 10_001) : null;
    const diagnosis = diagnose(task, now, ahead, ahead !== null && ahead > 10_000);
    const done = c.req.query('done');
    const notice = done === 'cancel' ? 'Task cancelled.' : done === 'retry' ? 'Task queued again (pending, attempts reset).' : null;
    return c.html(<TaskPage page={{ ...pageOf(c), now }} task={task} diagnosis={diagnosis} notice={notice} />);
  });

  for (const action of ['cancel', 'retry'] as const) {
    ui.post(`/tasks/:id/${action}`, actionsAllowed, async (c) => {
      const id = c.req.param('id');
      if (!isTaskId(id) && !isLegacyTaskId(id)) throw new AppError(404, 'not_found', 'task not found');
      const task = await (action === 'cancel' ? deps.service.cancel(id) : deps.service.retry(id));
      return c.redirect(`/ui/tasks/${formatTaskId(task.id)}?done=${action}`, 303);
    });
  }

  ui.post('/tasks/bulk', actionsAllowed, async (c) => {
    const form = await c.req.parseBody({ all: true });
    const text = (name: string) => (typeof form[name] === 'string' ? (form[name] as string) : '');
    const values = filterValues((name) => text(name));
    const op = text('op');
    const match = /^(cancel|retry)-(selected|all)$/.exec(op);
    if (!match) throw badRequest('op must be cancel-selected, retry-selected, cancel-all or retry-all');
    const action = match[1] as BulkAction;
    const back = `/ui/tasks${filterQuery(values)}`;
    let selection: BulkSelection;
    let count: number;
    let description: string;
    const fields: [string, string][] = [['op', op], ...filterFields(values)];
    if (match[2] === 'selected') {
      const raw = form.id;
      const ids = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).filter((v): v is string => typeof v === 'string');
      if (ids.length === 0) throw badRequest('no task selected: tick the tasks first, or use "all matching"');
      if (!ids.every((id) => isTaskId(id) || isLegacyTaskId(id))) throw badRequest('id must be task ids');
      if (ids.length > BULK_MAX) throw badRequest(`at most ${BULK_MAX} tasks can be selected`);
      selection = { ids };
      count = ids.length;
      description = `${formatCount(count)} selected ${count === 1 ? 'task' : 'tasks'} (those that are not ${action === 'cancel' ? 'pending or running' : 'failed or cancelled'} are left alone).`;
      fields.push(...ids.map((id): [string, string] => ['id', id]));
    } else {
      if (values.title !== '') throw badRequest('"all matching" is not available with a title search: select tasks on the page');
      const search: TaskSearch = { ...toSearch(values), beforeId: undefined };
      selection = { search };
      count = await countBulk(insights, action, search);
      description = `Every ${action === 'cancel' ? 'pending or running' : 'failed or cancelled'} task matching: ${describeFilters(values)}.`;
    }
    if (text('confirm') !== 'yes') {
      return c.html(<ConfirmPage page={pageOf(c)} action={action} count={count} description={description} fields={fields} back={back} formAction="/ui/tasks/bulk" />);
    }
    const result = await runBulk(deps.service, insights, action, selection);
    deps.logger.info('dashboard bulk action', { action, matched: result.matched, changed: result.changed });
    return c.redirect(`${back}${back.includes('?') ? '&' : '?'}${noticeQuery(action, result)}`, 303);
  });

  ui.get('/failed', async (c) => {
    const { groups, sampled } = await insights.failedGroups();
    return c.html(<FailedPage page={pageOf(c)} groups={groups} sampled={sampled} notice={bulkNotice(c)} />);
  });

  ui.post('/failed/retry', actionsAllowed, async (c) => {
    const form = await c.req.parseBody();
    const type = typeof form.type === 'string' ? form.type : '';
    if (type === '') throw badRequest('type is required');
    const lastError = form.no_error === '1' ? null : typeof form.error === 'string' ? form.error : undefined;
    if (lastError === undefined) throw badRequest('error is required (or no_error=1)');
    const search: TaskSearch = { statuses: ['failed'], type, lastError };
    if (form.confirm !== 'yes') {
      const count = await countBulk(insights, 'retry', search);
      const fields: [string, string][] = [['type', type], lastError === null ? ['no_error', '1'] : ['error', lastError]];
      const description = `Every failed task of type “${type}” whose last error is ${lastError === null ? 'empty' : `“${lastError.slice(0, 200)}${lastError.length > 200 ? '…' : ''}”`}.`;
      return c.html(<ConfirmPage page={pageOf(c)} action="retry" count={count} description={description} fields={fields} back="/ui/failed" formAction="/ui/failed/retry" />);
    }
    const result = await runBulk(deps.service, insights, 'retry', { search });
    deps.logger.info('dashboard bulk action', { action: 'retry', group_type: type, matched: result.matched, changed: result.changed });
    return c.redirect(`/ui/failed?${noticeQuery('retry', result)}`, 303);
  });

  ui.all('*', () => {
    throw new AppError(404, 'not_found', 'There is no such dashboard page.');
  });

  ui.onError((error, c) => {
    const status = (error instanceof HTTPException ? error.status : 500) as ContentfulStatusCode;
    if (status >= 500) deps.logger.error('dashboard error', { path: c.req.path, error, stack: error instanceof Error ? error.stack : undefined });
    const message =
      status >= 500 ? 'Something went wrong; the server log has the details.'
      : status === 403 && !(error instanceof AppError) ? 'Cross-site form posts are refused: this form did not come from this dashboard.'
      : error.message;
    const title = status === 404 ? 'Not found' : status === 401 ? 'Log in needed' : status === 403 ? 'Refused' : status >= 500 ? 'Error' : 'Cannot do that';
    const session = c.get('session') ?? null;
    const page: PageContext | null = keys && !session ? null : { canAct: !config.dashboardReadOnly, readOnly: config.dashboardReadOnly, csrfToken: session?.csrfToken ?? null, loggedIn: session !== null, now: Date.now() };
    return c.html(<MessagePage title={title} message={message} page={page} status={status} />, status);
  });

  const site = new Hono();
  site.get('/', (c) => c.redirect('/ui', 302));
  site.route('/ui', ui);
  app.route('/', site);
};

/**
 * Only a dashboard path, in visible ASCII: a login link must not send anyone elsewhere (open
 * redirect) nor put a line break into the Location header.
 */
function safeNext(next: string | undefined): string {
  return next && /^\/ui(?:[/?][\x21-\x5b\x5d-\x7e]*)?$/.test(next) ? next : '/ui';
}

function isHttps(c: Context, config: Config): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  return config.trustProxy && (c.req.header('x-forwarded-proto') ?? '').split(',')[0]!.trim() === 'https';
}

function filterFields(values: FilterValues): [string, string][] {
  return (['status', 'type', 'from', 'to', 'title', 'error'] as const).filter((n) => values[n] !== '').map((n) => [n, values[n]]);
}

function describeFilters(values: FilterValues): string {
  const parts = filterFields(values).map(([name, value]) => `${name} ${name === 'error' ? `“${value.slice(0, 80)}”` : value}`);
  return parts.length > 0 ? parts.join(', ') : 'no filter (all tasks)';
}

function noticeQuery(action: BulkAction, result: { matched: number; changed: number; more: boolean }): string {
  return `done=${action}&matched=${result.matched}&changed=${result.changed}${result.more ? '&more=1' : ''}`;
}

/** The result of a bulk action, from the redirect's query: numbers only, nothing echoed as text. */
function bulkNotice(c: Context<Env>): BulkNotice | null {
  const action = c.req.query('done');
  if (action !== 'cancel' && action !== 'retry') return null;
  const number = (name: string) => Math.max(0, Math.min(BULK_MAX, Number.parseInt(c.req.query(name) ?? '0', 10) || 0));
  return { action, matched: number('matched'), changed: number('changed'), more: c.req.query('more') === '1' };
}
