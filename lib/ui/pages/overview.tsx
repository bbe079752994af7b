/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import { COUNT_CAP, TYPE_SAMPLE, type Overview, type StatusCount } from '../../tasks/insights.ts';
import { formatCount, formatDuration, formatTime, relative } from '../format.ts';
import type { ScheduleSummary } from '../schedules.ts';
import { FinishesChart } from './chart.tsx';
import { Layout, type PageContext } from './layout.tsx';

const shown = (c: StatusCount) => `${formatCount(c.count)}${c.capped ? '+' : ''}`;

export const OverviewPage: FC<{ page: PageContext; overview: Overview; schedules: ScheduleSummary[] | null }> = ({ page, overview, schedules }) => {
  const { now } = page;
  const slowest = overview.types.filter((t) => t.avgMs !== null).sort((a, b) => b.avgMs! - a.avgMs!).slice(0, 5);
  const failing = overview.types.filter((t) => t.failed > 0).sort((a, b) => b.failed - a.failed).slice(0, 5);
  const hour = overview.perMinute.reduce((sum, m) => ({ completed: sum.completed + m.completed, failed: sum.failed + m.failed }), { completed: 0, failed: 0 });
  return (
    <Layout title="Overview" section="overview" page={page}>
      <h1>Overview</h1>
      <div class="grid" id="counts">
        {overview.counts.map((c) => (
          <a class="stat" href={`/ui/tasks?status=${c.status}`} data-status={c.status}>
            <div class="l">{c.status.replace('_', ' ')}</div>
            <div class="n">{shown(c)}</div>
          </a>
        ))}
        <div class="stat" id="oldest-pending">
          <div class="l">oldest pending</div>
          <div class="n">{overview.oldestPendingCreatedAt === null ? '—' : formatDuration(now - overview.oldestPendingCreatedAt)}</div>
          <div class="muted">{shown(overview.duePending)} due now</div>
        </div>
      </div>
      {overview.counts.some((c) => c.capped) ? <p class="note">Counts stop at {formatCount(COUNT_CAP)} per status (shown with “+”), so this page stays fast on large tables; the oldest pending task's age tells how far behind the workers are. <a href="/ui/tasks">The task list</a> pages through all of them.</p> : null}

      <section class="card" id="throughput">
        <h2>
          Finished per minute, last hour{' '}
          <span class="muted">
            ({formatCount(hour.completed)} completed, {formatCount(hour.failed)} failed)
          </span>
        </h2>
        <FinishesChart minutes={overview.perMinute} />
      </section>

      <div class="cols">
        <section class="card" id="slowest-types">
          <h2>Slowest types, last hour</h2>
          {slowest.length === 0 ? (
            <p class="muted">No completions in the last hour.</p>
          ) : (
            <div class="table-scroll"><table>
              <thead>
                <tr><th>type</th><th class="num">completed</th><th class="num">average</th><th class="num">slowest</th></tr>
              </thead>
              <tbody>
                {slowest.map((t) => (
                  <tr>
                    <td><a href={`/ui/tasks?type=${encodeURIComponent(t.type)}`}>{t.type}</a></td>
                    <td class="num">{formatCount(t.completed)}</td>
                    <td class="num">{formatDuration(t.avgMs)}</td>
                    <td class="num">{formatDuration(t.maxMs)}</td>
                  </tr>
                ))}
              </tbody>
            </table></div>
          )}
          <p class="note">Run time of the last attempt (started → finished), over the newest {formatCount(TYPE_SAMPLE)} completions.</p>
        </section>
        <section class="card" id="failing-types">
          <h2>Most failing types, last hour</h2>
          {failing.length === 0 ? (
            <p class="muted">No failures in the last hour.</p>
          ) : (
            <div class="table-scroll"><table>
              <thead>
                <tr><th>type</th><th class="num">failed</th><th class="num">completed</th><th class="num">failure rate</th></tr>
              </thead>
              <tbody>
                {failing.map((t) => (
                  <tr>
                    <td><a href={`/ui/tasks?status=failed&type=${encodeURIComponent(t.type)}`}>{t.type}</a></td>
                    <td class="num">{formatCount(t.failed)}</td>
                    <td class="num">{formatCount(t.completed)}</td>
                    <td class="num">{Math.round((t.failed / (t.failed + t.completed)) * 100)}%</td>
                  </tr>
                ))}
              </tbody>
            </table></div>
          )}
          <p class="note">Tasks that failed for good (no attempts left), over the newest {formatCount(TYPE_SAMPLE)} failures. <a href="/ui/failed">Failed tasks by error →</a></p>
        </section>
      </div>

      {schedules ? (
        <section class="card" id="schedules">
          <h2>Schedules due next</h2>
          {schedules.length === 0 ? (
            <p class="muted">No schedules.</p>
          ) : (
            <div class="table-scroll"><table>
              <thead>
                <tr><th>schedule</th><th>type</th><th>next run</th></tr>
              </thead>
              <tbody>
                {schedules.map((s) => (
                  <tr>
                    <td>{s.name}</td>
                    <td>{s.type}</td>
                    <td class="time">{s.paused || s.nextRunAt === null ? <span class="badge">paused</span> : `${formatTime(s.nextRunAt)} (${relative(s.nextRunAt, now)})`}</td>
                  </tr>
                ))}
              </tbody>
            </table></div>
          )}
        </section>
      ) : null}
      <p class="note">As of {formatTime(now)}. Reload for fresh figures.</p>
    </Layout>
  );
};
