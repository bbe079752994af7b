/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Hono, MiddlewareHandler } from 'hono';
import { AppError, badRequest } from '../foundation/errors.ts';
import { BULK_MAX, countBulk, runBulk, type BulkAction, type BulkSelection } from '../tasks/bulk.ts';
import { formatTaskId, isLegacyTaskId, isTaskId } from '../tasks/ids.ts';
import type { TaskSearch } from '../tasks/insights.ts';
import { SendEventBody } from '../workflows/schemas.ts';
import { pageContext, type DashboardEnv, type DashboardRouteDeps } from './context.ts';
import { filterQuery, filterValues, toSearch, type FilterValues } from './filters.ts';
import { formatCount } from './format.ts';
import { ConfirmPage } from './pages/tasks.tsx';

/**
 * What the dashboard's forms change: cancel or retry one task, bulk cancel/retry from the task
 * list (selected or all matching), retry a failure group, pause or resume a type; cancel or
 * retry a workflow run, send an event; pause, resume or trigger a schedule. A bulk action
 * shows its count first (ConfirmPage) and runs only when the same form comes back with
 * confirm=yes. Every change goes through the service the API uses (tasks, workflows,
 * schedules). Every post passed the csrf checks before it gets here (dashboard.tsx);
 * DASHBOARD_READ_ONLY refuses them all with 403.
 */
export function registerActionRoutes(ui: Hono<DashboardEnv>, deps: DashboardRouteDeps): void {
  const { config, insights, service, workflows, schedules, logger } = deps;
  const actionsAllowed: MiddlewareHandler<DashboardEnv> = async (_c, next) => {
    if (config.dashboardReadOnly) throw new AppError(403, 'read_only', 'The dashboard is read-only (DASHBOARD_READ_ONLY=true): nothing was changed.');
    await next();
  };

  for (const action of ['cancel', 'retry'] as const) {
    ui.post(`/tasks/:id/${action}`, actionsAllowed, async (c) => {
      const id = c.req.param('id');
      if (!isTaskId(id) && !isLegacyTaskId(id)) throw new AppError(404, 'not_found', 'task not found');
      const task = await (action === 'cancel' ? service.cancel(id) : service.retry(id));
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
      return c.html(<ConfirmPage page={pageContext(c, config)} action={action} count={count} description={description} fields={fields} back={back} formAction="/ui/tasks/bulk" />);
    }
    const result = await runBulk(service, insights, action, selection);
    logger.info('dashboard bulk action', { action, matched: result.matched, changed: result.changed });
    return c.redirect(`${back}${back.includes('?') ? '&' : '?'}${noticeQuery(action, result)}`, 303);
  });

  // Pause and resume a type: on the Types page (from=types), and a paused type's resume on the
  // page of a task it holds (pages/task.tsx).
  for (const action of ['pause', 'resume'] as const) {
    ui.post(`/types/${action}`, actionsAllowed, async (c) => {
      const form = await c.req.parseBody();
      const type = typeof form.type === 'string' ? form.type : '';
      if (type === '' || type.length > 100) throw badRequest('type must be a type name of 1 to 100 characters');
      await (action === 'pause' ? service.pauseType(type) : service.resumeType(type));
      if (form.from === 'types') return c.redirect(`/ui/types?done=${action}&type=${encodeURIComponent(type)}`, 303);
      const task = typeof form.task === 'string' && (isTaskId(form.task) || isLegacyTaskId(form.task)) ? form.task : null;
      return c.redirect(task ? `/ui/tasks/${task}?done=${action}` : `/ui/tasks?type=${encodeURIComponent(type)}`, 303);
    });
  }

  for (const action of ['cancel', 'retry'] as const) {
    ui.post(`/runs/:id/${action}`, actionsAllowed, async (c) => {
      const id = c.req.param('id');
      if (!isTaskId(id) && !isLegacyTaskId(id)) throw new AppError(404, 'not_found', 'run not found');
      const run = await (action === 'cancel' ? workflows.cancelRun(id) : workflows.retryRun(id));
      return c.redirect(`/ui/runs/${run.id}?done=${action}`, 303);
    });
  }

  // "Send this event" on the page of a run waiting for one: to every run waiting for it, like POST /events.
  ui.post('/runs/:id/event', actionsAllowed, async (c) => {
    const id = c.req.param('id');
    if (!isTaskId(id)) throw new AppError(404, 'not_found', 'run not found');
    const form = await c.req.parseBody();
    const { event, key, payload } = eventForm(form);
    const { resumed } = await workflows.sendEvent(event, key, payload);
    // Not the key: it is often a person's email or id.
    logger.info('dashboard event sent', { event, resumed });
    return c.redirect(`/ui/runs/${id}?done=event&resumed=${resumed}`, 303);
  });

  for (const action of ['pause', 'resume', 'trigger'] as const) {
    ui.post(`/schedules/:name/${action}`, actionsAllowed, async (c) => {
      if (!schedules) throw new AppError(404, 'not_found', 'This deployment has no schedules.');
      const name = c.req.param('name');
      let query = `done=${action}&schedule=${encodeURIComponent(name)}`;
      if (action === 'trigger') query += `&task=${formatTaskId((await schedules.trigger(name)).id)}`;
      else await (action === 'pause' ? schedules.pause(name) : schedules.resume(name));
      return c.redirect(`/ui/schedules?${query}`, 303);
    });
  }

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
      return c.html(<ConfirmPage page={pageContext(c, config)} action="retry" count={count} description={description} fields={fields} back="/ui/failed" formAction="/ui/failed/retry" />);
    }
    const result = await runBulk(service, insights, 'retry', { search });
    logger.info('dashboard bulk action', { action: 'retry', group_type: type, matched: result.matched, changed: result.changed });
    return c.redirect(`/ui/failed?${noticeQuery('retry', result)}`, 303);
  });
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

/**
 * The "send this event" form as POST /events's body (an empty key: none; the payload is JSON
 * text, empty for null), checked by the API's own schema so both refuse the same.
 */
function eventForm(form: Record<string, string | File>): SendEventBody & { key: string | null } {
  const text = (name: string) => (typeof form[name] === 'string' ? (form[name] as string) : '');
  const raw = text('payload').trim();
  let payload: unknown = null;
  if (raw !== '') {
    try {
      payload = JSON.parse(raw);
    } catch {
      throw badRequest('payload must be JSON (a string needs quotes: "yes"); leave it empty for null');
    }
  }
  const key = text('key').trim();
  const parsed = SendEventBody.safeParse({ event: text('event').trim(), key: key === '' ? null : key, payload });
  if (!parsed.success) throw badRequest(parsed.error.issues[0]!.message);
  return { ...parsed.data, key: parsed.data.key ?? null };
}
