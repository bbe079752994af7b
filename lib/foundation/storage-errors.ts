/**
 * What a failed statement says about the storage, as opposed to about the statement.
 *
 * - `unavailable`: the database cannot be used right now, and the same statement may work
 *   in a moment: the server is unreachable (`fetch failed` with ECONNREFUSED/ECONNRESET,
 *   `other side closed`), answered 5xx, stayed busy past its timeout and our retries
 *   (SQLITE_BUSY/LOCKED reach callers only after `retryBusy` gave up), gave no answer within
 *   DATABASE_TIMEOUT_SECONDS (`DATABASE_TIMEOUT`), or cannot be written
 *   (SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_IOERR). sqld on a full disk answers
 *   SQLITE_IOERR ("disk I/O error"), not SQLITE_FULL: it lands here (test/storage-errors.test.ts).
 * - `full`: SQLite itself reported SQLITE_FULL (a local file on a full disk, or
 *   `max_page_count` reached). Reads still work; writes will not until space is freed.
 * - undefined: anything else (a constraint, a syntax error, a bug): not the storage's fault.
 *
 * Errors are read through their `cause` chain: @libsql/client wraps the SQLite or Hrana error
 * in a LibsqlError, undici wraps the socket error in `TypeError: fetch failed`.
 */
export type StorageErrorKind = 'unavailable' | 'full';

// DATABASE_TIMEOUT: a remote statement got no answer within DATABASE_TIMEOUT_SECONDS (lib/db/client-driver.ts).
const UNAVAILABLE_CODES = /^(SQLITE_(BUSY|LOCKED|READONLY|CANTOPEN|IOERR)|HRANA_(CLOSED|WEBSOCKET)_ERROR|DATABASE_TIMEOUT)/;
// Messages for the same, where the code is missing: the native driver's open failure
// ("Unable to open connection to local database …: 14", 14 = SQLITE_CANTOPEN), undici's and
// workerd's wording for a request to the server that failed or dropped ("Network connection
// lost.", test/functions.workers-storage-outage.test.ts). Bare socket codes (ECONNRESET, …)
// are not enough: a client that hangs up mid-body fails its request with those too, and
// that is not the database's doing.
const UNAVAILABLE_MESSAGES = /^fetch failed$|database is locked|unable to open (connection to local )?database|^network connection lost/i;

export function storageErrorKind(error: unknown): StorageErrorKind | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    const { code, status } = current as { code?: unknown; status?: unknown };
    const codeText = typeof code === 'string' ? code : '';
    if (codeText.startsWith('SQLITE_FULL')) return 'full';
    if (UNAVAILABLE_CODES.test(codeText)) return 'unavailable';
    // @libsql/hrana-client's HttpServerError: sqld (or a proxy in front of it) answered 5xx.
    if (typeof status === 'number' && status >= 500 && status <= 599) return 'unavailable';
    if (UNAVAILABLE_MESSAGES.test(current.message)) return 'unavailable';
    current = current.cause;
  }
  return undefined;
}
