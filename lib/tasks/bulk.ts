import type { TaskInsights, TaskSearch } from './insights.ts';
import type { TaskService } from './service.ts';
import type { TaskStatus } from './states.ts';

/**
 * The dashboard's bulk actions (lib/ui/): cancel or retry a list of ids, or every task matching
 * a dashboard search (which may include a bounded title scan, insights.ts). This module only
 * selects: each page of BULK_BATCH ids goes to `TaskService.cancelMatching/retryMatching`, the
 * same version-checked transitions as `POST /tasks/cancel|retry`, and at most BULK_MAX tasks
 * per call so one request stays short; the caller is told whether more remain. A task that
 * moved on meanwhile (finished, already cancelled) is not changed, not an error.
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
  const apply = async (ids: number[]) =>
    (action === 'cancel' ? await service.cancelMatching({ ids }) : await service.retryMatching({ ids })).changed;

  if ('ids' in selection) {
    const ids = [...new Set(selection.ids)].slice(0, BULK_MAX);
    let changed = 0;
    for (let i = 0; i < ids.length; i += BULK_BATCH) changed += await apply(await service.resolveIds(ids.slice(i, i + BULK_BATCH)));
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
