/**
 * What a handler may throw to steer its retry, beyond "this attempt failed" (any other error:
 * retried with backoff while attempts are left). The built-in `http` handler throws it for
 * the statuses the receiver gave; user handlers may too.
 *
 * - `permanent`: retrying cannot help (a 4xx): the task fails now, whatever attempts are left.
 * - `retryAt` (epoch ms): the next attempt is not before this time (a `Retry-After`), capped
 *   at now + TASK_BACKOFF_MAX_MS; used instead of the backoff when it is later than now.
 */
export class TaskFailure extends Error {
  readonly permanent: boolean;
  readonly retryAt: number | undefined;

  constructor(message: string, options: { permanent?: boolean; retryAt?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'TaskFailure';
    this.permanent = options.permanent ?? false;
    this.retryAt = options.retryAt;
  }
}
