import type { Client, InArgs } from '@libsql/client';
import { retryBusy, type Row, type RunResult, type SqlDriver, type SqlValue, type Statement } from './driver.ts';

export interface ClientDriverOptions {
  /**
   * A statement (one attempt of it: busy retries each get their own) with no answer after this
   * long fails with `StatementTimeout` and the client is replaced by `reopen()`. Unset: no bound.
   */
  timeoutMs?: number;
  /** A fresh client for the same database, used to replace one whose statement timed out. */
  reopen?: () => Client;
  /** Told when a client was replaced (the Node adapter logs it). */
  onReplaced?: (reason: string) => void;
  /** A remote server: rows of many columns are read packed (SqlDriver `packRows`). */
  packRows?: boolean;
}

/**
 * A remote statement that got no answer in time: the connection is taken for dead (a half-open
 * socket after a network change, a frozen proxy, a server that stopped reading) and replaced.
 * Its code marks it as the database being unavailable (lib/foundation/storage-errors.ts), so the
 * API answers 503 and the pool treats it like an outage; the statement itself may or may not
 * have run, which every caller already handles for a dropped connection (version-checked
 * transitions, idempotency keys).
 */
export class StatementTimeout extends Error {
  readonly code = 'DATABASE_TIMEOUT';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StatementTimeout';
  }
}

/**
 * SqlDriver over an `@libsql/client` Client. The caller creates the client (with
 * `@libsql/client` on Node, `@libsql/client/http` in functions) so this file stays edge-safe.
 *
 * Neither of @libsql/client's remote transports bounds a request: over a WebSocket whose peer
 * went silent without closing it, a statement waits forever, and so would every worker behind
 * it. `timeoutMs` bounds each one; the timed-out client is closed and a fresh one opened, since
 * the one socket a WebSocket client multiplexes everything over is the thing that is stuck
 * (test/database-timeout.test.ts freezes a real loopback proxy to show it).
 */
export class ClientDriver implements SqlDriver {
  readonly description: string;
  readonly packRows: boolean;
  #client: Client;
  readonly #timeoutMs: number | undefined;
  readonly #reopen: (() => Client) | undefined;
  readonly #onReplaced: ((reason: string) => void) | undefined;

  constructor(client: Client, description: string, options: ClientDriverOptions = {}) {
    this.#client = client;
    this.description = description;
    this.packRows = options.packRows ?? false;
    this.#timeoutMs = options.timeoutMs;
    this.#reopen = options.reopen;
    this.#onReplaced = options.onReplaced;
  }

  /** One attempt of `op`, bounded by `timeoutMs`; busy errors are retried around it. */
  #send<T>(op: (client: Client) => Promise<T>): Promise<T> {
    return retryBusy(() => {
      const client = this.#client;
      const answer = op(client);
      const timeoutMs = this.#timeoutMs;
      if (timeoutMs === undefined) return answer;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.#replace(client, `no answer within ${timeoutMs} ms`);
          reject(new StatementTimeout(`no answer from the database within ${timeoutMs / 1000} s (DATABASE_TIMEOUT_SECONDS); the connection was replaced`));
        }, timeoutMs);
        answer.then(
          (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          (error: unknown) => {
            clearTimeout(timer);
            // Failed because another statement's timeout closed its client under it ("Client
            // was manually closed"): the same outage, not an error of this statement.
            reject(client !== this.#client ? new StatementTimeout('the connection was replaced: another statement on it got no answer', { cause: error }) : error);
          },
        );
      });
    });
  }

  /** Closes `stale` and opens a fresh client, once however many statements timed out on it. */
  #replace(stale: Client, reason: string): void {
    if (this.#client !== stale || !this.#reopen) return;
    this.#client = this.#reopen();
    try {
      stale.close();
    } catch {
      // Already closed: nothing to release.
    }
    this.#onReplaced?.(reason);
  }

  async all(sql: string, args: SqlValue[] = []): Promise<Row[]> {
    return namedRows(await this.#send((client) => client.execute({ sql, args: args as InArgs })));
  }

  async values(sql: string, args: SqlValue[] = []): Promise<SqlValue[][]> {
    const result = await this.#send((client) => client.execute({ sql, args: args as InArgs }));
    const width = result.columns.length;
    return result.rows.map((row) => toValues(row, width));
  }

  async run(sql: string, args: SqlValue[] = []): Promise<RunResult> {
    const result = await this.#send((client) => client.execute({ sql, args: args as InArgs }));
    return runResult(result);
  }

  async batch(statements: Statement[]): Promise<RunResult[]> {
    if (statements.length === 0) return [];
    const results = await this.#send((client) =>
      client.batch(
        statements.map((s) => ({ sql: s.sql, args: s.args as InArgs })),
        'write',
      ),
    );
    return results.map((result, i) => {
      const statement = statements[i]!;
      if (!statement.returning) return runResult(result);
      if (statement.asValues) {
        const width = result.columns.length;
        return { changes: result.rows.length, lastInsertRowid: null, values: result.rows.map((row) => toValues(row, width)) };
      }
      return { changes: result.rows.length, lastInsertRowid: null, rows: namedRows(result) };
    });
  }

  async close(): Promise<void> {
    this.#client.close();
  }
}

function namedRows(result: { columns: string[]; rows: ArrayLike<unknown>[] }): Row[] {
  const { columns } = result;
  return result.rows.map((row) => {
    const out: Row = {};
    for (let i = 0; i < columns.length; i++) out[columns[i]!] = toSqlValue(row[i]);
    return out;
  });
}

function runResult(result: { rowsAffected: number; lastInsertRowid: bigint | undefined }): RunResult {
  return { changes: result.rowsAffected, lastInsertRowid: result.lastInsertRowid === undefined ? null : Number(result.lastInsertRowid) };
}

function toValues(row: ArrayLike<unknown>, width: number): SqlValue[] {
  const out: SqlValue[] = new Array(width);
  for (let i = 0; i < width; i++) out[i] = toSqlValue(row[i]);
  return out;
}

function toSqlValue(value: unknown): SqlValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (value instanceof ArrayBuffer) return new TextDecoder().decode(value);
  return String(value);
}
