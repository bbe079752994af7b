import { badRequest } from '../foundation/errors.ts';
import { parseTaskId } from '../tasks/ids.ts';
import type { TaskSearch } from '../tasks/insights.ts';
import { STATUSES, type TaskStatus } from '../tasks/states.ts';
import type { RunFilter } from '../workflows/service.ts';

/**
 * The filters of the task list and of the runs list (below).
 *
 * The task list's filters as the browser sends them (query string of the filter form, or the
 * hidden fields of a bulk form) ↔ a TaskSearch. Bad values are a 400 page naming the field;
 * nothing is silently dropped.
 */
export interface FilterValues {
  status: string;
  type: string;
  /** `YYYY-MM-DDTHH:MM` (datetime-local), read as UTC. */
  from: string;
  to: string;
  title: string;
  /** A failure group's exact error (from the Failed page). */
  error: string;
  /** Paging: tasks below this id. */
  before: string;
}

export const FILTER_NAMES = ['status', 'type', 'from', 'to', 'title', 'error', 'before'] as const;

const LOCAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/;

export function filterValues(read: (name: string) => string | undefined): FilterValues {
  const values = {} as FilterValues;
  for (const name of FILTER_NAMES) values[name] = (read(name) ?? '').trim();
  return values;
}

function time(name: string, value: string): number | undefined {
  if (value === '') return undefined;
  const ms = LOCAL_TIME.test(value) ? Date.parse(`${value}Z`) : Number.NaN;
  if (Number.isNaN(ms)) throw badRequest(`${name} must be a date and time like 2026-01-31T13:45 (UTC)`, 'invalid_query');
  return ms;
}

export function toSearch(values: FilterValues): TaskSearch {
  const search: TaskSearch = {};
  if (values.status !== '') {
    if (!(STATUSES as readonly string[]).includes(values.status)) throw badRequest(`status must be one of ${STATUSES.join(', ')}`, 'invalid_query');
    search.statuses = [values.status as TaskStatus];
  }
  if (values.type !== '') {
    if (values.type.length > 200) throw badRequest('type must be at most 200 characters', 'invalid_query');
    search.type = values.type;
  }
  search.createdFrom = time('from', values.from);
  // datetime-local has minute precision: "to 13:45" includes the whole minute.
  const to = time('to', values.to);
  search.createdTo = to === undefined ? undefined : values.to.length === 16 ? to + 59_999 : to;
  if (search.createdFrom !== undefined && search.createdTo !== undefined && search.createdFrom > search.createdTo) {
    throw badRequest('from must not be after to', 'invalid_query');
  }
  if (values.title !== '') {
    if (values.title.length > 200) throw badRequest('title must be at most 200 characters', 'invalid_query');
    search.title = values.title;
  }
  if (values.error !== '') search.lastError = values.error;
  if (values.before !== '') {
    const before = parseTaskId(values.before);
    if (before === null) throw badRequest('before must be a task id', 'invalid_query');
    search.beforeId = before;
  }
  return search;
}

/** The filters as a query string (without `before` unless given), for links and redirects. */
export function filterQuery(values: FilterValues, overrides: Partial<FilterValues> = {}): string {
  const params = new URLSearchParams();
  const merged = { ...values, before: '', ...overrides };
  for (const name of FILTER_NAMES) if (merged[name] !== '') params.set(name, merged[name]);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}


/** The runs list's filters (`/ui/runs`): a workflow, a status, and the paging cursor. */
export interface RunFilterValues {
  workflow: string;
  status: string;
  /** Paging: runs below this id. */
  before: string;
}

export function runFilterValues(read: (name: string) => string | undefined): RunFilterValues {
  return { workflow: (read('workflow') ?? '').trim(), status: (read('status') ?? '').trim(), before: (read('before') ?? '').trim() };
}

/** The values as WorkflowService.listRuns takes them; `known` says which workflows are registered. */
export function toRunFilter(values: RunFilterValues, known: (workflow: string) => boolean, limit: number): RunFilter {
  const filter: RunFilter = { limit };
  if (values.workflow !== '') {
    if (!known(values.workflow)) throw badRequest('workflow must be one of the registered workflows', 'invalid_query');
    filter.workflow = values.workflow;
  }
  if (values.status !== '') {
    if (!(STATUSES as readonly string[]).includes(values.status)) throw badRequest(`status must be one of ${STATUSES.join(', ')}`, 'invalid_query');
    filter.status = values.status as TaskStatus;
  }
  if (values.before !== '') {
    const before = parseTaskId(values.before);
    if (before === null) throw badRequest('before must be a run id', 'invalid_query');
    filter.beforeId = before;
  }
  return filter;
}

/** The runs list's query string, paged below `before` when given. */
export function runFilterQuery(values: RunFilterValues, before = ''): string {
  const params = new URLSearchParams();
  if (values.workflow !== '') params.set('workflow', values.workflow);
  if (values.status !== '') params.set('status', values.status);
  if (before !== '') params.set('before', before);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}
