/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import { BULK_BATCH, BULK_MAX } from '../../tasks/bulk.ts';
import { TITLE_SCAN_ROWS, type SearchPage } from '../../tasks/insights.ts';
import { formatTaskId } from '../../tasks/ids.ts';
import type { Task } from '../../tasks/model.ts';
import { filterQuery, FILTER_NAMES, type FilterValues } from '../filters.ts';
import { formatCount, formatTime } from '../format.ts';
import { CsrfField, Layout, StatusBadge, StatusFilter, type PageContext } from './layout.tsx';

export interface BulkNotice {
  action: 'cancel' | 'retry';
  matched: number;
  changed: number;
  more: boolean;
}

export const BulkNoticeBox: FC<{ notice: BulkNotice | null }> = ({ notice }) =>
  notice ? (
    <div class="notice" id="notice">
      {notice.action === 'cancel' ? 'Cancelled' : 'Retried'} {formatCount(notice.changed)} of {formatCount(notice.matched)} selected tasks
      {notice.changed < notice.matched ? ' (the others had moved on: finished, or already changed)' : ''}.
      {notice.more ? ` More than ${formatCount(BULK_MAX)} matched: run it again for the rest.` : ''}
    </div>
  ) : null;

/** The filter fields as hidden inputs: a bulk form carries the list's filters. */
export const HiddenFilters: FC<{ values: FilterValues }> = ({ values }) => (
  <>{FILTER_NAMES.filter((n) => n !== 'before' && values[n] !== '').map((n) => <input type="hidden" name={n} value={values[n]} />)}</>
);

/** `heldBack`: why flow control holds the task back now (its `held_back`), or null. */
export const TaskRow: FC<{ task: Task; selectable: boolean; now: number; heldBack?: string | null }> = ({ task, selectable, heldBack = null }) => {
  const id = formatTaskId(task.id);
  return (
    <tr data-task-id={id}>
      {selectable ? (
        <td><input type="checkbox" name="id" value={id} aria-label={`select ${id}`} /></td>
      ) : null}
      <td class="mono"><a href={`/ui/tasks/${id}`}>{id}</a></td>
      <td class="truncate">{task.title}</td>
      <td>{task.type}</td>
      <td>
        <StatusBadge status={task.status} />
        {heldBack !== null ? <div class="muted held-back" title="held back by flow control">{heldBack}</div> : null}
      </td>
      <td class="num">{task.attempts}/{task.maxAttempts}</td>
      <td class="time">{formatTime(task.createdAt)}</td>
      <td class="time">{task.completedAt !== null ? formatTime(task.completedAt) : task.status === 'pending' ? `runs ${formatTime(task.runAt)}` : '—'}</td>
    </tr>
  );
};

export const TasksPage: FC<{ page: PageContext; values: FilterValues; result: SearchPage; types: string[]; notice: BulkNotice | null; heldBack?: ReadonlyMap<number, string> }> = ({ page, values, result, types, notice, heldBack }) => {
  const titleSearch = values.title !== '';
  const selectable = page.canAct;
  return (
    <Layout title="Tasks" section="tasks" page={page}>
      <h1>Tasks</h1>
      <BulkNoticeBox notice={notice} />
      <form class="filters card" method="get" action="/ui/tasks" id="filters">
        <StatusFilter value={values.status} />
        <label>
          type
          <input name="type" value={values.type} list="task-types" size={12} />
          <datalist id="task-types">{types.map((t) => <option value={t} />)}</datalist>
        </label>
        <label>
          created from (UTC)
          <input type="datetime-local" name="from" value={values.from} />
        </label>
        <label>
          created to (UTC)
          <input type="datetime-local" name="to" value={values.to} />
        </label>
        <label>
          title contains
          <input name="title" value={values.title} size={16} />
        </label>
        {values.error !== '' ? <input type="hidden" name="error" value={values.error} /> : null}
        <button class="primary" type="submit">Filter</button>
        <a class="button" href="/ui/tasks">Clear</a>
      </form>
      {values.error !== '' ? <p class="note">Only failures with the error: <code>{values.error.slice(0, 200)}</code></p> : null}
      {result.scan ? (
        <p class="note" id="scan-note">
          The title search looks through at most {formatCount(TITLE_SCAN_ROWS)} tasks per page (newest first, within the other filters):{' '}
          {result.scan.rows === null
            ? 'this page filled up before that bound.'
            : `this page searched ${formatCount(result.scan.rows)}${result.scan.complete ? ', every task that matches the other filters.' : '. Narrow the created time range, or go on to older tasks below.'}`}
        </p>
      ) : null}

      <form method="post" action="/ui/tasks/bulk" class="card" id="task-list">
        <CsrfField page={page} />
        <HiddenFilters values={values} />
        {selectable ? (
          <div class="actions">
            <label class="muted"><input type="checkbox" data-select-page aria-label="select every task on this page" /> this page</label>
            <button type="submit" name="op" value="cancel-selected">Cancel selected</button>
            <button type="submit" name="op" value="retry-selected">Retry selected</button>
            {titleSearch ? (
              <span class="muted">“All matching” is not offered with a title search (it is bounded per page).</span>
            ) : (
              <>
                <button type="submit" name="op" value="cancel-all" class="danger">Cancel all matching…</button>
                <button type="submit" name="op" value="retry-all">Retry all matching…</button>
              </>
            )}
          </div>
        ) : null}
        {result.tasks.length === 0 ? (
          <p class="muted">No tasks match.</p>
        ) : (
          <div class="table-scroll">
          <table>
            <thead>
              <tr>
                {selectable ? <th></th> : null}
                <th>id</th><th>title</th><th>type</th><th>status</th><th class="num">attempts</th><th>created</th><th>finished / runs</th>
              </tr>
            </thead>
            <tbody>
              {result.tasks.map((task) => <TaskRow task={task} selectable={selectable} now={page.now} heldBack={heldBack?.get(task.id) ?? null} />)}
            </tbody>
          </table>
          </div>
        )}
        {selectable ? <p class="note">Bulk actions show the count first, then run in batches of {BULK_BATCH}, at most {formatCount(BULK_MAX)} per run.</p> : null}
      </form>
      <div class="pager">
        <span class="muted">{formatCount(result.tasks.length)} shown, newest first</span>
        <span>
          {values.before !== '' ? <a class="button" href={`/ui/tasks${filterQuery(values)}`}>Newest</a> : null}{' '}
          {result.nextBeforeId ? (
            <a class="button" id="older" href={`/ui/tasks${filterQuery(values, { before: formatTaskId(result.nextBeforeId) })}`}>
              {result.scan && result.tasks.length === 0 ? 'Search older tasks →' : 'Older →'}
            </a>
          ) : null}
        </span>
      </div>
    </Layout>
  );
};

/** "Cancel 1,234 tasks?": the count first, then the same form again with confirm=yes. */
export const ConfirmPage: FC<{
  page: PageContext;
  action: 'cancel' | 'retry';
  count: number;
  description: string;
  fields: [string, string][];
  back: string;
  formAction: string;
}> = ({ page, action, count, description, fields, back, formAction }) => {
  const over = count > BULK_MAX;
  const verb = action === 'cancel' ? 'Cancel' : 'Retry';
  return (
    <Layout title={`${verb} tasks`} section="tasks" page={page}>
      <h1>{verb} {over ? `more than ${formatCount(BULK_MAX)}` : formatCount(count)} {count === 1 ? 'task' : 'tasks'}?</h1>
      <div class="card" id="confirm">
        <p>{description}</p>
        {over ? <p>This run changes the newest {formatCount(BULK_MAX)}; run it again for the rest.</p> : null}
        <p class="note">
          {action === 'cancel'
            ? 'Pending and running tasks only: running handlers are asked to stop. Each task is changed by a version-checked write; one that finished meanwhile is left alone.'
            : 'Failed and cancelled tasks only: each goes back to pending with its attempts reset, due now.'}{' '}
          Batches of {BULK_BATCH}.
        </p>
        {count === 0 ? (
          <p><a class="button" href={back}>Back</a></p>
        ) : (
          <form method="post" action={formAction} class="actions">
            <CsrfField page={page} />
            {fields.map(([name, value]) => <input type="hidden" name={name} value={value} />)}
            <input type="hidden" name="confirm" value="yes" />
            <button type="submit" class={action === 'cancel' ? 'danger' : 'primary'} id="confirm-button">
              {verb} {over ? formatCount(BULK_MAX) : formatCount(count)} {count === 1 ? 'task' : 'tasks'}
            </button>
            <a class="button" href={back}>Back</a>
          </form>
        )}
      </div>
    </Layout>
  );
};
