/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import { formatClock, formatTime, relative } from '../format.ts';
import type { ScheduleListing } from '../schedules.ts';
import { CsrfField, Layout, type PageContext } from './layout.tsx';

export interface ScheduleNotice {
  text: string;
  /** The task a trigger submitted. */
  taskId?: string;
}

const ScheduleActions: FC<{ page: PageContext; schedule: ScheduleListing }> = ({ page, schedule }) => {
  const path = `/ui/schedules/${encodeURIComponent(schedule.name)}`;
  return (
    <div class="actions">
      <form method="post" action={`${path}/${schedule.paused ? 'resume' : 'pause'}`}>
        <CsrfField page={page} />
        <button type="submit" class={schedule.paused ? 'primary' : undefined} data-action={schedule.paused ? 'resume' : 'pause'}>{schedule.paused ? 'Resume' : 'Pause'}</button>
      </form>
      <form method="post" action={`${path}/trigger`}>
        <CsrfField page={page} />
        <button type="submit" data-action="trigger">Run now</button>
      </form>
    </div>
  );
};

/** Cron schedules by name: when each runs next and last ran, paused or not; pause, resume, run now. */
export const SchedulesPage: FC<{ page: PageContext; schedules: ScheduleListing[] | null; notice: ScheduleNotice | null; after: string; next: string | null }> = ({
  page,
  schedules,
  notice,
  after,
  next,
}) => (
  <Layout title="Schedules" section="schedules" page={page}>
    <h1>Schedules</h1>
    {notice ? (
      <div class="notice" id="notice">
        {notice.text}
        {notice.taskId ? <> <a class="mono" href={`/ui/tasks/${notice.taskId}`}>{notice.taskId}</a></> : null}
      </div>
    ) : null}
    <section class="card">
      {schedules === null ? (
        <p class="muted">This deployment has no schedules.</p>
      ) : schedules.length === 0 ? (
        <p class="muted">No schedules{after !== '' ? ' after this point' : ''}. <code>PUT /schedules/:name</code> creates one (docs/schedules.md).</p>
      ) : (
        <div class="table-scroll">
          <table id="schedules" class="rows-middle">
            <thead>
              <tr><th>schedule</th><th>task type</th><th>cron</th><th>zone</th><th>next run</th><th>last run</th><th>state</th>{page.canAct ? <th></th> : null}</tr>
            </thead>
            <tbody>
              {schedules.map((s) => (
                <tr data-schedule={s.name}>
                  <td>{s.name}</td>
                  <td><a href={`/ui/tasks?type=${encodeURIComponent(s.type)}`}>{s.type}</a></td>
                  <td class="mono time">{s.cron}</td>
                  <td>{s.timezone}</td>
                  <td class="time" data-next-run>{s.nextRunAt === null ? <span class="muted">—</span> : `${formatClock(s.nextRunAt, page.now)} (${relative(s.nextRunAt, page.now)})`}</td>
                  <td class="time" data-last-run>{s.lastRunAt === null ? <span class="muted">never</span> : <span title={formatTime(s.lastRunAt)}>{relative(s.lastRunAt, page.now)}</span>}</td>
                  <td><span class={`status s-${s.paused ? 'paused' : 'active'}`}>{s.paused ? 'paused' : 'active'}</span></td>
                  {page.canAct ? <td><ScheduleActions page={page} schedule={s} /></td> : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="note">
        Times are UTC; each schedule's cron is read in its zone. A paused schedule's next run is where the pause found it: on resume, its missed policy decides
        about occurrences that fell due meanwhile. “Run now” submits one task at once and leaves the next run as it is.
      </p>
    </section>
    <div class="pager">
      <span></span>
      <span>
        {after !== '' ? <a class="button" href="/ui/schedules">First</a> : null}{' '}
        {next ? <a class="button" id="older" href={`/ui/schedules?after=${encodeURIComponent(next)}`}>Next →</a> : null}
      </span>
    </div>
  </Layout>
);
