/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { WaitingFor } from '../../workflows/service.ts';
import { formatClock, relative } from '../format.ts';

const ERROR_CHARS = 160;

const at = (iso: string, now: number): string => {
  const ms = Date.parse(iso);
  return `${formatClock(ms, now)} (${relative(ms, now)})`;
};

/**
 * One thing a run waits for (an entry of its `waiting_for`) in words: "sleeping until
 * 14:05:03Z (in 4 min 2 s)", "waiting for event email.verified (key a@b) until …", "waiting
 * for child run 0247…", "retrying step charge at … (attempt 1 failed: …)".
 */
export function waitText(wait: WaitingFor, now: number): string {
  switch (wait.kind) {
    case 'sleep':
      return `sleeping until ${at(wait.until, now)}`;
    case 'event':
      return `waiting for event ${wait.event}${wait.key === null ? '' : ` (key ${wait.key})`} until ${at(wait.timeout_at, now)}`;
    case 'child':
      return `waiting for child run ${wait.run_id}`;
    case 'retry': {
      const error = wait.error === null ? '' : `: ${wait.error.length > ERROR_CHARS ? `${wait.error.slice(0, ERROR_CHARS)}…` : wait.error}`;
      return `retrying step ${wait.step} at ${at(wait.at, now)} (attempt ${wait.attempts} failed${error})`;
    }
  }
}

/** `waitText`, with the child run as a link. */
export const WaitDescription: FC<{ wait: WaitingFor; now: number }> = ({ wait, now }) =>
  wait.kind === 'child' ? (
    <>waiting for child run <a class="mono" href={`/ui/runs/${wait.run_id}`}>{wait.run_id}</a></>
  ) : (
    <>{waitText(wait, now)}</>
  );

/** Everything a run waits for: one line each (a run awaiting several things at once has several). */
export const WaitList: FC<{ waits: WaitingFor[] | null; now: number }> = ({ waits, now }) =>
  waits === null || waits.length === 0 ? null : waits.length === 1 ? (
    <WaitDescription wait={waits[0]!} now={now} />
  ) : (
    <ul class="waits">
      {waits.map((wait) => <li><WaitDescription wait={wait} now={now} /></li>)}
    </ul>
  );
