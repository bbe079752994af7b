import type { SqlDriver } from './driver.ts';
import { storageErrorKind, type StorageErrorKind } from '../foundation/storage-errors.ts';

/**
 * Wraps a driver so that a storage outage is one warning when the first statement fails
 * (unavailable or full, see lib/foundation/storage-errors.ts) and one info line once statements succeed again,
 * with how long it lasted and how many statements failed meanwhile. Under load a dead sqld
 * fails hundreds of statements a second, from requests and from the poller alike: one line
 * per statement (or a stack per request) would bury everything else. Same idea as
 * lib/rate-limit/fail-open.ts for Redis.
 *
 * An outage ends with a statement that succeeds when none has failed for `settleMs`. A
 * nearly full disk still takes small writes between the large ones that fail: without the
 * settling time that logged a recovery and a new outage every few hundred milliseconds
 * (test/storage-outage.test.ts). Likewise a full or read-only database still answers reads:
 * an outage in which only writes failed ends with a write, not with the next read. And only
 * a statement issued after the outage began can end it: one already on its way when the
 * server died may still come back fine.
 */
export interface OutageLogOptions {
  settleMs?: number;
  now?: () => number;
}

/** The two levels used, so lib/db needs nothing from lib/foundation/log.ts (lib/db/README.md). */
export interface OutageLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
}

export function logStorageOutages(driver: SqlDriver, logger: OutageLogger, options: OutageLogOptions = {}): SqlDriver {
  const settleMs = options.settleMs ?? 1000;
  const now = options.now ?? Date.now;
  let outage: { kind: StorageErrorKind; since: number; lastFailure: number; failed: number; readsFailed: boolean; issuedBefore: number } | undefined;
  let issued = 0;

  const succeeded = <T>(statement: number, write: boolean, result: T): T => {
    if (outage && statement > outage.issuedBefore && (write || outage.readsFailed) && now() - outage.lastFailure >= settleMs) {
      logger.info('database recovered', { database: driver.description, kind: outage.kind, outage_ms: now() - outage.since, failed_statements: outage.failed });
      outage = undefined;
    }
    return result;
  };
  const failed = (write: boolean, error: unknown): never => {
    const kind = storageErrorKind(error);
    if (kind) {
      if (outage) {
        outage.failed += 1;
        outage.lastFailure = now();
        outage.readsFailed ||= !write;
      } else {
        outage = { kind, since: now(), lastFailure: now(), failed: 1, readsFailed: !write, issuedBefore: issued };
        logger.warn(kind === 'full' ? 'database is full: writes fail until space is freed' : 'database is unavailable: answering 503 until it is back', {
          database: driver.description,
          kind,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    throw error;
  };
  const observe = <T>(write: boolean, statement: () => Promise<T>): Promise<T> => {
    const id = ++issued;
    return statement().then((result) => succeeded(id, write, result), (error: unknown) => failed(write, error));
  };

  return {
    description: driver.description,
    packRows: driver.packRows,
    all: (sql, args) => observe(!READ.test(sql), () => driver.all(sql, args)),
    values: (sql, args) => observe(!READ.test(sql), () => driver.values(sql, args)),
    run: (sql, args) => observe(true, () => driver.run(sql, args)),
    batch: (statements) => observe(true, () => driver.batch(statements)),
    close: () => driver.close(),
  };
}

/** `all` and `values` also run writes with RETURNING (the claim): only a plain SELECT counts as a read. */
const READ = /^\s*SELECT\b/i;
