import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * The one error type the HTTP layer knows: a status, a stable machine-readable `code` and a
 * human message. lib/api/app.ts turns it into `{"message", "code"}`; nothing else builds error
 * responses.
 */
export class AppError extends HTTPException {
  readonly code: string;
  readonly headers: Record<string, string>;

  constructor(status: ContentfulStatusCode, code: string, message: string, headers: Record<string, string> = {}) {
    super(status, { message });
    this.code = code;
    this.headers = headers;
  }
}

export const badRequest = (message: string, code = 'invalid_request') => new AppError(400, code, message);
export const notFound = (message = 'task not found') => new AppError(404, 'not_found', message);
export const conflict = (message: string, code = 'conflict') => new AppError(409, code, message);

/**
 * A version-checked write changed no row: somebody else (another worker after the lease
 * expired, a cancel, a retry) moved the task on. Not an exception trace: an expected race.
 */
export class ErrOptimisticLock extends Error {
  readonly taskId: string;
  readonly expectedVersion: number;

  constructor(taskId: string, expectedVersion: number) {
    super(`task ${taskId} changed since version ${expectedVersion}`);
    this.name = 'ErrOptimisticLock';
    this.taskId = taskId;
    this.expectedVersion = expectedVersion;
  }
}
