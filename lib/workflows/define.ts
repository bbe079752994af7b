import { parseDuration } from '../config/parsers.ts';
import type { Logger } from '../foundation/log.ts';

/**
 * A workflow: a named async function `(ctx, input) => output` whose steps are recorded once
 * (docs/workflows.md). `defineWorkflow` only describes it; the engine (engine.ts) runs it
 * as a task of type `workflow:<name>`. A handlers module exports an array of these as
 * `workflows`, beside `handlers`.
 */

/** Seconds, or a string with a unit: `'500ms'`, `'30s'`, `'5m'`, `'2h'`, `'7d'`. */
export type Duration = number | string;

export interface StepOptions {
  /** Retries after the first attempt (default: the workflow's, then TASK_MAX_ATTEMPTS − 1). */
  retries?: number;
  /** The step's own time limit; past it the attempt fails like a throw (its signal aborts). */
  timeout?: Duration;
}

export interface WaitOptions {
  event: string;
  /** Only events sent with this key (an order id, a user id); none matches events without one. */
  key?: string;
  /** How long to wait; then the wait returns null. */
  timeout: Duration;
}

export interface StepContext {
  /** Aborts when the run is cancelled, the step times out, or the process shuts down. */
  signal: AbortSignal;
  /** 1 on the step's first attempt, 2 on its first retry, … */
  attempt: number;
}

export interface WorkflowContext {
  /** The run's id: with a step's name, an idempotency key for calls to the outside. */
  readonly runId: string;
  readonly attempt: number;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** How far the run is, as the run's task shows it (`progress`): as a handler's `progress` (lib/processing/handlers.ts). */
  progress(value: unknown): void;
  step<T>(name: string, fn: (ctx: StepContext) => T | Promise<T>, options?: StepOptions): Promise<T>;
  sleep(name: string, duration: Duration | Date): Promise<void>;
  waitForEvent<T = unknown>(name: string, options: WaitOptions): Promise<T | null>;
  invoke<T = unknown>(name: string, workflow: Workflow | string, input?: unknown): Promise<T>;
}

export type WorkflowFunction<I = any, O = unknown> = (ctx: WorkflowContext, input: I) => Promise<O>;

export interface WorkflowOptions {
  /** Default retries of its steps (after the first attempt). */
  retries?: number;
}

const WORKFLOW = Symbol.for('task-pool.Workflow');

export interface Workflow<I = any, O = unknown> {
  readonly [WORKFLOW]: true;
  readonly name: string;
  readonly fn: WorkflowFunction<I, O>;
  readonly options: WorkflowOptions;
}

/** Workflow names are part of a task type (`workflow:<name>`) and of URLs. */
export const workflowNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,90}$/;

export function defineWorkflow<I = any, O = unknown>(name: string, fn: WorkflowFunction<I, O>, options: WorkflowOptions = {}): Workflow<I, O> {
  if (!workflowNamePattern.test(name)) throw new Error(`invalid workflow name ${JSON.stringify(name)}: letters, digits, '.', '_' and '-', at most 91`);
  if (typeof fn !== 'function') throw new Error(`workflow ${name}: the function is missing`);
  if (options.retries !== undefined && (!Number.isInteger(options.retries) || options.retries < 0)) {
    throw new Error(`workflow ${name}: retries must be a whole number ≥ 0`);
  }
  return { [WORKFLOW]: true, name, fn, options };
}

/** Recognised by a brand: a user's module may load its own copy of this file (STYLE.md, rule 19). */
export function isWorkflow(value: unknown): value is Workflow {
  return typeof value === 'object' && value !== null && (value as { [WORKFLOW]?: unknown })[WORKFLOW] === true;
}

export const RUN_TYPE_PREFIX = 'workflow:';
export const runType = (workflow: string): string => `${RUN_TYPE_PREFIX}${workflow}`;
export const workflowOfType = (type: string): string | null => (type.startsWith(RUN_TYPE_PREFIX) ? type.slice(RUN_TYPE_PREFIX.length) : null);

/**
 * A child run's idempotency key: the parent's id and the invoking step's name make the child
 * exist once, however often the parent replays. It also names the parent (the dashboard's
 * link up), though a client may submit any key: WorkflowService.parentOf checks the parent's
 * step record before believing it.
 */
export const childRunKey = (parentRunId: string, step: string): string => `run:${parentRunId}:${step}`;

/** The parent's id and step a child run key names, or null for any other key. */
export function parseChildRunKey(key: string): { parentRunId: string; step: string } | null {
  const match = /^run:(\d{16}):(.+)$/s.exec(key);
  return match ? { parentRunId: match[1]!, step: match[2]! } : null;
}

/** A duration in milliseconds; throws a plain message naming what was wrong. */
export function durationMs(value: Duration, what: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`${what}: a duration must be a number of seconds ≥ 0`);
    return Math.round(value * 1000);
  }
  const ms = parseDuration(value);
  if (ms === null) throw new Error(`${what}: ${JSON.stringify(value)} is not a duration like '500ms', '30s', '5m', '2h' or '7d'`);
  return ms;
}
