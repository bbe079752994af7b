/**
 * The narrow SQL surface the repository needs. Two implementations exist:
 * - `ClientDriver` (lib/db/client-driver.ts) over an `@libsql/client` Client: files on Node,
 *   and remote libSQL (Turso, sqld) everywhere including the edge.
 * - `NativeDriver` (local/native-driver.ts) over the synchronous `libsql` package with a
 *   prepared-statement cache: the fast path for a local file (see bench/README.md).
 *
 * SQL text lives with the repositories (lib/tasks/repository.ts, lib/schedules/repository.ts);
 * drivers only execute it.
 */
export type SqlValue = string | number | null;

export interface Statement {
  sql: string;
  args: SqlValue[];
  /** Its rows are wanted (a write with RETURNING inside a `batch`): they come back as `RunResult.rows`. */
  returning?: boolean;
  /**
   * With `returning`: the rows come back as arrays of values in the statement's column order
   * (`RunResult.values`, as `SqlDriver.values` gives them) instead of named objects: for the
   * claim, which reads every column of up to a batch of tasks.
   */
  asValues?: boolean;
  /**
   * In a group commit (lib/db/group-commit.ts), the unit this statement starts goes after the
   * other units of its turn, so it sees their writes: the claim, after the completions that
   * free flow-control slots. Ignored by a driver that commits a batch at once.
   */
  last?: boolean;
}

export type Row = Record<string, SqlValue>;

export interface RunResult {
  changes: number;
  /**
   * The rowid of the last row an INSERT put in, as SQLite reports it for the statement; only
   * meaningful when this statement inserted (`changes` > 0), since otherwise SQLite repeats the
   * connection's previous one. Null when the driver did not say.
   */
  lastInsertRowid: number | null;
  /** The statement's rows, for a `returning` statement of a batch (then `changes` is their count). */
  rows?: Row[];
  /** The same rows as arrays of values, for a `returning` statement marked `asValues`. */
  values?: SqlValue[][];
}

export interface SqlDriver {
  /** The database for logs: a file's absolute path, or a URL with no credentials in it. */
  readonly description: string;
  /**
   * Rows of many columns come back cheaper packed into one JSON text each (`json_array(…)`):
   * true for a remote server, whose protocol (Hrana) encodes every value as an object of its
   * own and decodes it again here. The claim reads every column of up to a batch of tasks; on
   * sqld it took 3.1–3.3 ms for 100 tasks column by column and 1.6 ms packed, as long as
   * returning their ids alone (bench/README.md, "Packed claim rows"). A file's driver
   * hands values over directly, so it leaves this unset.
   */
  readonly packRows?: boolean;
  /** Rows of one statement (SELECT, or a write with RETURNING). */
  all(sql: string, args?: SqlValue[]): Promise<Row[]>;
  /**
   * The same rows as arrays of values in the statement's column order: for the claim, which
   * reads every column of up to a batch of tasks. libsql builds a named object per row column
   * by column; arrays cost about half as much (bench/README.md, "Figures behind the code").
   */
  values(sql: string, args?: SqlValue[]): Promise<SqlValue[][]>;
  /** One write statement in its own transaction. */
  run(sql: string, args?: SqlValue[]): Promise<RunResult>;
  /**
   * Several writes in one transaction (one commit, one round trip where remote): the group
   * commit that keeps batched transitions cheap. All or nothing.
   */
  batch(statements: Statement[]): Promise<RunResult[]>;
  close(): Promise<void>;
}

/** SQLITE_BUSY / SQLITE_LOCKED: another writer holds the lock; worth retrying. */
export function isBusyError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  const text = `${typeof code === 'string' ? code : ''} ${error.message}`;
  return /SQLITE_BUSY|SQLITE_LOCKED|database is locked/i.test(text);
}

export interface RetryOptions {
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Retries `fn` while it fails with SQLITE_BUSY, with jittered exponential backoff. A busy
 * database is load, not an error: callers never see it unless it lasts for many attempts.
 */
export async function retryBusy<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 12;
  const base = options.baseDelayMs ?? 5;
  const max = options.maxDelayMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= attempts || !isBusyError(error)) throw error;
      const delay = Math.min(max, base * 2 ** (attempt - 1));
      await new Promise((resolve) => setTimeout(resolve, delay / 2 + Math.random() * (delay / 2)));
    }
  }
}
