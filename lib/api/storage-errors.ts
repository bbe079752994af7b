import { storageErrorKind } from '../foundation/storage-errors.ts';
import { AppError } from '../foundation/errors.ts';

/**
 * Seconds a client is asked to wait before retrying while the database is unavailable:
 * a restarted sqld answers again within about a second here (test/storage-outage.test.ts).
 */
export const STORAGE_RETRY_AFTER_SECONDS = 2;

/**
 * A storage failure as the API answers it, or undefined when the error is not one:
 * unreachable, busy past its timeout or read-only → 503 `db_unavailable` with `Retry-After`
 * (the same request will work later, send it again); disk full → 507 `storage_full` (it will
 * not work until an operator frees space; reads still do). Logged once per outage by
 * lib/db/outage-log.ts, not per request.
 */
export function storageAppError(error: unknown): AppError | undefined {
  switch (storageErrorKind(error)) {
    case 'unavailable':
      return new AppError(503, 'db_unavailable', 'database is unavailable', { 'Retry-After': String(STORAGE_RETRY_AFTER_SECONDS) });
    case 'full':
      return new AppError(507, 'storage_full', 'database storage is full');
    default:
      return undefined;
  }
}
