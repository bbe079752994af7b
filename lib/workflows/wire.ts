import type { ExecutionEnd, Need, StepRecord } from './protocol.ts';

/**
 * The wire format between the engine and a workflow served by the user's own app
 * (`serve()` from `task-pool/workflow`): one signed POST per advance, one signed JSON answer.
 * docs/workflow-protocol.md is the reader's version of this file, written so that an SDK in
 * another language can be built from it alone.
 *
 * The records travel as protocol.ts defines them (plain data, the same field names): the SDK
 * replays them with the same executor as in process (executor.ts), so a workflow behaves the
 * same whether it runs in the engine's process or in the app. Nothing here may import beyond
 * protocol.ts: the SDK bundle must stay small and depend on Web APIs only.
 */

/** Bumped on any change an older SDK or engine could misread. */
export const WIRE_VERSION = 1;

/** Sent on every advance and answer beside the Standard Webhooks headers. */
export const WIRE_VERSION_HEADER = 'task-pool-workflow-protocol';

/** What the engine sends the app for one advance of a run. */
export interface AdvanceRequest {
  protocol: typeof WIRE_VERSION;
  run: {
    /** The run's id as the API shows it; with a step's name, the idempotency key of outside calls. */
    id: string;
    workflow: string;
    input: unknown;
    /** The run's attempt (a crash mid-step counts; a suspension or an unreachable app does not). */
    attempt: number;
    createdAt: number;
    /** Events with ids up to this one were sent before the run existed: no wait takes them. */
    eventMark: number;
  };
  /** The engine's clock when it sent this (ms since the epoch): the SDK measures sleeps from it. */
  now: number;
  /** What a step gets when it does not say (retries, backoff) and the run's limits. */
  settings: {
    maxStepBytes: number;
    maxSteps: number;
    defaultRetries: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
  };
  /**
   * Every record of the run (the SDK keeps nothing between requests: serverless apps cannot).
   * Waits whose event arrived, waits and sleeps past their time and invokes whose child ended
   * are settled by the engine before it sends, so the SDK never needs the database.
   */
  steps: StepRecord[];
}

/** A child run the app's code asked for (`ctx.invoke`): the engine starts it and records the step. */
export interface ChildRequest {
  step: string;
  workflow: string;
  input: unknown;
}

/**
 * What the app answers (200, JSON, signed with the same secret; `webhook-id` repeats the
 * request's). `records` are new or changed records to commit, in order, before anything else
 * happens; `children` are child runs to start; `end` says what the engine does next:
 *
 *   completed / failed → the run ends so (failed carries `workflow_changed` or
 *                        `too_many_steps` when that is why)
 *   suspended          → the run waits for `needs` (an invoke need's childRunId is 0 when the
 *                        child is one of `children`: the engine fills it in)
 *   continue           → steps ran and were recorded; more can run now: advance again at once
 */
export interface AdvanceAnswer {
  protocol: typeof WIRE_VERSION;
  records: StepRecord[];
  children: ChildRequest[];
  end: ExecutionEnd | { kind: 'continue' };
}

export type { ExecutionEnd, Need, StepRecord };
