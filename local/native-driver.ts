import Database from 'libsql';
import { retryBusy, type Row, type RunResult, type SqlDriver, type SqlValue, type Statement } from '../lib/db/driver.ts';

// Bound as one array argument (positional), see `all`.
type Prepared = Database.Statement<[SqlValue[]]>;

/**
 * SqlDriver over the synchronous `libsql` package (better-sqlite3's API) for a local file.
 * Prepared statements are cached by SQL text: preparing, not the disk, dominates small
 * statements (this driver inserts more than twice as fast as @libsql/client;
 * docs/architecture.md, "Drivers").
 *
 * WAL with synchronous=NORMAL: a commit is durable against a process crash (the WAL is
 * written before the call returns); an OS crash or power loss can lose the last commits
 * since the previous checkpoint. docs/performance.md says so.
 */
export class NativeDriver implements SqlDriver {
  readonly description: string;
  readonly #db: Database.Database;
  readonly #cache = new Map<string, Prepared>();
  /** The same, in raw mode (rows as arrays), for `values`. */
  readonly #rawCache = new Map<string, Prepared>();

  constructor(path: string, options: { busyTimeoutMs?: number; description?: string } = {}) {
    const timeout = options.busyTimeoutMs ?? 5000;
    this.#db = new Database(path, { timeout });
    this.#db.exec(`PRAGMA busy_timeout = ${timeout}`);
    this.#db.exec('PRAGMA journal_mode = WAL');
    this.#db.exec('PRAGMA synchronous = NORMAL');
    this.description = options.description ?? path;
  }

  #prepare(sql: string): Prepared {
    let statement = this.#cache.get(sql);
    if (!statement) {
      statement = this.#db.prepare<[SqlValue[]]>(sql);
      this.#cache.set(sql, statement);
    }
    return statement;
  }

  // Arguments go to libsql as one array (bound by position): `run(...args)` would spread them
  // and libsql's wrapper would `flat()` them again, two copies per statement.
  async all(sql: string, args: SqlValue[] = []): Promise<Row[]> {
    return retryBusy(async () => (this.#prepare(sql).all(args) as Record<string, unknown>[]).map(decodeRow));
  }

  #prepareRaw(sql: string): Prepared {
    let statement = this.#rawCache.get(sql);
    if (!statement) {
      statement = this.#db.prepare<[SqlValue[]]>(sql).raw(true);
      this.#rawCache.set(sql, statement);
    }
    return statement;
  }

  async values(sql: string, args: SqlValue[] = []): Promise<SqlValue[][]> {
    const prepared = this.#prepareRaw(sql);
    return retryBusy(async () => (prepared.all(args) as unknown as unknown[][]).map(decodeValues));
  }

  async run(sql: string, args: SqlValue[] = []): Promise<RunResult> {
    return retryBusy(async () => runResult(this.#prepare(sql).run(args)));
  }

  async batch(statements: Statement[]): Promise<RunResult[]> {
    if (statements.length === 0) return [];
    return retryBusy(async () => {
      // Synchronous from BEGIN to COMMIT: nothing else in this process interleaves.
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        // A batch is mostly one SQL text over and over (a batch submit, group-committed
        // completions): the statement is looked up again only when the text changes.
        const results: RunResult[] = [];
        let sql: string | undefined;
        let prepared: Prepared | undefined;
        for (const statement of statements) {
          if (statement.returning && statement.asValues) {
            const values = (this.#prepareRaw(statement.sql).all(statement.args) as unknown as unknown[][]).map(decodeValues);
            results.push({ changes: values.length, lastInsertRowid: null, values });
            continue;
          }
          if (statement.sql !== sql) prepared = this.#prepare((sql = statement.sql));
          if (statement.returning) {
            const rows = (prepared!.all(statement.args) as Record<string, unknown>[]).map(decodeRow);
            results.push({ changes: rows.length, lastInsertRowid: null, rows });
          } else {
            results.push(runResult(prepared!.run(statement.args)));
          }
        }
        this.#db.exec('COMMIT');
        return results;
      } catch (error) {
        if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    this.#cache.clear();
    this.#rawCache.clear();
    this.#db.close();
  }
}

const runResult = (info: Database.RunResult): RunResult => ({ changes: info.changes, lastInsertRowid: Number(info.lastInsertRowid) });

const utf8 = new TextDecoder();

/** BLOB columns (text selected with CAST … AS BLOB, see lib/tasks/repository.ts) become strings. */
function decodeRow(row: Record<string, unknown>): Row {
  for (const key in row) {
    const value = row[key];
    if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) row[key] = utf8.decode(value as ArrayBuffer);
    else if (typeof value === 'bigint') row[key] = Number(value);
  }
  return row as Row;
}

/** `decodeRow` for a row in raw mode. */
function decodeValues(row: unknown[]): SqlValue[] {
  for (let i = 0; i < row.length; i++) {
    const value = row[i];
    if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) row[i] = utf8.decode(value as ArrayBuffer);
    else if (typeof value === 'bigint') row[i] = Number(value);
  }
  return row as SqlValue[];
}
