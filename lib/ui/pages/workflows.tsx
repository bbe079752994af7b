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
 * Every registered workflow: its runs by status (each a link to those runs), how long its
 * oldest pending run has waited, and where it runs: in process, or the URL of the app that
 * serves it (registered by `PUT /workflows/:name`). `runs`: the counts of the workflows' run
 * types (`workflow:<name>`, TaskInsights.typeCounts); `urls`: the remote ones' URLs by name.
 */
export const WorkflowsPage: FC<{ page: PageContext; runs: TypeCountsPage; urls: ReadonlyMap<string, string> }> = ({ page, runs, urls }) => (
  <Layout title="Workflows" section="workflows" page={page}>
    <h1>Workflows</h1>
    <section class="card">
      {runs.types.length === 0 ? (
        <p class="muted">No workflow is registered here. A handlers module exports them as <code>workflows</code>, or <code>PUT /workflows/:name</code> registers one your app serves (docs/workflows.md).</p>
      ) : (
        <div class="table-scroll">
          <table id="workflows">
            <thead>
              <tr>
                <th>workflow</th>
                {STATUSES.map((s) => <th class="num">{s.replace('_', ' ')}</th>)}
                <th>oldest pending</th>
                <th>served</th>
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
                    <td data-served>{urls.has(name) ? <code>{urls.get(name)}</code> : <span class="muted">in process</span>}</td>
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
