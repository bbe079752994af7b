/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { RunDetailJson, WaitingFor } from '../../workflows/service.ts';
import { formatClock, formatDuration, formatTime, relative } from '../format.ts';
import { JsonBlock } from './json.tsx';
import { CsrfField, Layout, StatusBadge, type PageContext } from './layout.tsx';
import { StepTimeline } from './timeline.tsx';
import { WaitList } from './waiting.tsx';

/** The run that started this one with `invoke` (WorkflowService.parentOf). */
export interface ParentRun {
  run_id: string;
  step: string;
}

const ms = (iso: string | null): number | null => (iso === null ? null : Date.parse(iso));

/** Where the run is, in words: the run's counterpart of the task page's "why". */
export const RunState: FC<{ run: RunDetailJson; now: number }> = ({ run, now }) => {
  const created = Date.parse(run.created_at);
  const completed = ms(run.completed_at);
  switch (run.status) {
    case 'pending': {
      if (run.waiting_for !== null) return <><strong>Waiting, holding no worker:</strong> <WaitList waits={run.waiting_for} now={now} /></>;
      const runAt = Date.parse(run.run_at);
      return runAt > now
        ? <strong>Waiting until {formatClock(runAt, now)} ({relative(runAt, now)}).</strong>
        : <strong>Due since {formatClock(runAt, now)} ({relative(runAt, now)}), waiting for a worker.</strong>;
    }
    case 'in_progress':
      return <><strong>Running</strong> (attempt {run.attempts}, started {formatClock(ms(run.started_at) ?? created, now)}): the code replays from the top, recorded steps return their records, and the next step runs.</>;
    case 'completed':
      return <strong>Completed {completed === null ? '' : formatTime(completed)}, {formatDuration((completed ?? now) - created)} after it was created.</strong>;
    case 'failed':
      return <><strong>Failed {completed === null ? '' : formatTime(completed)}.</strong> Retry resumes it where it stopped: its failed steps (and failed or cancelled child runs) run again, completed steps do not.</>;
    case 'cancelled':
      return <><strong>Cancelled {completed === null ? '' : formatTime(completed)}.</strong> Retry resumes it where it stopped.</>;
  }
};

/**
 * "Send this event": for a run waiting for an event, its name and key filled in and a JSON
 * payload to write. It goes to every run waiting for that event and key, like POST /events.
 */
export const SendEventForm: FC<{ page: PageContext; runId: string; wait: Extract<WaitingFor, { kind: 'event' }> }> = ({ page, runId, wait }) => (
  <form method="post" action={`/ui/runs/${runId}/event`} class="send-event" data-step={wait.step}>
    <CsrfField page={page} />
    <label>
      event
      <input name="event" value={wait.event} required maxlength={200} />
    </label>
    <label>
      key
      <input name="key" value={wait.key ?? ''} maxlength={200} placeholder="(none)" />
    </label>
    <label class="wide">
      payload (JSON)
      <textarea name="payload" rows={3}>null</textarea>
    </label>
    <div class="wide actions">
      <button type="submit" class="primary">Send event</button>
      <span class="note">Every run waiting for this event and key takes it.</span>
    </div>
  </form>
);

export const RunPage: FC<{ page: PageContext; run: RunDetailJson; parent: ParentRun | null; notice: string | null }> = ({ page, run, parent, notice }) => {
  const { now } = page;
  const canCancel = page.canAct && (run.status === 'pending' || run.status === 'in_progress');
  const canRetry = page.canAct && (run.status === 'failed' || run.status === 'cancelled');
  const eventWaits = (run.waiting_for ?? []).filter((w): w is Extract<WaitingFor, { kind: 'event' }> => w.kind === 'event');
  const children = run.steps.filter((s) => s.kind === 'invoke' && s.child_run_id !== null);
  return (
    <Layout title={`Run of ${run.workflow}`} section="runs" page={page}>
      <p class="muted">
        <a href="/ui/runs">Runs</a> / <a href={`/ui/runs?workflow=${encodeURIComponent(run.workflow)}`}>{run.workflow}</a> / <span class="mono">{run.id}</span>
      </p>
      <h1>
        {run.workflow} <StatusBadge status={run.status} />
      </h1>
      {notice ? <div class="notice" id="notice">{notice}</div> : null}
      <div class="why" id="why">
        <RunState run={run} now={now} />
        {run.error !== null && run.status === 'failed' ? <pre id="run-error" class="step-error">{run.error}</pre> : null}
        {page.canAct && run.status === 'pending' ? eventWaits.map((wait) => <SendEventForm page={page} runId={run.id} wait={wait} />) : null}
      </div>
      {parent || children.length > 0 ? (
        <p id="family">
          {parent ? (
            <>Child run of <a class="mono" id="parent-run" href={`/ui/runs/${parent.run_id}`}>{parent.run_id}</a> (its step <code>{parent.step}</code>). </>
          ) : null}
          {children.length > 0 ? (
            <>
              Child {children.length === 1 ? 'run' : 'runs'}:{' '}
              {children.map((s, i) => (
                <>{i > 0 ? ', ' : ''}<a class="mono" href={`/ui/runs/${s.child_run_id}`}>{s.child_run_id}</a> (<code>{s.name}</code>)</>
              ))}
              .
            </>
          ) : null}
        </p>
      ) : null}
      {canCancel || canRetry ? (
        <div class="actions">
          {canCancel ? (
            <form method="post" action={`/ui/runs/${run.id}/cancel`}>
              <CsrfField page={page} />
              <button type="submit" class="danger" id="cancel">Cancel run</button>
            </form>
          ) : null}
          {canRetry ? (
            <form method="post" action={`/ui/runs/${run.id}/retry`}>
              <CsrfField page={page} />
              <button type="submit" class="primary" id="retry">Retry run</button>
            </form>
          ) : null}
          {canCancel ? <span class="note">Cancelling also cancels its child runs that have not ended.</span> : null}
        </div>
      ) : null}
      <section class="card">
        <h2>Steps</h2>
        <StepTimeline run={run} now={now} />
      </section>
      <div class="cols">
        <section class="card">
          <h2>Run</h2>
          <dl class="fields" id="fields">
            <dt>id</dt><dd class="mono">{run.id}</dd>
            <dt>workflow</dt><dd>{run.workflow}</dd>
            <dt>status</dt><dd>{run.status}</dd>
            <dt>attempts</dt><dd>{run.attempts}</dd>
            <dt>created_at</dt><dd class="mono">{run.created_at}</dd>
            <dt>started_at</dt><dd class="mono">{run.started_at ?? '—'}</dd>
            <dt>completed_at</dt><dd class="mono">{run.completed_at ?? '—'}</dd>
            <dt>updated_at</dt><dd class="mono">{run.updated_at}</dd>
            <dt>run_at</dt><dd class="mono">{run.run_at}</dd>
            {run.error !== null && run.status !== 'failed' ? (
              <>
                <dt>last error</dt><dd class="mono">{run.error}</dd>
              </>
            ) : null}
          </dl>
          <p class="note">A run is a task: <a href={`/ui/tasks/${run.id}`}>its task page</a> shows its lease and claim order.</p>
        </section>
        <div>
          <section class="card">
            <h2>Input</h2>
            <JsonBlock value={run.input} id="input" full={`GET /runs/${run.id}`} />
          </section>
          <section class="card">
            <h2>Output</h2>
            <JsonBlock value={run.output} id="output" full={`GET /runs/${run.id}`} />
          </section>
        </div>
      </div>
    </Layout>
  );
};
