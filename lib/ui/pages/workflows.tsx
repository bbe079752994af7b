import type { FC } from 'hono/jsx';
import { STATUSES } from '../../tasks/states.ts';
import type { WorkflowSummary } from '../../workflows/service.ts';
import { formatCount, formatDuration, formatTime } from '../format.ts';
import { Layout, type PageContext } from './layout.tsx';

const runsOf = (workflow: string, status?: string) =>
  `/ui/runs?workflow=${encodeURIComponent(workflow)}${status ? `&status=${status}` : ''}`;

/** Every registered workflow: its runs by status (each a link to those runs) and how long its oldest pending run has waited. */
export const WorkflowsPage: FC<{ page: PageContext; workflows: WorkflowSummary[] }> = ({ page, workflows }) => (
  <Layout title="Workflows" section="workflows" page={page}>
    <h1>Workflows</h1>
    <section class="card">
      {workflows.length === 0 ? (
        <p class="muted">No workflow is registered here. A handlers module exports them as <code>workflows</code> (docs/workflows.md).</p>
      ) : (
        <div class="table-scroll">
          <table id="workflows">
            <thead>
              <tr>
                <th>workflow</th>
                {STATUSES.map((s) => <th class="num">{s.replace('_', ' ')}</th>)}
                <th>oldest pending</th>
              </tr>
            </thead>
            <tbody>
              {workflows.map((w) => {
                const oldest = w.oldest_pending_at === null ? null : Date.parse(w.oldest_pending_at);
                return (
                  <tr data-workflow={w.name}>
                    <td><a href={runsOf(w.name)}>{w.name}</a></td>
                    {STATUSES.map((s) => {
                      const n = w.runs[s] ?? 0;
                      return <td class="num" data-status={s}>{n === 0 ? <span class="muted">0</span> : <a href={runsOf(w.name, s)}>{formatCount(n)}</a>}</td>;
                    })}
                    <td class="time" data-oldest-pending>{oldest === null ? <span class="muted">—</span> : <span title={formatTime(oldest)}>{formatDuration(page.now - oldest)}</span>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <p class="note">
        Counts are of every run in the database, like <code>GET /workflows</code>. A pending run is sleeping, waiting for an event or a child run, or
        due and waiting for a worker: <a href="/ui/runs?status=pending">the pending runs</a> say which.
      </p>
    </section>
  </Layout>
);
