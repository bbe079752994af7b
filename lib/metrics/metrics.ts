/**
 * What task-pool reports about itself, as method calls: the core (lib/tasks/service.ts,
 * lib/processing/process-task.ts, the request middleware in lib/api/app.ts, lib/workflows/)
 * calls these at the moments worth counting, and knows nothing of how they are kept. local/metrics.ts
 * implements them with prom-client for `GET /metrics`; everywhere else NO_METRICS drops them.
 *
 * Calls sit on the hot path (one per submit, one per finished attempt, one per request), so
 * an implementation must only bump in-memory numbers: no I/O, no awaiting.
 */

/** How one attempt ended, as processTask reports it (lib/processing/outcome.ts's Outcome). */
export type AttemptOutcome = 'completed' | 'retried' | 'suspended' | 'failed' | 'cancelled' | 'released' | 'lost';

export interface AttemptReport {
  type: string;
  outcome: AttemptOutcome;
  /** Handler start → handler end (returned, threw or stopped). */
  handlerSeconds: number;
  /**
   * created_at → started_at, on the first attempt only; null for later attempts, whose wait
   * includes the deliberate retry backoff and would hide queueing delay behind it.
   */
  queueWaitSeconds: number | null;
}

/** How a workflow run ended (lib/workflows/). */
export type RunOutcome = 'completed' | 'failed' | 'cancelled';

export interface Metrics {
  /** Tasks newly committed by a submit or as follow-ups (an Idempotency-Key replay is not new). */
  tasksSubmitted(type: string, count: number): void;
  /** One attempt ran to its end and its outcome was written (or found lost). */
  attemptFinished(report: AttemptReport): void;
  /** A cancel through the API moved a task to `cancelled`. */
  taskCancelled(type: string): void;
  /** A retry through the API moved a failed or cancelled task back to `pending`. */
  taskRetried(type: string): void;
  /** An HTTP request was answered; `route` is the matched pattern (`/tasks/:id`), never the raw path. */
  httpRequest(method: string, route: string, status: number, seconds: number): void;
  /**
   * A workflow run was created: POST /workflows/:name/runs (not a replay) or a child run
   * started by `invoke`. `workflow` is a registered name, so the label set is bounded.
   */
  runStarted(workflow: string): void;
  /** A workflow run reached a final status (its task's final write committed, or a cancel). */
  runFinished(workflow: string, outcome: RunOutcome): void;
  /**
   * A step's final record (completed or failed) was committed; `kind` is step, sleep, wait or
   * invoke, `seconds` from its start to its end.
   */
  stepFinished(workflow: string, kind: string, seconds: number): void;
}

/** The default: every report dropped. */
export const NO_METRICS: Metrics = {
  tasksSubmitted() {},
  attemptFinished() {},
  taskCancelled() {},
  taskRetried() {},
  httpRequest() {},
  runStarted() {},
  runFinished() {},
  stepFinished() {},
};
