/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import { FAILED_SAMPLE, type FailedGroup } from '../../tasks/insights.ts';
import { formatCount, formatTime } from '../format.ts';
import { BulkNoticeBox, type BulkNotice } from './tasks.tsx';
import { CsrfField, Layout, type PageContext } from './layout.tsx';

/** The dead-letter view: failed tasks grouped by type and error, each group retryable. */
export const FailedPage: FC<{ page: PageContext; groups: FailedGroup[]; sampled: number; notice: BulkNotice | null }> = ({ page, groups, sampled, notice }) => (
  <Layout title="Failed" section="failed" page={page}>
    <h1>Failed tasks</h1>
    <BulkNoticeBox notice={notice} />
    <p class="note">
      Tasks that failed for good, grouped by type and last error, over the newest {formatCount(FAILED_SAMPLE)} failures ({formatCount(sampled)} here).
      Retrying a group retries every failed task of that type with that error.
    </p>
    <section class="card">
      {groups.length === 0 ? (
        <p class="muted">No failed tasks.</p>
      ) : (
        <div class="table-scroll">
        <table id="failed-groups">
          <thead>
            <tr><th>type</th><th>error</th><th class="num">tasks</th><th>newest</th><th></th></tr>
          </thead>
          <tbody>
            {groups.map((g) => (
              <tr data-type={g.type}>
                <td>{g.type}</td>
                <td><div class="truncate mono" title={g.lastError ?? ''}>{g.lastError ?? <span class="muted">(no error recorded)</span>}</div></td>
                <td class="num">{formatCount(g.count)}</td>
                <td class="time">{formatTime(g.newestAt)}</td>
                <td>
                  <div class="actions">
                    <a href={`/ui/tasks?status=failed&type=${encodeURIComponent(g.type)}${g.lastError === null ? '' : `&error=${encodeURIComponent(g.lastError)}`}`}>tasks</a>
                    {page.canAct ? (
                      <form method="post" action="/ui/failed/retry">
                        <CsrfField page={page} />
                        <input type="hidden" name="type" value={g.type} />
                        {g.lastError === null ? <input type="hidden" name="no_error" value="1" /> : <input type="hidden" name="error" value={g.lastError} />}
                        <button type="submit" class="primary">Retry group…</button>
                      </form>
                    ) : null}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
    </section>
  </Layout>
);
