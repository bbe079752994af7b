/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Context, Hono } from 'hono';
import { AppError } from '../foundation/errors.ts';
import { BULK_MAX } from '../tasks/bulk.ts';
import { isLegacyTaskId, isTaskId } from '../tasks/ids.ts';
import { pageContext, type DashboardEnv, type DashboardRouteDeps } from './context.ts';
import { filterValues, toSearch } from './filters.ts';
import { FailedPage } from './pages/failed.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { diagnose, TaskPage } from './pages/task.tsx';
import { TasksPage, type BulkNotice } from './pages/tasks.tsx';

const PAGE_SIZE = 50;

/** The pages people read: overview, the task list, one task, failed tasks by error. */
export function registerPageRoutes(ui: Hono<DashboardEnv>, deps: DashboardRouteDeps): void {
  const { config, insights, schedules } = deps;

  ui.get('/', async (c) => {
    const [overview, dueNext] = await Promise.all([insights.overview(), schedules ? schedules.dueNext(10) : Promise.resolve(null)]);
    return c.html(<OverviewPage page={pageContext(c, config)} overview={overview} schedules={dueNext} />);
  });

  ui.get('/tasks', async (c) => {
    const values = filterValues((name) => c.req.query(name));
    const result = await insights.search(toSearch(values), PAGE_SIZE);
    return c.html(<TasksPage page={pageContext(c, config)} values={values} result={result} types={deps.handlers.types()} notice={bulkNotice(c)} />);
  });

  ui.get('/tasks/:id', async (c) => {
    const id = c.req.param('id');
    if (!isTaskId(id) && !isLegacyTaskId(id)) throw new AppError(404, 'not_found', 'task not found');
    const task = await deps.service.get(id);
    const now = Date.now();
    const pausedAt = task.status === 'pending' || task.status === 'in_progress' ? await insights.typePausedAt(task.type) : null;
    const ahead = task.status === 'pending' && task.runAt <= now && pausedAt === null ? await insights.claimedBefore(task, now, 10_001) : null;
    const diagnosis = diagnose(task, now, ahead, ahead !== null && ahead > 10_000, pausedAt);
    const done = c.req.query('done');
    const notice =
      done === 'cancel' ? 'Task cancelled.'
      : done === 'retry' ? 'Task queued again (pending, attempts reset).'
      : done === 'resume' ? `Type “${task.type}” resumed: its tasks are claimed again.`
      : null;
    return c.html(<TaskPage page={pageContext(c, config, now)} task={task} diagnosis={diagnosis} notice={notice} />);
  });

  ui.get('/failed', async (c) => {
    const { groups, sampled } = await insights.failedGroups();
    return c.html(<FailedPage page={pageContext(c, config)} groups={groups} sampled={sampled} notice={bulkNotice(c)} />);
  });
}

/** The result of a bulk action, from the redirect's query: numbers only, nothing echoed as text. */
function bulkNotice(c: Context<DashboardEnv>): BulkNotice | null {
  const action = c.req.query('done');
  if (action !== 'cancel' && action !== 'retry') return null;
  const number = (name: string) => Math.max(0, Math.min(BULK_MAX, Number.parseInt(c.req.query(name) ?? '0', 10) || 0));
  return { action, matched: number('matched'), changed: number('changed'), more: c.req.query('more') === '1' };
}
