/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { TypeCounts, TypeCountsPage } from '../../tasks/insights.ts';
import { STATUSES } from '../../tasks/states.ts';
import { formatDuration, formatTime, relative } from '../format.ts';
import { CappedNote, CountCell } from './counts.tsx';
import { CsrfField, Layout, type PageContext } from './layout.tsx';

const TypeAction: FC<{ page: PageContext; type: TypeCounts }> = ({ page, type }) => {
  const paused = type.pausedAt !== null;
  return (
  <form method="post" action={`/ui/types/${paused ? 'resume' : 'pause'}`}>
    <CsrfField page={page} />
    <input type="hidden" name="type" value={type.type} />
    <input type="hidden" name="from" value="types" />
    <button type="submit" class={paused ? 'primary' : undefined} data-action={paused ? 'resume' : 'pause'}>{paused ? 'Resume' : 'Pause'}</button>
  </form>
  );
};

/**
 * Every task type (registered, with tasks, or paused): its tasks by status, its oldest pending
 * task's age, and whether it is paused; pause stops every worker claiming it, resume lets them again.
 */
export const TypesPage: FC<{ page: PageContext; types: TypeCountsPage; notice: string | null }> = ({ page, types, notice }) => (
  <Layout title="Types" section="types" page={page}>
    <h1>Task types</h1>
    {notice ? <div class="notice" id="notice">{notice}</div> : null}
    <section class="card">
      <div class="table-scroll">
        <table id="types" class="rows-middle">
          <thead>
            <tr>
              <th>type</th>
              {STATUSES.map((s) => <th class="num">{s.replace('_', ' ')}</th>)}
              <th>oldest pending</th><th>state</th>{page.canAct ? <th></th> : null}
            </tr>
          </thead>
          <tbody>
            {types.types.map((t) => (
              <tr data-type={t.type}>
                <td><a href={`/ui/tasks?type=${encodeURIComponent(t.type)}`}>{t.type}</a></td>
                {STATUSES.map((s) => <CountCell n={t.counts[s]} capped={types.capped[s]} status={s} href={`/ui/tasks?type=${encodeURIComponent(t.type)}&status=${s}`} />)}
                <td class="time">{t.oldestPendingCreatedAt === null ? <span class="muted">—</span> : <span title={formatTime(t.oldestPendingCreatedAt)}>{formatDuration(page.now - t.oldestPendingCreatedAt)}</span>}</td>
                <td class="time" data-state>
                  {t.pausedAt !== null ? <span class="status s-paused" title={`since ${formatTime(t.pausedAt)}`}>paused {relative(t.pausedAt, page.now)}</span> : <span class="status s-active">active</span>}
                </td>
                {page.canAct ? <td><TypeAction page={page} type={t} /></td> : null}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <CappedNote capped={types.capped} />
      <p class="note">
        A paused type's tasks are still accepted and wait, pending; no worker in any process or function claims them until the type is resumed. A workflow's
        runs are tasks of type <code>workflow:&lt;name&gt;</code>.
      </p>
    </section>
  </Layout>
);
