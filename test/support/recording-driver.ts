import type { Row, RunResult, SqlDriver, SqlValue, Statement } from '../../lib/db/driver.ts';

/**
 * A real driver with every statement's SQL shown to `note` before it is sent: tests assert on
 * which statements went out and in what order (test/poller.pickup.test.ts,
 * test/repository.keyless-claim.test.ts), never on time.
 */
export class RecordingDriver implements SqlDriver {
  constructor(
    readonly inner: SqlDriver,
    readonly note: (sql: string) => void,
  ) {}
  get description(): string {
    return this.inner.description;
  }
  get packRows(): boolean | undefined {
    return this.inner.packRows;
  }
  all(sql: string, args?: SqlValue[]): Promise<Row[]> {
    this.note(sql);
    return this.inner.all(sql, args);
  }
  values(sql: string, args?: SqlValue[]): Promise<SqlValue[][]> {
    this.note(sql);
    return this.inner.values(sql, args);
  }
  run(sql: string, args?: SqlValue[]): Promise<RunResult> {
    this.note(sql);
    return this.inner.run(sql, args);
  }
  batch(statements: Statement[]): Promise<RunResult[]> {
    for (const s of statements) this.note(s.sql);
    return this.inner.batch(statements);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
