import type { Logger } from '../foundation/log.ts';
import type { Task, TaskJson } from '../tasks/model.ts';
import type { SubmitInput } from '../tasks/service.ts';

/**
 * Handlers do the work. A handler receives the task (as clients see it, payload parsed) and a
 * context; what it returns (JSON-serialisable) is stored as the task's `result`; what it
 * throws is the attempt's `last_error`. It must stop when `signal` aborts (cancel, timeout,
 * shutdown, lost lease): after that its result is discarded anyway.
 *
 * Delivery is at-least-once: a handler may run again for the same task after a crash or an
 * expired lease, so handlers should be idempotent (see docs/guarantees.md, "Delivery guarantees").
 */
export interface HandlerContext {
  signal: AbortSignal;
  /** 1 on the first run, 2 on the first retry, … */
  attempt: number;
  logger: Logger;
  /**
   * Awaits `wait` while this task's worker runs other tasks, then continues on the next free
   * worker (before queued tasks). For waits that are not the task's work: an `http` task
   * waiting for a slot at a host that has HTTP_MAX_PER_HOST requests in flight. The task keeps
   * its lease, time limit and claim; only the worker is lent out.
   */
  waitWithoutWorker<T>(wait: Promise<T>): Promise<T>;
  /**
   * Reports how far the task is: any JSON value of at most 1 KB (`42`, `{ done: 3, total: 10 }`,
   * `"uploading"`), shown as the task's `progress`. Cheap to call often: it is written at most
   * once a second (the last value wins), and the last value goes with the attempt's final
   * write. Throws a TypeError for a value that is not JSON or is larger than 1 KB.
   */
  progress(value: unknown): void;
}

/** The largest progress value, as JSON text in UTF-8 bytes. */
export const MAX_PROGRESS_BYTES = 1024;

/** A progress value as stored: its JSON text; a TypeError names what is wrong with it. */
export function progressJson(value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new TypeError(`progress must be a JSON value: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (json === undefined) throw new TypeError(`progress must be a JSON value, not ${typeof value}`);
  // Most values are short: a string's UTF-8 length is at most three bytes per UTF-16 unit.
  const bytes = json.length * 3 <= MAX_PROGRESS_BYTES ? json.length : new TextEncoder().encode(json).length;
  if (bytes > MAX_PROGRESS_BYTES) throw new TypeError(`progress is ${bytes} bytes as JSON; at most ${MAX_PROGRESS_BYTES} are allowed`);
  return json;
}

export type TaskHandler = (task: TaskJson, context: HandlerContext) => Promise<unknown>;

/** A task to create when another finishes; the key makes it exist once whatever happens. */
export type FollowUp = SubmitInput & { idempotencyKey: string };

export interface HandlerOptions {
  /**
   * Tasks to create when a task of this type finishes (completed, or failed for good), given
   * the task as that final transition writes it (stored form: `taskToJson` it only when a
   * follow-up needs it; most finished tasks have none). They are inserted in the same
   * transaction as the transition (the outbox): they exist exactly when it committed.
   */
  followUps?(finished: Task): FollowUp[];
  /** Checks a submitted payload (POST /tasks); throws an AppError (400 naming the field) to refuse it. */
  validatePayload?(payload: unknown): void;
}

const TYPE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;

/**
 * Types known only at run time, from the database: remote workflows (lib/workflows/remote.ts)
 * registered by URL on any instance. `get` answers for a type whether or not it is known
 * yet (a run claimed here may have been started on another instance a moment after its
 * workflow was registered there); `has` and `types` answer from what `refresh` last read.
 */
export interface TypeResolver {
  get(type: string): TaskHandler | undefined;
  has(type: string): boolean;
  types(): string[];
  /** Reads the types again if the last read is older than the resolver's bound (≤ 1 s). */
  refresh(): Promise<void>;
}

/** `type` → handler. A Map, so `__proto__`, `constructor` and friends are never handlers. */
export class HandlerRegistry {
  readonly #handlers = new Map<string, TaskHandler>();
  readonly #options = new Map<string, HandlerOptions>();
  #resolver: TypeResolver | undefined;

  register(type: string, handler: TaskHandler, options: HandlerOptions = {}): this {
    if (!TYPE_NAME.test(type)) throw new Error(`invalid handler type name ${JSON.stringify(type)}`);
    this.#handlers.set(type, handler);
    this.#options.set(type, options);
    return this;
  }

  /** Types beyond those registered here: asked only for a type no registration names. */
  resolveWith(resolver: TypeResolver): this {
    this.#resolver = resolver;
    return this;
  }

  get(type: string): TaskHandler | undefined {
    return this.#handlers.get(type) ?? this.#resolver?.get(type);
  }

  options(type: string): HandlerOptions {
    return this.#options.get(type) ?? {};
  }

  has(type: string): boolean {
    return this.#handlers.has(type) || (this.#resolver?.has(type) ?? false);
  }

  types(): string[] {
    const types = [...this.#handlers.keys()];
    for (const type of this.#resolver?.types() ?? []) if (!this.#handlers.has(type)) types.push(type);
    return types;
  }

  /** Brings the run-time types up to date before a submit checks `has` (a no-op without them). */
  async refreshTypes(): Promise<void> {
    await this.#resolver?.refresh();
  }
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The seed's work: sleep a random time in [minMs, maxMs]. */
export function simulateHandler(minMs: number, maxMs: number): TaskHandler {
  return async (_task, { signal }) => {
    const sleptMs = Math.round(minMs + Math.random() * (maxMs - minMs));
    if (sleptMs > 0) await abortableSleep(sleptMs, signal);
    return { slept_ms: sleptMs };
  };
}

export function createHandlerRegistry(options: { simulateMinMs: number; simulateMaxMs: number }): HandlerRegistry {
  return new HandlerRegistry().register('simulate', simulateHandler(options.simulateMinMs, options.simulateMaxMs));
}
