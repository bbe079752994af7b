/**
 * What a handler may throw to steer its retry, beyond "this attempt failed" (any other error:
 * retried with backoff while attempts are left). The built-in `http` handler throws it for
 * the statuses the receiver gave; user handlers may too.
 *
 * - `permanent`: retrying cannot help (a 4xx): the task fails now, whatever attempts are left.
 * - `retryAt` (epoch ms): the next attempt is not before this time (a `Retry-After`), capped
 *   at now + TASK_BACKOFF_MAX_MS; used instead of the backoff when it is later than now.
 *
 * Recognised by a brand, never by `instanceof` (STYLE.md, rule 19): a handlers module loaded
 * as CommonJS (no `"type": "module"` above it) gets its own copy of this file from the loader,
 * and its `TaskFailure` is another class than the one lib/processing/outcome.ts imports
 * (test/task-failure.processes.test.ts). `Symbol.for` is one registry per process, so every
 * copy, and any other version of this file, carries the same brand.
 */
const taskFailureBrand = Symbol.for('task-pool.TaskFailure');

export class TaskFailure extends Error {
  readonly permanent: boolean;
  readonly retryAt: number | undefined;

  constructor(message: string, options: { permanent?: boolean; retryAt?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'TaskFailure';
    this.permanent = options.permanent ?? false;
    this.retryAt = options.retryAt;
  }

  /** On the prototype: not an own property, so it shows in no log or JSON of the error. */
  get [taskFailureBrand](): true {
    return true;
  }

  /**
   * `instanceof TaskFailure` in a user's code holds for every copy too (the `http` handler's
   * failures reach a user's wrapper from this copy); a subclass keeps the prototype check.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return this === TaskFailure ? isTaskFailure(value) : Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

/** How a thrown value steers the retry; undefined when it is not a TaskFailure of any copy. */
export interface FailureSteer {
  permanent: boolean;
  retryAt: number | undefined;
}

export function isTaskFailure(error: unknown): error is TaskFailure {
  return typeof error === 'object' && error !== null && (error as { [taskFailureBrand]?: unknown })[taskFailureBrand] === true;
}

/**
 * The steering fields of a TaskFailure from any copy, read defensively: another version's
 * copy may carry a field this one does not know, or a value of another type.
 */
export function failureSteer(error: unknown): FailureSteer | undefined {
  if (!isTaskFailure(error)) return undefined;
  const { permanent, retryAt } = error as { permanent?: unknown; retryAt?: unknown };
  return { permanent: permanent === true, retryAt: typeof retryAt === 'number' && Number.isFinite(retryAt) ? retryAt : undefined };
}
