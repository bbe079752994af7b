/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { RunJson } from '../../workflows/service.ts';
import { runFilterQuery, type RunFilterValues } from '../filters.ts';
import { formatCount, formatTime } from '../format.ts';
import { Layout, StatusBadge, StatusFilter, type PageContext } from './layout.tsx';
import { WaitList } from './waiting.tsx';

export interface RunsListing {
  runs: RunJson[];
  /** The last run's id when there are older ones (the "Older →" cursor). */
  nextBefore: string | null;
}

export const RunRow: FC<{ run: RunJson; now: number }> = ({ run, now }) => (
  <tr data-run-id={run.id}>
    <td class="mono"><a href={`/ui/runs/${run.id}`}>{run.id}</a></td>
    <td>{run.workflow}</td>
    <td><StatusBadge status={run.status} /></td>
    <td class="waits-cell">{run.waiting_for === null ? <span class="muted">—</span> : <WaitList waits={run.waiting_for} now={now} />}</td>
    <td class="time">{formatTime(Date.parse(run.created_at))}</td>
    <td class="time">{formatTime(Date.parse(run.updated_at))}</td>
  </tr>
);

/** Workflow runs, newest first, filtered by workflow and status, 50 a page (the task list's cursor). */
export const RunsPage: FC<{ page: PageContext; values: RunFilterValues; workflows: string[]; listing: RunsListing }> = ({ page, values, workflows, listing }) => (
  <Layout title="Runs" section="runs" page={page}>
    <h1>Runs</h1>
    <form class="filters card" method="get" action="/ui/runs" id="filters">
      <label>
        workflow
        <select name="workflow">
          <option value="">any</option>
          {workflows.map((name) => (
            <option value={name} selected={values.workflow === name}>{name}</option>
          ))}
        </select>
      </label>
      <StatusFilter value={values.status} />
      <button class="primary" type="submit">Filter</button>
      <a class="button" href="/ui/runs">Clear</a>
    </form>
    <section class="card" id="run-list">
      {listing.runs.length === 0 ? (
        <p class="muted">No runs match.</p>
      ) : (
        <div class="table-scroll">
          <table>
            <thead>
              <tr><th>id</th><th>workflow</th><th>status</th><th>waits for</th><th>created</th><th>updated</th></tr>
            </thead>
            <tbody>{listing.runs.map((run) => <RunRow run={run} now={page.now} />)}</tbody>
          </table>
        </div>
      )}
      <p class="note">A pending run is waiting for what “waits for” says, holding no worker; one with nothing there is due and waits for a worker.</p>
    </section>
    <div class="pager">
      <span class="muted">{formatCount(listing.runs.length)} shown, newest first</span>
      <span>
        {values.before !== '' ? <a class="button" href={`/ui/runs${runFilterQuery(values)}`}>Newest</a> : null}{' '}
        {listing.nextBefore ? <a class="button" id="older" href={`/ui/runs${runFilterQuery(values, listing.nextBefore)}`}>Older →</a> : null}
      </span>
    </div>
  </Layout>
);
