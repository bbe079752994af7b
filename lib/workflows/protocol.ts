/**
 * The step protocol: plain data between the engine (engine.ts, which keeps the records) and
 * whatever runs the workflow's code: the in-process executor here (executor.ts), or the
 * user's own app over HTTP later (the same records, another transport). Nothing in these
 * types is a function or a class: they serialise as JSON as they are.
 *
 * A run's steps are records keyed by name. The code, replayed from the top on every
 * execution, gets each recorded result back instead of running the step again; the first
 * step not yet recorded runs, and its record is committed before any later step starts.
 */

export const STEP_KINDS = ['step', 'sleep', 'wait', 'invoke'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/**
 * - `completed`: done; `output` holds its JSON result (a sleep's is null; a wait's is the
 *   event's payload, or null when it timed out).
 * - `failed`: a step out of retries (or a child run that failed): `error` is thrown into the
 *   code at its `await` on every replay.
 * - `waiting`: a sleep, a wait or a child run not over yet; `wakeAt` is when the sleep ends or
 *   the wait times out.
 * - `retrying`: a step that failed with retries left; it runs again at `wakeAt`.
 */
export const STEP_STATUSES = ['completed', 'failed', 'waiting', 'retrying'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export interface StepRecord {
  name: string;
  kind: StepKind;
  status: StepStatus;
  attempts: number;
  /** JSON text of the result. */
  output: string | null;
  error: string | null;
  startedAt: number;
  completedAt: number | null;
  wakeAt: number | null;
  event: string | null;
  eventKey: string | null;
  /** The event a completed wait took: a later wait for the same event and key takes a newer one. */
  eventId: number | null;
  childRunId: number | null;
}

/** What an execution is handed: the run and everything recorded for it so far. */
export interface RunSnapshot {
  runId: number;
  workflow: string;
  input: unknown;
  /** The run's attempt (a crash mid-step counts; a suspension does not). */
  attempt: number;
  createdAt: number;
  /** Events with ids up to this one were sent before the run existed: no wait takes them. */
  eventMark: number;
  steps: StepRecord[];
}

/** Why a run cannot go on now: each a time to look again and, for events and children, a condition. */
export type Need =
  | { kind: 'sleep'; name: string; until: number }
  | { kind: 'retry'; name: string; at: number }
  | { kind: 'wait'; name: string; event: string; key: string | null; timeoutAt: number; afterEventId: number }
  | { kind: 'invoke'; name: string; childRunId: number };

/** How an execution ended. */
export type ExecutionEnd =
  | { kind: 'completed'; output: unknown }
  | { kind: 'failed'; error: string; code?: 'workflow_changed' | 'too_many_steps' }
  | { kind: 'suspended'; needs: Need[] };
