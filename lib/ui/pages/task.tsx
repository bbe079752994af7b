/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import { formatTaskId } from '../../tasks/ids.ts';
import type { Attempt, AttemptOutcome } from '../../tasks/attempts.ts';
import { taskToJson, type Task } from '../../tasks/model.ts';
import { formatCount, formatDuration, formatTime, prettyJson, relative } from '../format.ts';
import { CsrfField, Layout, StatusBadge, type PageContext } from './layout.tsx';

/** Why the task is where it is, in words: the "why is it stuck" answer. */
export interface Diagnosis {
  headline: string;
  detail: string;
  /** Set when what holds the task is its paused type: the page offers to resume it. */
  pausedType?: string;
}

/**
 * `ahead`: due pending tasks the claim takes before this one (capped; `aheadCapped`).
 * `pausedAt`: when the task's type was paused, or null: no claim takes a paused type's tasks
 * (pending, or running with an expired lease), so that is the answer, not busy workers.
 * `heldBack`: the task's `held_back` (its flow key is at a limit: lib/flow-control/held-back.ts), or null.
 */
export function diagnose(task: Task, now: number, ahead: number | null, aheadCapped: boolean, pausedAt: number | null = null, heldBack: string | null = null): Diagnosis {
  const waitsForClaim = task.status === 'pending' || (task.status === 'in_progress' && (task.leaseExpiresAt === null || task.leaseExpiresAt <= now) && task.attempts < task.maxAttempts);
  if (pausedAt !== null && waitsForClaim) {
    const then = task.status === 'pending' && task.runAt > now ? ` Once resumed, it still waits for its run_at, ${formatTime(task.runAt)} (${relative(task.runAt, now)}).` : '';
    return {
      headline: `Not claimed: its type “${task.type}” is paused (since ${formatTime(pausedAt)}, ${relative(pausedAt, now)}).`,
      detail: `No worker, in any process or function, claims a task of a paused type; new tasks of the type are still accepted. Resuming the type lets the next poll claim it.${then}`,
      pausedType: task.type,
    };
  }
  const stopping = previousAttempt(task, now);
  switch (task.status) {
    case 'pending':
      if (stopping && task.runAt <= task.leaseExpiresAt!) {
        return {
          headline: `Waiting for its previous attempt to stop, until ${formatTime(task.leaseExpiresAt)} at the latest (${relative(task.leaseExpiresAt, now)}).`,
          detail: `${stopping} A task never runs twice at once: it is due as soon as that worker reports the handler stopped, or when the lease runs out.`,
        };
      }
      if (task.runAt > now) {
        return {
          headline: `Waiting until ${formatTime(task.runAt)} (${relative(task.runAt, now)}).`,
          detail: task.attempts > 0
            ? `Attempt ${task.attempts} of ${task.maxAttempts} failed${task.lastError ? ` (“${task.lastError.slice(0, 160)}”)` : ''}; the next attempt waits for its backoff.`
            : 'It was submitted with a delay or a run_at in the future; no worker will claim it before then.',
        };
      }
      if (heldBack !== null) {
        return {
          headline: `Held back by flow control: ${heldBack}.`,
          detail: `Due since ${formatTime(task.runAt)} (${relative(task.runAt, now)}). Its flow key is at its limit in every process sharing this database; the next claim after a task of the key ends (or a start leaves the rate's period) can take it. Keys take turns, so it waits for its key, not for other keys' backlogs.`,
        };
      }
      return {
        headline: `Due since ${formatTime(task.runAt)} (${relative(task.runAt, now)}), waiting for a worker.`,
        detail: `${ahead === null ? 'Some' : `${formatCount(ahead)}${aheadCapped ? '+' : ''}`} due ${ahead === 1 ? 'task comes' : 'tasks come'} before it in claim order (higher priority first, then earlier run_at). It is claimed when a worker has room: if it waits long, workers are busy or no worker process is polling this database.`,
      };
    case 'in_progress': {
      const lease = task.leaseExpiresAt;
      if (lease !== null && lease > now) {
        return {
          headline: `Running: ${task.lockedBy ?? 'a worker'} holds the lease until ${formatTime(lease)} (${relative(lease, now)}).`,
          detail: `Attempt ${task.attempts} of ${task.maxAttempts}, started ${formatTime(task.startedAt)} (${relative(task.startedAt, now)}). A running handler renews the lease (heartbeat); if that process dies, the lease runs out and another poll claims the task again.`,
        };
      }
      return {
        headline: `The lease held by ${task.lockedBy ?? 'a worker'} expired ${relative(lease, now)}: that worker stopped renewing it (it died or stalled).`,
        detail: task.attempts < task.maxAttempts
          ? 'The next poll of any worker claims it again (a new attempt).'
          : 'It was on its last attempt, so the next poll marks it failed instead of running it again.',
      };
    }
    case 'completed':
      return { headline: `Completed ${formatTime(task.completedAt)} after ${task.attempts} ${task.attempts === 1 ? 'attempt' : 'attempts'}.`, detail: `The last attempt ran ${formatDuration(task.completedAt !== null && task.startedAt !== null ? task.completedAt - task.startedAt : null)}.` };
    case 'failed':
      return { headline: `Failed for good ${formatTime(task.completedAt)} after ${task.attempts} of ${task.maxAttempts} attempts.`, detail: `Retry runs it again from attempt 1.${stopping ? ` ${stopping} The retry waits for it.` : ''}` };
    case 'cancelled':
      return { headline: `Cancelled ${formatTime(task.completedAt)}.`, detail: `Retry runs it again from attempt 1.${stopping ? ` ${stopping} The retry waits for it.` : ''}` };
  }
}

/** The type's resume: a button (it changes every task of the type), or in read-only mode how to do it. */
const ResumeType: FC<{ type: string; taskId: string; page: PageContext }> = ({ type, taskId, page }) =>
  page.canAct ? (
    <form method="post" action="/ui/types/resume" class="actions">
      <CsrfField page={page} />
      <input type="hidden" name="type" value={type} />
      <input type="hidden" name="task" value={taskId} />
      <button type="submit" class="primary" id="resume-type">Resume type “{type}”</button>
    </form>
  ) : (
    <p class="note">
      The dashboard is read-only: resume the type with <code>POST /types/{encodeURIComponent(type)}/resume</code>.
    </p>
  );

/**
 * A task out of in_progress that still carries a lease: its last attempt's handler was asked
 * to stop and its worker has not reported it returned (lib/tasks/service.ts, heldLease).
 */
function previousAttempt(task: Task, now: number): string | null {
  const lease = task.leaseExpiresAt;
  if (task.status === 'in_progress' || lease === null || lease <= now) return null;
  return `The handler of its previous attempt, on ${task.lockedBy ?? 'a worker'}, was asked to stop and may still be running, until ${formatTime(lease)} at the latest.`;
}

/** A bar for a number 0–100 or `{done, total}`; null for any other value (shown as JSON). */
export function progressBar(value: unknown): { percent: number; label: string } | null {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 100) return { percent: value, label: `${value}%` };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const { done, total } = value as { done?: unknown; total?: unknown };
  if (typeof done !== 'number' || typeof total !== 'number' || !(total > 0) || !(done >= 0) || done > total) return null;
  return { percent: (done / total) * 100, label: `${formatCount(done)} of ${formatCount(total)}` };
}

const ProgressCard: FC<{ value: unknown }> = ({ value }) => {
  const bar = progressBar(value);
  return (
    <section class="card">
      <h2>Progress</h2>
      {value === null ? (
        <p class="muted" id="progress">None reported (a handler reports it with <code>ctx.progress(value)</code>).</p>
      ) : bar ? (
        <div id="progress" class="progress">
          <progress max="100" value={String(Math.round(bar.percent * 10) / 10)} id="progress-bar" /> <span id="progress-label">{bar.label}</span>
        </div>
      ) : (
        <pre id="progress">{prettyJson(value)}</pre>
      )}
    </section>
  );
};

const OUTCOME_CLASS: Record<AttemptOutcome, string> = {
  running: 's-in_progress',
  completed: 's-completed',
  failed: 's-failed',
  lease_expired: 's-failed',
  retried: 's-retrying',
  timed_out: 's-retrying',
  cancelled: 's-cancelled',
  released: 's-pending',
};

/** Every attempt kept (GET /tasks/:id/attempts), oldest first. */
const AttemptsCard: FC<{ task: Task; attempts: Attempt[]; now: number }> = ({ task, attempts, now }) => (
  <section class="card">
    <h2>Attempts</h2>
    <p>
      {task.attempts} of {task.maxAttempts} used.
    </p>
    {attempts.length === 0 ? (
      <p class="muted" id="attempts">None yet.</p>
    ) : (
      <div class="table-scroll">
        <table id="attempts">
          <thead>
            <tr><th class="num">#</th><th>outcome</th><th>worker</th><th>started</th><th class="num">took</th></tr>
          </thead>
          <tbody>
            {attempts.map((attempt) => (
              <>
                <tr data-attempt={String(attempt.attempt)} data-outcome={attempt.outcome}>
                  <td class="num">{attempt.attempt}</td>
                  <td><span class={`status ${OUTCOME_CLASS[attempt.outcome]}`}>{attempt.outcome}</span></td>
                  <td class="mono">{attempt.worker ?? '—'}</td>
                  <td class="time mono">{formatTime(attempt.startedAt)}</td>
                  <td class="num">{formatDuration(attempt.startedAt === null ? null : (attempt.endedAt ?? now) - attempt.startedAt)}</td>
                </tr>
                {attempt.error !== null ? (
                  <tr class="attempt-error">
                    <td></td>
                    <td colspan={4}><pre>{attempt.error}</pre></td>
                  </tr>
                ) : null}
              </>
            ))}
          </tbody>
        </table>
      </div>
    )}
    <p class="note">The newest attempts that did not complete are kept (TASK_ATTEMPTS_KEPT); the running or completed one is the task's own.</p>
  </section>
);

/** `runId`: the task is a workflow run (type `workflow:<name>`); its run page shows the steps. */
export const TaskPage: FC<{ page: PageContext; task: Task; attempts: Attempt[]; diagnosis: Diagnosis; notice: string | null; runId?: string | null; heldBack?: string | null }> = ({ page, task, attempts, diagnosis, notice, runId, heldBack = null }) => {
  const json = taskToJson(task, heldBack) as Record<string, unknown>;
  const canCancel = page.canAct && (task.status === 'pending' || task.status === 'in_progress');
  const canRetry = page.canAct && (task.status === 'failed' || task.status === 'cancelled');
  return (
    <Layout title={task.title} section="tasks" page={page}>
      <p class="muted"><a href="/ui/tasks">Tasks</a> / <span class="mono">{formatTaskId(task.id)}</span></p>
      <h1>
        {task.title} <StatusBadge status={task.status} />
      </h1>
      {notice ? <div class="notice" id="notice">{notice}</div> : null}
      {runId ? (
        <p id="run-link">
          This task is a workflow run (<code>{task.type}</code>): <a href={`/ui/runs/${runId}`}>its steps, what it waits for, and its actions →</a>
        </p>
      ) : null}
      <div class="why" id="why">
        <strong>{diagnosis.headline}</strong>
        <div>{diagnosis.detail}</div>
        {diagnosis.pausedType !== undefined ? <ResumeType type={diagnosis.pausedType} taskId={formatTaskId(task.id)} page={page} /> : null}
      </div>
      {canCancel || canRetry ? (
        <div class="actions">
          {canCancel ? (
            <form method="post" action={`/ui/tasks/${formatTaskId(task.id)}/cancel`}>
              <CsrfField page={page} />
              <button type="submit" class="danger" id="cancel">Cancel task</button>
            </form>
          ) : null}
          {canRetry ? (
            <form method="post" action={`/ui/tasks/${formatTaskId(task.id)}/retry`}>
              <CsrfField page={page} />
              <button type="submit" class="primary" id="retry">Retry task</button>
            </form>
          ) : null}
        </div>
      ) : null}
      <div class="cols">
        <section class="card">
          <h2>Fields</h2>
          <dl class="fields" id="fields">
            {Object.entries(json)
              .filter(([name]) => name !== 'payload' && name !== 'result' && name !== 'last_error' && name !== 'progress')
              .map(([name, value]) => (
                <>
                  <dt>{name}</dt>
                  <dd class={typeof value === 'string' && name.endsWith('_at') ? 'mono' : undefined} data-field={name}>
                    {value === null ? <span class="muted">null</span> : String(value)}
                  </dd>
                </>
              ))}
          </dl>
        </section>
        <div>
          <ProgressCard value={json.progress} />
          <AttemptsCard task={task} attempts={attempts} now={page.now} />
          <section class="card">
            <h2>Last error</h2>
            {task.lastError === null ? <p class="muted">None.</p> : <pre id="last-error">{task.lastError}</pre>}
          </section>
          <section class="card">
            <h2>Payload</h2>
            <pre id="payload">{prettyJson(json.payload)}</pre>
          </section>
          <section class="card">
            <h2>Result</h2>
            <pre id="result">{prettyJson(json.result)}</pre>
          </section>
        </div>
      </div>
    </Layout>
  );
};
