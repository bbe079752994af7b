/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { RunDetailJson, StepJson } from '../../workflows/service.ts';
import { TIMELINE_STEPS } from '../assets.ts';
import { formatClock, formatDuration, formatTime, relative } from '../format.ts';
import { JsonBlock } from './json.tsx';
import { StatusBadge } from './layout.tsx';

/**
 * A run's steps on one time axis, from the run's creation to its end (or now while it goes
 * on): each step a bar from its started_at to its completed_at, or to now while it waits.
 * Plain CSS: a bar's left edge and width are classes in steps of 0.5% of the span
 * (assets.ts; the CSP allows no inline style), with a minimum width so a 3 ms step still
 * shows. Sleeps, waits for events and child runs are hatched: time the run spent waiting,
 * holding no worker. A step appears once it has a record: when it ended, failed, or began to
 * wait; the step running right now has none yet.
 */

export interface Axis {
  from: number;
  to: number;
  /** False while the run goes on: the axis ends now. */
  ended: boolean;
}

/** How a bar is drawn: `gap` a wait that is over, `waiting` one going on, `retry` a failed attempt's backoff. */
export type BarTone = 'done' | 'failed' | 'gap' | 'waiting' | 'retry';

export interface StepBar {
  /** Left edge and width in 1/TIMELINE_STEPS of the axis. */
  left: number;
  width: number;
  tone: BarTone;
  start: number;
  end: number;
  /** The step has not ended: the bar runs to now (or to the run's end). */
  open: boolean;
}

const ms = (iso: string | null): number | null => (iso === null ? null : Date.parse(iso));

export function runAxis(run: RunDetailJson, now: number): Axis {
  const from = Date.parse(run.created_at);
  const ended = ms(run.completed_at);
  let to = ended ?? now;
  for (const step of run.steps) to = Math.max(to, ms(step.completed_at) ?? ms(step.started_at)!);
  return { from, to: Math.max(to, from + 1), ended: ended !== null };
}

/** Where `start`→`end` sits on the axis, in whole steps, never past either end. */
export function position(start: number, end: number, axis: Axis): { left: number; width: number } {
  const span = axis.to - axis.from;
  const at = (t: number) => Math.min(TIMELINE_STEPS, Math.max(0, Math.round(((t - axis.from) / span) * TIMELINE_STEPS)));
  const left = at(start);
  return { left, width: Math.max(0, at(end) - left) };
}

export function stepBar(step: StepJson, axis: Axis): StepBar {
  const start = Date.parse(step.started_at);
  const completed = ms(step.completed_at);
  const end = completed ?? axis.to;
  const tone: BarTone =
    step.status === 'failed' ? 'failed'
    : step.status === 'retrying' ? 'retry'
    : step.status === 'waiting' ? 'waiting'
    : step.kind === 'step' ? 'done'
    : 'gap';
  return { ...position(start, end, axis), tone, start, end, open: completed === null };
}

const KIND: Record<StepJson['kind'], string> = { step: 'step', sleep: 'sleep', wait: 'wait for event', invoke: 'child run' };

const eventName = (step: StepJson) => `event ${step.event ?? '?'}${step.key === null ? '' : ` (key ${step.key})`}`;

/** What a step did or waits for, in words (the label under its name). */
export const StepWhat: FC<{ step: StepJson; now: number }> = ({ step, now }) => {
  const wake = ms(step.wake_at);
  const when = wake === null ? '?' : `${formatClock(wake, now)} (${relative(wake, now)})`;
  switch (step.kind) {
    case 'sleep':
      return <>{step.status === 'waiting' ? `sleeping until ${when}` : `slept until ${wake === null ? '?' : formatClock(wake, now)}`}</>;
    case 'wait':
      if (step.status === 'waiting') return <>waiting for {eventName(step)} until {when}</>;
      // A wait that timed out records a null output at or after its timeout; an event's payload may be null too.
      if (step.output === null && wake !== null && ms(step.completed_at)! >= wake) return <>timed out waiting for {eventName(step)}</>;
      return <>got {eventName(step)}</>;
    case 'invoke': {
      const child = step.child_run_id === null ? <span class="muted">(not started)</span> : <a class="mono" href={`/ui/runs/${step.child_run_id}`}>{step.child_run_id}</a>;
      const how = step.status === 'waiting' ? 'waiting for child run' : 'child run';
      const ended = step.status === 'completed' ? ' completed' : step.status === 'failed' ? ' failed' : '';
      return <>{how} {child}{ended}</>;
    }
    case 'step':
      if (step.status === 'retrying') return <>attempt {step.attempts} failed; retrying at {when}</>;
      if (step.status === 'failed') return <>failed after {step.attempts} {step.attempts === 1 ? 'attempt' : 'attempts'}</>;
      return null;
  }
};

const OUTPUT_LABEL: Record<StepJson['kind'], string> = { step: 'output', sleep: 'output', wait: 'event payload', invoke: "child run's output" };

export const StepRow: FC<{ step: StepJson; axis: Axis; now: number; runId: string }> = ({ step, axis, now, runId }) => {
  const bar = stepBar(step, axis);
  const duration = `${formatDuration(bar.end - bar.start)}${bar.open && !axis.ended ? ' so far' : ''}`;
  const attempts = step.kind === 'step' ? ` · ${step.attempts} ${step.attempts === 1 ? 'attempt' : 'attempts'}` : '';
  const showOutput = step.status === 'completed' && step.kind !== 'sleep' && !(step.kind === 'wait' && step.output === null);
  return (
    <li class="tl-row" data-step={step.name} data-kind={step.kind} data-status={step.status}>
      <div class="tl-label">
        <div>
          <span class="tl-name mono">{step.name}</span> <StatusBadge status={step.status} />
        </div>
        <div class="tl-meta">{KIND[step.kind]} · {duration}{attempts}</div>
        <div class="tl-what"><StepWhat step={step} now={now} /></div>
      </div>
      <div class="tl-track" title={`${step.name}: ${formatTime(bar.start, true)} → ${bar.open ? (axis.ended ? 'run ended' : 'now') : formatTime(bar.end, true)}`}>
        <span class={`tl-bar tl-${bar.tone} tl-l${bar.left} tl-w${bar.width}`}></span>
      </div>
      {step.error !== null || showOutput ? (
        <div class="tl-detail">
          {step.error !== null ? <pre class="step-error">{step.error}</pre> : null}
          {showOutput ? <JsonBlock value={step.output} line label={OUTPUT_LABEL[step.kind]} full={`GET /runs/${runId}`} /> : null}
        </div>
      ) : null}
    </li>
  );
};

export const StepTimeline: FC<{ run: RunDetailJson; now: number }> = ({ run, now }) => {
  const axis = runAxis(run, now);
  if (run.steps.length === 0) return <p class="muted">No step recorded yet.</p>;
  return (
    <div id="timeline">
      <div class="tl-axis" aria-hidden="true">
        <span></span>
        <div class="tl-ticks">
          <span>{formatTime(axis.from)}</span>
          <span>+{formatDuration((axis.to - axis.from) / 2)}</span>
          <span title={formatTime(axis.to, true)}>+{formatDuration(axis.to - axis.from)}{axis.ended ? '' : ' (now)'}</span>
        </div>
      </div>
      <ol class="timeline">
        {run.steps.map((step) => <StepRow step={step} axis={axis} now={now} runId={run.id} />)}
      </ol>
      <p class="legend">
        <span><i class="sw-ok"></i>step</span>
        <span><i class="sw-bad"></i>failed</span>
        <span><i class="sw-gap"></i>slept / waited</span>
        <span><i class="sw-waiting"></i>waiting now</span>
        <span><i class="sw-retry"></i>retry pending</span>
      </p>
    </div>
  );
};
