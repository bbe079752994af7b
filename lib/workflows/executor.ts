import type { Logger } from '../foundation/log.ts';
import { failureSteer } from '../processing/task-failure.ts';
import { durationMs, type Duration, type StepContext, type StepOptions, type WaitOptions, type Workflow, type WorkflowContext } from './define.ts';
import type { ExecutionEnd, Need, RunSnapshot, StepKind, StepRecord } from './protocol.ts';

/**
 * Runs a workflow's code in this process against its records (protocol.ts), from the top:
 * a recorded step returns its record, the first step not recorded runs and is recorded
 * (committed through `io.record`) before its result reaches the code, so before any later
 * step starts. Steps started together (`Promise.all`) run together and are recorded as each
 * ends.
 *
 * When the code can go no further now (every step it awaits is a sleep not over, a wait with
 * no event yet, a child run not ended, or a step waiting for its retry) and no step is still
 * running, the execution ends `suspended` with what it waits for; the engine sets the run
 * aside until then (engine.ts). The code's pending promises are simply never settled: the
 * next execution replays from the top. So code outside steps may run again; steps do not.
 *
 * Written by hand: the engines that do this (Inngest, Upstash Workflow, absurd, DBOS) are
 * services or SDKs bound to their own stores and transports; this is the small core that
 * replays our records in our engine.
 */

export interface ExecutionIO {
  /** Commits a step's record; false when the run's lease is gone (the execution stops). */
  record(step: StepRecord): Promise<boolean>;
  /** The oldest event a wait would take, sent since the run was created and newer than `afterId`. */
  findEvent(event: string, key: string | null, afterId: number): Promise<{ id: number; payload: string | null } | null>;
  /** Starts a child run (idempotently) and records the waiting step; its id, or null when the lease is gone. */
  startChild(step: StepRecord, workflow: string, input: unknown): Promise<number | null>;
  childState(childRunId: number): Promise<{ status: string; result: string | null; error: string | null } | null>;
}

export interface ExecutionSettings {
  maxStepBytes: number;
  maxSteps: number;
  /** Retries of a step when neither it nor its workflow says (TASK_MAX_ATTEMPTS − 1). */
  defaultRetries: number;
  /** Delay before a step's next attempt, given the attempt that failed. */
  backoffMs(attempt: number): number;
  /** Most time a retried step may be put off by a TaskFailure's retryAt. */
  backoffMaxMs: number;
}

export interface ExecutionOptions {
  runId: string;
  signal: AbortSignal;
  logger: Logger;
  settings: ExecutionSettings;
  now?: () => number;
  /**
   * The run's task's progress (the handler context's `progress`): in process only. Without it
   * (the app's side of the remote protocol, which has no way to send it yet) `ctx.progress`
   * throws rather than drop the value.
   */
  progress?(value: unknown): void;
  /**
   * One turn only (the app's side of the remote protocol, serve.ts): the steps the code starts
   * before the first of them ends run; a step it would start after that does not (its record
   * must be committed by the engine first), and the execution ends `continue` instead of
   * waiting for it. Sleeps, waits and child runs are still recorded after that: they run no
   * code of the user's, so recording them in the same answer saves a round trip.
   */
  oneTurn?: boolean;
  /**
   * A step's final record (completed or failed) was committed: its kind and seconds from its
   * start to its end (a sleep's or a wait's whole length; a step's last attempt). Once per step.
   */
  stepEnded?(kind: StepKind, seconds: number): void;
}

/** What a step that failed for good throws into the code, the same on every replay. */
export class StepError extends Error {
  readonly step: string;
  constructor(step: string, message: string) {
    super(message);
    this.name = 'StepError';
    this.step = step;
  }
}

/** The run's lease ended while it ran (another process took it, or it was cancelled). */
export class LeaseLostError extends Error {
  constructor(step: string) {
    super(`the run's lease ended before step "${step}" was recorded`);
    this.name = 'LeaseLostError';
  }
}

/**
 * A promise that never settles, new for each use. One shared promise would keep every
 * suspended execution alive: each `await` on it adds a reaction that holds the code's frame,
 * its context and this execution's records, and a shared promise lives as long as the module
 * (measured: bench/README.md, "Workflows (issue 20)"). A fresh one is referenced only by the
 * chain awaiting it, so a suspended execution is garbage once it has ended.
 */
const never = (): Promise<never> => new Promise<never>(() => undefined);
const ENCODER = new TextEncoder();
const KIND_NAMES: Record<StepKind, string> = { step: 'a step', sleep: 'a sleep', wait: 'a wait for an event', invoke: 'a child run' };

export function execute(workflow: Workflow, snapshot: RunSnapshot, io: ExecutionIO, options: ExecutionOptions): Promise<ExecutionEnd> {
  return new Execution(workflow, snapshot, io, { ...options, oneTurn: false }).run() as Promise<ExecutionEnd>;
}

/** How a one-turn execution ends: as `execute` does, or `continue` when a step was held back. */
export type TurnEnd = ExecutionEnd | { kind: 'continue' };

/** One turn of the code (ExecutionOptions.oneTurn): what the app's side of the protocol runs per request. */
export function executeTurn(workflow: Workflow, snapshot: RunSnapshot, io: ExecutionIO, options: ExecutionOptions): Promise<TurnEnd> {
  return new Execution(workflow, snapshot, io, { ...options, oneTurn: true }).run();
}

class Execution {
  readonly #workflow: Workflow;
  readonly #snapshot: RunSnapshot;
  readonly #io: ExecutionIO;
  readonly #o: ExecutionOptions;
  readonly #now: () => number;
  readonly #records: Map<string, StepRecord>;
  readonly #seen = new Map<string, number>();
  readonly #needs: Need[] = [];
  #stepCount: number;
  #inFlight = 0;
  #checkScheduled = false;
  /** One turn: a step of this execution has ended, so no new one starts. */
  #turnOver = false;
  /** One turn: a step was held back; the execution ends `continue` once nothing runs. */
  #heldBack = false;
  #end: ((end: TurnEnd) => void) | undefined;
  #ended = false;
  #fatal: unknown;

  constructor(workflow: Workflow, snapshot: RunSnapshot, io: ExecutionIO, options: ExecutionOptions) {
    this.#workflow = workflow;
    this.#snapshot = snapshot;
    this.#io = io;
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#records = new Map(snapshot.steps.map((step) => [step.name, step]));
    this.#stepCount = snapshot.steps.length;
  }

  run(): Promise<TurnEnd> {
    return new Promise<TurnEnd>((resolve, reject) => {
      this.#end = (end) => {
        if (this.#ended) return;
        this.#ended = true;
        resolve(end);
      };
      const ctx = this.#context();
      Promise.resolve()
        .then(() => this.#workflow.fn(ctx, this.#snapshot.input))
        .then(
          (output) => this.#end!({ kind: 'completed', output }),
          (error: unknown) => {
            if (this.#ended) return;
            if (error instanceof LeaseLostError || this.#o.signal.aborted) {
              this.#ended = true;
              reject(this.#o.signal.aborted ? (this.#o.signal.reason ?? error) : error);
              return;
            }
            this.#end!({ kind: 'failed', error: errorText(error) });
          },
        );
      // A fatal condition found inside a step call ends the execution even if the code catches it.
      this.#fail = (end) => this.#end!(end);
      this.#lose = (error) => {
        if (this.#ended) return;
        this.#ended = true;
        reject(error);
      };
    });
  }

  #fail: (end: TurnEnd) => void = () => undefined;
  #lose: (error: unknown) => void = () => undefined;

  #context(): WorkflowContext {
    const self = this;
    return {
      runId: this.#o.runId,
      attempt: this.#snapshot.attempt,
      signal: this.#o.signal,
      logger: this.#o.logger,
      progress: (value) => {
        if (!self.#o.progress) throw new Error('ctx.progress is available to workflows run in process; a workflow served over HTTP cannot report progress');
        self.#o.progress(value);
      },
      step: (name, fn, options) => self.#step(name, fn, options),
      sleep: (name, duration) => self.#sleep(name, duration),
      waitForEvent: (name, options) => self.#wait(name, options) as Promise<never>,
      invoke: (name, workflow, input) => self.#invoke(name, workflow, input) as Promise<never>,
    };
  }

  /** `name`, then `name#2`, `name#3` for the same name called again in one execution. */
  #name(base: string): string {
    if (typeof base !== 'string' || base === '') throw new TypeError('a step needs a name (a non-empty string)');
    const n = (this.#seen.get(base) ?? 0) + 1;
    this.#seen.set(base, n);
    return n === 1 ? base : `${base}#${n}`;
  }

  /** The record under `name`, or null; ends the run (`workflow_changed`) when it is of another kind. */
  #recorded(name: string, kind: StepKind): StepRecord | null | 'changed' {
    const record = this.#records.get(name);
    if (!record) {
      if (this.#stepCount >= this.#o.settings.maxSteps) {
        this.#fail({ kind: 'failed', code: 'too_many_steps', error: `the run has more than ${this.#o.settings.maxSteps} steps (WORKFLOW_MAX_STEPS)` });
        return 'changed';
      }
      return null;
    }
    if (record.kind !== kind) {
      this.#fail({
        kind: 'failed',
        code: 'workflow_changed',
        error: `workflow_changed: "${name}" was recorded as ${KIND_NAMES[record.kind]}, the code now calls ${KIND_NAMES[kind]} under that name`,
      });
      return 'changed';
    }
    return record;
  }

  async #commit(step: StepRecord): Promise<void> {
    if (this.#ended) return never();
    this.#inFlight++;
    try {
      const isNew = !this.#records.has(step.name);
      if (!(await this.#io.record(step))) {
        const error = new LeaseLostError(step.name);
        this.#lose(error);
        throw error;
      }
      if (isNew) this.#stepCount++;
      this.#records.set(step.name, step);
      if (this.#o.stepEnded && step.completedAt !== null && (step.status === 'completed' || step.status === 'failed')) {
        this.#o.stepEnded(step.kind, Math.max(0, step.completedAt - step.startedAt) / 1000);
      }
      if (this.#o.logger.level === 'debug') this.#o.logger.debug('workflow step recorded', { step: step.name, kind: step.kind, status: step.status, attempts: step.attempts });
    } finally {
      this.#inFlight--;
      this.#scheduleCheck();
    }
  }

  /** The code waits for `need`: a promise that this execution never settles. */
  #suspendOn(need: Need): Promise<never> {
    this.#needs.push(need);
    this.#scheduleCheck();
    return never();
  }

  /**
   * After the current turn (the code continues in microtasks once a step resolves), end as
   * suspended if nothing runs and something is awaited.
   */
  #scheduleCheck(): void {
    if (this.#checkScheduled || this.#ended) return;
    this.#checkScheduled = true;
    setTimeout(() => {
      this.#checkScheduled = false;
      if (this.#ended || this.#inFlight > 0) return;
      if (this.#heldBack) this.#end!({ kind: 'continue' });
      else if (this.#needs.length > 0) this.#end!({ kind: 'suspended', needs: [...this.#needs] });
    }, 0);
  }

  #blank(name: string, kind: StepKind, now: number): StepRecord {
    return { name, kind, status: 'waiting', attempts: 0, output: null, error: null, startedAt: now, completedAt: null, wakeAt: null, event: null, eventKey: null, eventId: null, childRunId: null };
  }

  async #step<T>(base: string, fn: (ctx: StepContext) => T | Promise<T>, options: StepOptions = {}): Promise<T> {
    if (this.#ended) return never();
    const name = this.#name(base);
    const record = this.#recorded(name, 'step');
    if (record === 'changed') return never();
    if (record?.status === 'completed') return parseOutput(record.output) as T;
    if (record?.status === 'failed') throw new StepError(name, record.error ?? 'step failed');
    const now = this.#now();
    if (record?.status === 'retrying' && record.wakeAt !== null && record.wakeAt > now) return this.#suspendOn({ kind: 'retry', name, at: record.wakeAt });
    if (this.#turnOver) {
      this.#heldBack = true;
      this.#scheduleCheck();
      return never();
    }

    const attempt = (record?.attempts ?? 0) + 1;
    const started = now;
    this.#inFlight++;
    let outcome: { ok: true; json: string } | { ok: false; error: unknown; permanent: boolean; retryAt?: number };
    try {
      const timeoutMs = options.timeout === undefined ? undefined : durationMs(options.timeout, `step "${name}" timeout`);
      const signal = timeoutMs === undefined ? this.#o.signal : AbortSignal.any([this.#o.signal, AbortSignal.timeout(timeoutMs)]);
      const value = await runStep(fn, { signal, attempt }, signal);
      outcome = this.#serialise(name, value);
    } catch (error) {
      const steer = failureSteer(error);
      outcome = { ok: false, error, permanent: steer?.permanent ?? false, retryAt: steer?.retryAt };
    } finally {
      this.#inFlight--;
      if (this.#o.oneTurn) this.#turnOver = true;
    }
    // Stopped from outside (cancel, shutdown, lost lease): nothing is recorded; processTask
    // decides what the run's stop means.
    if (this.#o.signal.aborted) throw this.#o.signal.reason;

    const ended = this.#now();
    if (outcome.ok) {
      await this.#commit({ ...this.#blank(name, 'step', started), status: 'completed', attempts: attempt, output: outcome.json, completedAt: ended });
      if (this.#o.logger.level === 'debug') this.#o.logger.debug('workflow step completed', { step: name, attempt, ms: ended - started });
      return parseOutput(outcome.json) as T;
    }
    const message = errorText(outcome.error);
    const retries = options.retries ?? this.#workflow.options.retries ?? this.#o.settings.defaultRetries;
    if (!outcome.permanent && attempt <= retries) {
      let at = ended + this.#o.settings.backoffMs(attempt);
      if (outcome.retryAt !== undefined && outcome.retryAt > ended) at = Math.min(outcome.retryAt, ended + this.#o.settings.backoffMaxMs);
      await this.#commit({ ...this.#blank(name, 'step', started), status: 'retrying', attempts: attempt, error: message, wakeAt: at });
      this.#o.logger.debug('workflow step will be retried', { step: name, attempt, error: message });
      return this.#suspendOn({ kind: 'retry', name, at });
    }
    await this.#commit({ ...this.#blank(name, 'step', started), status: 'failed', attempts: attempt, error: message, completedAt: ended });
    this.#o.logger.debug('workflow step failed', { step: name, attempt, error: message });
    throw new StepError(name, message);
  }

  /** The step's value as the JSON its record keeps, or why it cannot be kept (never retried). */
  #serialise(name: string, value: unknown): { ok: true; json: string } | { ok: false; error: unknown; permanent: boolean } {
    let json: string;
    try {
      json = JSON.stringify(value === undefined ? null : value);
    } catch (error) {
      return { ok: false, error: new Error(`step "${name}" returned a value that is not JSON: ${errorText(error)}`), permanent: true };
    }
    const max = this.#o.settings.maxStepBytes;
    // Each UTF-16 unit is at most 3 bytes of UTF-8: only a long string needs counting.
    const bytes = json.length * 3 > max ? ENCODER.encode(json).byteLength : json.length;
    if (bytes > max) return { ok: false, error: new Error(`step "${name}" output is ${bytes} bytes, over WORKFLOW_MAX_STEP_BYTES (${max})`), permanent: true };
    return { ok: true, json };
  }

  async #sleep(base: string, duration: Duration | Date): Promise<void> {
    if (this.#ended) return never();
    const name = this.#name(base);
    const record = this.#recorded(name, 'sleep');
    if (record === 'changed') return never();
    if (record?.status === 'completed') return;
    const now = this.#now();
    let wakeAt = record?.wakeAt ?? null;
    if (wakeAt === null) {
      wakeAt = duration instanceof Date ? duration.getTime() : now + durationMs(duration, `sleep "${name}"`);
      if (!Number.isFinite(wakeAt)) throw new TypeError(`sleep "${name}": not a valid date`);
      if (wakeAt > now) await this.#commit({ ...this.#blank(name, 'sleep', now), wakeAt });
    }
    if (wakeAt <= now) {
      await this.#commit({ ...(record ?? this.#blank(name, 'sleep', now)), status: 'completed', wakeAt, completedAt: now });
      return;
    }
    return this.#suspendOn({ kind: 'sleep', name, until: wakeAt });
  }

  async #wait(base: string, options: WaitOptions): Promise<unknown> {
    if (this.#ended) return never();
    const name = this.#name(base);
    if (typeof options?.event !== 'string' || options.event === '') throw new TypeError(`waitForEvent "${name}": event must be a non-empty string`);
    const record = this.#recorded(name, 'wait');
    if (record === 'changed') return never();
    if (record?.status === 'completed') return parseOutput(record.output);
    const now = this.#now();
    const key = options.key ?? null;
    const waiting = record ?? { ...this.#blank(name, 'wait', now), event: options.event, eventKey: key, wakeAt: now + durationMs(options.timeout, `waitForEvent "${name}" timeout`) };
    const afterEventId = this.#lastEventTaken(options.event, key);
    const found = await this.#tracked(() => this.#io.findEvent(waiting.event!, waiting.eventKey, afterEventId));
    if (found) {
      await this.#commit({ ...waiting, status: 'completed', output: found.payload ?? 'null', eventId: found.id, completedAt: now });
      return parseOutput(found.payload);
    }
    if (waiting.wakeAt! <= now) {
      // The timeout is recorded too: an event arriving later does not change this wait's answer on replay.
      await this.#commit({ ...waiting, status: 'completed', output: 'null', completedAt: now });
      return null;
    }
    if (!record) await this.#commit(waiting);
    return this.#suspendOn({ kind: 'wait', name, event: waiting.event!, key: waiting.eventKey, timeoutAt: waiting.wakeAt!, afterEventId });
  }

  /** The newest event this run's finished waits for `event`/`key` took: a new wait takes a later one. */
  #lastEventTaken(event: string, key: string | null): number {
    let last = this.#snapshot.eventMark;
    for (const step of this.#records.values()) {
      if (step.kind === 'wait' && step.event === event && step.eventKey === key && step.eventId !== null) last = Math.max(last, step.eventId);
    }
    return last;
  }

  async #invoke(base: string, workflow: Workflow | string, input: unknown): Promise<unknown> {
    if (this.#ended) return never();
    const name = this.#name(base);
    const record = this.#recorded(name, 'invoke');
    if (record === 'changed') return never();
    if (record?.status === 'completed') return parseOutput(record.output);
    if (record?.status === 'failed') throw new StepError(name, record.error ?? 'child run failed');
    const now = this.#now();
    let childRunId = record?.childRunId ?? null;
    if (childRunId === null) {
      const target = typeof workflow === 'string' ? workflow : workflow?.name;
      if (typeof target !== 'string') throw new TypeError(`invoke "${name}": pass a workflow or its name`);
      childRunId = await this.#tracked(() => this.#io.startChild(this.#blank(name, 'invoke', now), target, input));
      if (childRunId === null) {
        const error = new LeaseLostError(name);
        this.#lose(error);
        throw error;
      }
    }
    const child = await this.#tracked(() => this.#io.childState(childRunId!));
    const waiting = record ?? { ...this.#blank(name, 'invoke', now), childRunId };
    if (child?.status === 'completed') {
      await this.#commit({ ...waiting, status: 'completed', output: child.result ?? 'null', completedAt: now });
      return parseOutput(child.result);
    }
    if (!child || child.status === 'failed' || child.status === 'cancelled') {
      const message = !child ? 'the child run no longer exists' : child.status === 'cancelled' ? 'the child run was cancelled' : (child.error ?? 'the child run failed');
      await this.#commit({ ...waiting, status: 'failed', error: message, completedAt: now });
      throw new StepError(name, message);
    }
    return this.#suspendOn({ kind: 'invoke', name, childRunId });
  }

  /** I/O that is not a record: counted as running, so the run does not suspend under it. */
  async #tracked<T>(io: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      return await io();
    } finally {
      this.#inFlight--;
      this.#scheduleCheck();
    }
  }
}

async function runStep<T>(fn: (ctx: StepContext) => T | Promise<T>, ctx: StepContext, signal: AbortSignal): Promise<T> {
  if (signal.aborted) throw signal.reason;
  // A step that ignores its signal is not waited for once it fires (as for handlers). The
  // listener goes when the step ends: the run's signal outlives its steps, and one listener
  // left per step made Node warn of a leak past ten steps (MaxListenersExceededWarning).
  let onAbort: () => void = () => undefined;
  const stopped = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([Promise.resolve().then(() => fn(ctx)), stopped]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function parseOutput(json: string | null): unknown {
  return json === null ? null : JSON.parse(json);
}

export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return typeof error === 'string' ? error : JSON.stringify(error) ?? String(error);
}
