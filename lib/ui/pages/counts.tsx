/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import { COUNT_CAP } from '../../tasks/insights.ts';
import type { TaskStatus } from '../../tasks/states.ts';
import { formatCount } from '../format.ts';

/**
 * One count of the Types or Workflows page, a link to what it counts; "n+" when its status's
 * sample was full (lib/tasks/insights.ts `typeCounts`: a lower bound past COUNT_CAP).
 */
export const CountCell: FC<{ n: number; capped: boolean; status: TaskStatus; href: string }> = ({ n, capped, status, href }) => (
  <td class="num" data-status={status}>
    {n === 0 && !capped ? <span class="muted">0</span> : <a href={href}>{formatCount(n)}{capped ? '+' : ''}</a>}
  </td>
);

/** Said under a table with a "+" in it. */
export const CappedNote: FC<{ capped: Record<TaskStatus, boolean> }> = ({ capped }) =>
  Object.values(capped).some(Boolean) ? (
    <p class="note" id="capped-note">
      Each status is counted over {formatCount(COUNT_CAP)} of its tasks (the oldest pending and running, the newest finished), so this page stays fast on large
      tables: a “+” count is at least that many. The task list pages through all of them.
    </p>
  ) : null;
