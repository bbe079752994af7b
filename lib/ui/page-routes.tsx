/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Context, Hono } from 'hono';
import { AppError, badRequest } from '../foundation/errors.ts';
import { BULK_MAX } from '../tasks/bulk.ts';
import { formatTaskId, isLegacyTaskId, isTaskId } from '../tasks/ids.ts';
import { runType, workflowOfType } from '../workflows/define.ts';
import { pageContext, type DashboardEnv, type DashboardRouteDeps } from './context.ts';
import { formatCount } from './format.ts';
import { filterValues, runFilterValues, toRunFilter, toSearch } from './filters.ts';
import { FailedPage } from './pages/failed.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { RunPage } from './pages/run.tsx';
import { RunsPage } from './pages/runs.tsx';
import { SchedulesPage, type ScheduleNotice } from './pages/schedules.tsx';
import { diagnose, TaskPage } from './pages/task.tsx';
import { TasksPage, type BulkNotice } from './pages/tasks.tsx';
import { TypesPage } from './pages/types.tsx';
import { WorkflowsPage } from './pages/workflows.tsx';

const PAGE_SIZE = 50;

/**
 * The pages people read: overview, the task list, one task, failed tasks by error; workflows,
 * their runs, one run with its steps; schedules; task types.
 */
export function registerPageRoutes(ui: Hono<DashboardEnv>, deps: DashboardRouteDeps): void {
  const { config, insights, schedules, workflows } = deps;

  ui.get('/', async (c) => {
    const [overview, dueNext] = await Promise.all([insights.overview(), schedules ? schedules.dueNext(10) : Promise.resolve(null)]);
    return c.html(<OverviewPage page={pageContext(c, config)} overview={overview} schedules={dueNext} />);
  });

  ui.get('/tasks', async (c) => {
    const values = filterValues((name) => c.req.query(name));
    const result = await insights.search(toSearch(values), PAGE_SIZE);
    const heldBack = await deps.service.repo.heldBack(result.tasks);
    await deps.handlers.refreshTypes();
    return c.html(<TasksPage page={pageContext(c, config)} values={values} result={result} types={deps.handlers.types()} notice={bulkNotice(c)} heldBack={heldBack} />);
  });

  ui.get('/tasks/:id', async (c) => {
    const id = c.req.param('id');
    if (!isTaskId(id) && !isLegacyTaskId(id)) throw new AppError(404, 'not_found', 'task not found');
    const { task, attempts } = await deps.service.attempts(id);
    const now = Date.now();
    const pausedAt = task.status === 'pending' || task.status === 'in_progress' ? await insights.typePausedAt(task.type) : null;
    const heldBack = (await deps.service.repo.heldBack([task], now)).get(task.id) ?? null;
    const ahead = task.status === 'pending' && task.runAt <= now && pausedAt === null && heldBack === null ? await insights.claimedBefore(task, now, 10_001) : null;
    const diagnosis = diagnose(task, now, ahead, ahead !== null && ahead > 10_000, pausedAt, heldBack);
    const done = c.req.query('done');
    const notice =
      done === 'cancel' ? 'Task cancelled.'
      : done === 'retry' ? 'Task queued again (pending, attempts reset).'
      : done === 'resume' ? `Type “${task.type}” resumed: its tasks are claimed again.`
      : null;
    const runId = workflowOfType(task.type) === null ? null : formatTaskId(task.id);
    return c.html(<TaskPage page={pageContext(c, config, now)} task={task} attempts={attempts} diagnosis={diagnosis} notice={notice} runId={runId} heldBack={heldBack} />);
  });

  ui.get('/failed', async (c) => {
    const { groups, sampled } = await insights.failedGroups();
    return c.html(<FailedPage page={pageContext(c, config)} groups={groups} sampled={sampled} notice={bulkNotice(c)} />);
  });

  ui.get('/workflows', async (c) => {
    const [names, urls] = await Promise.all([workflows.names(), workflows.remoteUrls()]);
    const runs = await insights.typeCounts(names.map(runType), false);
    return c.html(<WorkflowsPage page={pageContext(c, config)} runs={runs} urls={urls} />);
  });

  ui.get('/runs', async (c) => {
    const values = runFilterValues((name) => c.req.query(name));
    const names = await workflows.names();
    const filter = toRunFilter(values, (name) => names.includes(name), PAGE_SIZE + 1);
    const runs = await workflows.listRuns(filter);
    const page = runs.slice(0, PAGE_SIZE);
    const nextBefore = runs.length > PAGE_SIZE ? page[page.length - 1]!.id : null;
    return c.html(<RunsPage page={pageContext(c, config)} values={values} workflows={names} listing={{ runs: page, nextBefore }} />);
  });

  ui.get('/runs/:id', async (c) => {
    const id = c.req.param('id');
    if (!isTaskId(id) && !isLegacyTaskId(id)) throw new AppError(404, 'not_found', 'run not found');
    const now = Date.now();
    const [run, parent] = await Promise.all([workflows.getRun(id), workflows.parentOf(id)]);
    const done = c.req.query('done');
    const resumed = Math.max(0, Number.parseInt(c.req.query('resumed') ?? '0', 10) || 0);
    const notice =
      done === 'cancel' ? 'Run cancelled, and its child runs that had not ended.'
      : done === 'retry' ? 'Run resumed: its failed steps run again, completed ones are not.'
      : done === 'event' ? `Event sent: ${formatCount(resumed)} waiting ${resumed === 1 ? 'run was' : 'runs were'} made due.`
      : null;
    return c.html(<RunPage page={pageContext(c, config, now)} run={run} parent={parent} notice={notice} />);
  });

  ui.get('/schedules', async (c) => {
    const after = c.req.query('after') ?? '';
    if (after.length > 200) throw badRequest('after must be a schedule name', 'invalid_query');
    const listed = schedules ? await schedules.summaries({ afterName: after === '' ? undefined : after, limit: PAGE_SIZE + 1 }) : null;
    const shown = listed?.slice(0, PAGE_SIZE) ?? null;
    const next = listed && listed.length > PAGE_SIZE ? shown![shown!.length - 1]!.name : null;
    return c.html(<SchedulesPage page={pageContext(c, config)} schedules={shown} notice={scheduleNotice(c, shown ?? [])} after={after} next={next} />);
  });

  ui.get('/types', async (c) => {
    await deps.handlers.refreshTypes();
    const types = await insights.typeCounts(deps.handlers.types(), true);
    const done = c.req.query('done');
    // Only a type that is listed is named: nothing from the query is echoed as text.
    const type = types.types.find((t) => t.type === c.req.query('type'))?.type;
    const notice =
      type === undefined ? null
      : done === 'pause' ? `Type “${type}” paused: no worker claims its tasks until it is resumed.`
      : done === 'resume' ? `Type “${type}” resumed: its tasks are claimed again.`
      : null;
    return c.html(<TypesPage page={pageContext(c, config)} types={types} notice={notice} />);
  });
}

/** A schedule action's result, naming only a schedule on the page (nothing echoed from the query). */
function scheduleNotice(c: Context<DashboardEnv>, shown: { name: string }[]): ScheduleNotice | null {
  const done = c.req.query('done');
  const name = shown.find((s) => s.name === c.req.query('schedule'))?.name;
  if (name === undefined) return null;
  if (done === 'pause') return { text: `Schedule “${name}” paused: no occurrence fires until it is resumed.` };
  if (done === 'resume') return { text: `Schedule “${name}” resumed.` };
  const task = c.req.query('task') ?? '';
  if (done === 'trigger' && isTaskId(task)) return { text: `Schedule “${name}” ran now: task`, taskId: task };
  return null;
}

/** The result of a bulk action, from the redirect's query: numbers only, nothing echoed as text. */
function bulkNotice(c: Context<DashboardEnv>): BulkNotice | null {
  const action = c.req.query('done');
  if (action !== 'cancel' && action !== 'retry') return null;
  const number = (name: string) => Math.max(0, Math.min(BULK_MAX, Number.parseInt(c.req.query(name) ?? '0', 10) || 0));
  return { action, matched: number('matched'), changed: number('changed'), more: c.req.query('more') === '1' };
}
