import { AppError } from '../errors.ts';
import type { TaskInsights, TaskSearch } from './insights.ts';
import type { TaskService } from './service.ts';
import type { TaskStatus } from './states.ts';

/**
 * Cancel or retry many tasks: a list of ids, or every task matching a search. Each task goes
 * through `TaskService.cancel/retry` (one version-checked transition, re-read on a lost race),
 * BULK_BATCH at a time so a large selection never holds thousands of writes in flight, and at
 * most BULK_MAX per call so one request stays short; the caller is told whether more remain.
 * A task that moved on meanwhile (finished, already cancelled) is skipped, not an error.
 *
 * Used by the dashboard (lib/ui/). Issue 13's `POST /tasks/cancel|retry` can share it.
 */
export type BulkAction = 'cancel' | 'retry';

export const BULK_BATCH = 100;
export const BULK_MAX = 10_000;

/** The statuses each action applies to (TaskService.cancel/retry accept exactly these). */
export const ACTIONABLE: Record<BulkAction, readonly TaskStatus[]> = {
  cancel: ['pending', 'in_progress'],
  retry: ['failed', 'cancelled'],
};

export type BulkSelection = { ids: readonly string[] } | { search: TaskSearch };

export interface BulkResult {
  /** Tasks the action was tried on. */
  matched: number;
  /** Tasks it moved. */
  changed: number;
  /** True when the selection holds more than BULK_MAX tasks: run it again for the rest. */
  more: boolean;
}

/** The search an action runs over: the selection's filters, narrowed to the statuses it applies to. */
export function actionableSearch(action: BulkAction, search: TaskSearch): TaskSearch {
  const allowed = ACTIONABLE[action];
  const statuses = search.statuses ? search.statuses.filter((s) => allowed.includes(s)) : allowed;
  // No overlap: a status nothing has, so the search matches nothing (not "any status").
  return { ...search, title: undefined, statuses: statuses.length > 0 ? statuses : ['__none__' as TaskStatus] };
}

/** How many tasks the action would touch, counted up to BULK_MAX + 1 (more than BULK_MAX shows as such). */
export function countBulk(insights: TaskInsights, action: BulkAction, search: TaskSearch): Promise<number> {
  return insights.count(actionableSearch(action, search), BULK_MAX + 1);
}

export async function runBulk(service: TaskService, insights: TaskInsights, action: BulkAction, selection: BulkSelection): Promise<BulkResult> {
  const apply = async (ids: readonly string[]) => {
    const results = await Promise.allSettled(ids.map((id) => (action === 'cancel' ? service.cancel(id) : service.retry(id))));
    let changed = 0;
    for (const result of results) {
      if (result.status === 'fulfilled') changed++;
      // 404 (gone) and 409 (moved on): skipped. Anything else is a real failure.
      else if (!(result.reason instanceof AppError && (result.reason.status === 404 || result.reason.status === 409))) throw result.reason;
    }
    return changed;
  };

  if ('ids' in selection) {
    const ids = [...new Set(selection.ids)].slice(0, BULK_MAX);
    let changed = 0;
    for (let i = 0; i < ids.length; i += BULK_BATCH) changed += await apply(ids.slice(i, i + BULK_BATCH));
    return { matched: ids.length, changed, more: new Set(selection.ids).size > BULK_MAX };
  }

  const search = actionableSearch(action, selection.search);
  let matched = 0;
  let changed = 0;
  let beforeId = search.beforeId;
  while (matched < BULK_MAX) {
    const ids = await insights.ids({ ...search, beforeId }, Math.min(BULK_BATCH, BULK_MAX - matched));
    if (ids.length === 0) return { matched, changed, more: false };
    matched += ids.length;
    changed += await apply(ids);
    beforeId = ids[ids.length - 1];
  }
  return { matched, changed, more: (await insights.ids({ ...search, beforeId }, 1)).length > 0 };
}
