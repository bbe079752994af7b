/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { TypeCountsPage } from '../../tasks/insights.ts';
import { STATUSES } from '../../tasks/states.ts';
import { workflowOfType } from '../../workflows/define.ts';
import { formatDuration, formatTime } from '../format.ts';
import { CappedNote, CountCell } from './counts.tsx';
import { Layout, type PageContext } from './layout.tsx';

const runsOf = (workflow: string, status?: string) =>
  `/ui/runs?workflow=${encodeURIComponent(workflow)}${status ? `&status=${status}` : ''}`;

/**
 * Every registered workflow: its runs by status (each a link to those runs) and how long its
 * oldest pending run has waited. `runs`: the counts of the workflows' run types
 * (`workflow:<name>`, TaskInsights.typeCounts).
 */
export const WorkflowsPage: FC<{ page: PageContext; runs: TypeCountsPage }> = ({ page, runs }) => (
  <Layout title="Workflows" section="workflows" page={page}>
    <h1>Workflows</h1>
    <section class="card">
      {runs.types.length === 0 ? (
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
              {runs.types.map((t) => {
                const name = workflowOfType(t.type) ?? t.type;
                const oldest = t.oldestPendingCreatedAt;
                return (
                  <tr data-workflow={name}>
                    <td><a href={runsOf(name)}>{name}</a></td>
                    {STATUSES.map((s) => <CountCell n={t.counts[s]} capped={runs.capped[s]} status={s} href={runsOf(name, s)} />)}
                    <td class="time" data-oldest-pending>{oldest === null ? <span class="muted">—</span> : <span title={formatTime(oldest)}>{formatDuration(page.now - oldest)}</span>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <CappedNote capped={runs.capped} />
      <p class="note">
        A pending run is sleeping, waiting for an event or a child run, or due and waiting for a worker: <a href="/ui/runs?status=pending">the pending runs</a> say
        which.
      </p>
    </section>
  </Layout>
);
