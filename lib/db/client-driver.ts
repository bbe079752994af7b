import type { Client, InArgs } from '@libsql/client';
import { retryBusy, type Row, type RunResult, type SqlDriver, type SqlValue, type Statement } from './driver.ts';

/**
 * SqlDriver over an `@libsql/client` Client. The caller creates the client (with
 * `@libsql/client` on Node, `@libsql/client/web` on the edge) so this file stays edge-safe.
 */
export class ClientDriver implements SqlDriver {
  readonly description: string;
  readonly #client: Client;

  constructor(client: Client, description: string) {
    this.#client = client;
    this.description = description;
  }

  async all(sql: string, args: SqlValue[] = []): Promise<Row[]> {
    return namedRows(await retryBusy(() => this.#client.execute({ sql, args: args as InArgs })));
  }

  async values(sql: string, args: SqlValue[] = []): Promise<SqlValue[][]> {
    const result = await retryBusy(() => this.#client.execute({ sql, args: args as InArgs }));
    const width = result.columns.length;
    return result.rows.map((row) => {
      const out: SqlValue[] = new Array(width);
      for (let i = 0; i < width; i++) out[i] = toSqlValue(row[i]);
      return out;
    });
  }

  async run(sql: string, args: SqlValue[] = []): Promise<RunResult> {
    const result = await retryBusy(() => this.#client.execute({ sql, args: args as InArgs }));
    return runResult(result);
  }

  async batch(statements: Statement[]): Promise<RunResult[]> {
    if (statements.length === 0) return [];
    const results = await retryBusy(() =>
      this.#client.batch(
        statements.map((s) => ({ sql: s.sql, args: s.args as InArgs })),
        'write',
      ),
    );
    return results.map((result, i) => (statements[i]!.returning ? { changes: result.rows.length, lastInsertRowid: null, rows: namedRows(result) } : runResult(result)));
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

function toSqlValue(value: unknown): SqlValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (value instanceof ArrayBuffer) return new TextDecoder().decode(value);
  return String(value);
}
