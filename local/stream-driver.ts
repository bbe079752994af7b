import * as hrana from '@libsql/hrana-client';
import { StatementTimeout } from '../lib/db/client-driver.ts';
import { retryBusy, type Row, type RunResult, type SqlDriver, type SqlValue, type Statement } from '../lib/db/driver.ts';

/**
 * Writes to a remote libSQL server over ONE Hrana stream kept open on a WebSocket, instead of a
 * stream per statement.
 *
 * @libsql/client opens a stream for every `execute` and `batch` and closes it after, and sqld
 * gives every stream a fresh SQLite connection: each write pays for opening it (the schema is
 * read again) and its statements are prepared from scratch. Measured on loopback against sqld
 * 0.24, one statement at a time (bench/README.md, "One stream for writes"): a task's INSERT
 * 0.79–0.88 ms through @libsql/client, 0.38–0.46 ms on a kept stream; `SELECT 1` 0.51 vs 0.14 ms.
 * @libsql/client has no way to keep a stream outside an interactive transaction, so this talks
 * to @libsql/hrana-client (the protocol client @libsql/client itself is built on) directly.
 *
 * Only writes come here (`run`, `batch`): the group commit (lib/db/group-commit.ts) already
 * makes them one transaction at a time per process, and one stream runs its requests in order,
 * which is what SQLite's single writer does to them anyway. Reads (`all`, `values`) stay on
 * @libsql/client, a stream each, so a long read (a list, /stats) never waits behind a write or
 * holds one up.
 *
 * A batch of several statements is one transaction (BEGIN IMMEDIATE … COMMIT, each step run
 * only if the one before succeeded, ROLLBACK if the COMMIT did not happen), as @libsql/client
 * builds it; a single statement runs on its own (autocommit is atomic for one statement). After
 * any failure the stream is dropped and the next write opens another, so no transaction state
 * can outlive the batch that began it. The WebSocket is replaced when it closed (the server
 * restarted, the network dropped), when it is older than CONNECTION_MAX_AGE_MS (as
 * @libsql/client does, so a connection a proxy or Turso ages out is not the one a write is
 * sent on), and when a write got no answer within `timeoutMs` (StatementTimeout, as in
 * lib/db/client-driver.ts).
 */
export interface StreamDriverOptions {
  /** A `ws://` or `wss://` URL, with no query parameters. */
  url: string;
  authToken?: string;
  /** Where reads go (a ClientDriver over the same server), and what `close` closes with this. */
  reads: SqlDriver;
  /** A write (one attempt: busy retries each get their own) with no answer after this long fails and the socket is replaced. */
  timeoutMs?: number;
  /** Told when a socket was replaced after a timeout (the Node adapter logs it). */
  onReplaced?: (reason: string) => void;
  /** A socket older than this is replaced before the next write (default CONNECTION_MAX_AGE_MS). */
  connectionMaxAgeMs?: number;
}

const CONNECTION_MAX_AGE_MS = 60_000;

interface Connection {
  client: hrana.WsClient;
  openedAt: number;
  /** Protocol version, known once the handshake answered (conditions on autocommit need 3). */
  version: Promise<number>;
  /** The stream writes go on; undefined after a failure until the next write opens one. */
  stream: hrana.WsStream | undefined;
  inFlight: number;
  /** Replaced: closed when its last write in flight ends. */
  retired: boolean;
  /** A write on it got no answer in time: closed at once, its other writes failed with it. */
  timedOut: boolean;
}

export class StreamDriver implements SqlDriver {
  readonly description: string;
  readonly packRows = true;
  readonly #options: StreamDriverOptions;
  #connection: Connection | undefined;
  #closed = false;

  constructor(description: string, options: StreamDriverOptions) {
    this.description = description;
    this.#options = options;
  }

  all(sql: string, args?: SqlValue[]): Promise<Row[]> {
    return this.#options.reads.all(sql, args);
  }

  values(sql: string, args?: SqlValue[]): Promise<SqlValue[][]> {
    return this.#options.reads.values(sql, args);
  }

  async run(sql: string, args: SqlValue[] = []): Promise<RunResult> {
    const [result] = await this.batch([{ sql, args }]);
    return result!;
  }

  batch(statements: Statement[]): Promise<RunResult[]> {
    if (statements.length === 0) return Promise.resolve([]);
    return retryBusy(() => this.#write(statements));
  }

  async close(): Promise<void> {
    this.#closed = true;
    const connection = this.#connection;
    this.#connection = undefined;
    connection?.client.close();
    await this.#options.reads.close();
  }

  #connect(): Connection {
    let connection = this.#connection;
    const maxAge = this.#options.connectionMaxAgeMs ?? CONNECTION_MAX_AGE_MS;
    if (connection && !connection.client.closed && Date.now() - connection.openedAt < maxAge) return connection;
    if (connection) this.#retire(connection);
    const client = hrana.openWs(this.#options.url, this.#options.authToken);
    // A failed handshake rejects the first write (the stream's requests fail with it); the
    // version's own rejection is handled there.
    const version = client.getVersion();
    version.catch(() => undefined);
    connection = { client, openedAt: Date.now(), version, stream: undefined, inFlight: 0, retired: false, timedOut: false };
    this.#connection = connection;
    return connection;
  }

  #retire(connection: Connection): void {
    connection.retired = true;
    if (this.#connection === connection) this.#connection = undefined;
    if (connection.inFlight === 0) connection.client.close();
  }

  async #write(statements: Statement[]): Promise<RunResult[]> {
    if (this.#closed) throw new hrana.ClosedError('the database driver is closed', undefined);
    const connection = this.#connect();
    connection.inFlight++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // The bound covers the handshake too: a socket opened into a network that stopped
      // carrying bytes never learns the protocol version.
      const answer = (async () => {
        const version = await connection.version;
        if (!connection.stream || connection.stream.closed) {
          connection.stream = connection.client.openStream();
          connection.stream.intMode = 'bigint';
        }
        return execute(connection.stream, statements, version);
      })();
      const timeoutMs = this.#options.timeoutMs;
      if (timeoutMs === undefined) return await answer;
      return await new Promise<RunResult[]>((resolve, reject) => {
        timer = setTimeout(() => {
          connection.timedOut = true;
          this.#retire(connection);
          connection.client.close();
          this.#options.onReplaced?.(`no answer within ${timeoutMs} ms`);
          reject(new StatementTimeout(`no answer from the database within ${timeoutMs / 1000} s (DATABASE_TIMEOUT_SECONDS); the connection was replaced`));
        }, timeoutMs);
        answer.then(resolve, reject);
      });
    } catch (error) {
      // Whatever failed, the stream's connection may be left inside a transaction (a ROLLBACK
      // that did not run) or the socket may be gone: the next write starts on a fresh stream.
      if (connection.stream && !connection.client.closed) connection.stream.close();
      connection.stream = undefined;
      // Failed because another write's timeout closed the socket under it ("Client was
      // manually closed"): the same outage, not an error of this write.
      if (connection.timedOut && !(error instanceof StatementTimeout)) {
        throw new StatementTimeout('the connection was replaced: another write on it got no answer', { cause: error });
      }
      throw codeOf(error);
    } finally {
      clearTimeout(timer);
      connection.inFlight--;
      if (connection.retired && connection.inFlight === 0) connection.client.close();
    }
  }
}

/** Sends `statements` as one request: one statement alone (an execute, the lighter request), or a batch as one transaction. */
async function execute(stream: hrana.WsStream, statements: Statement[], version: number): Promise<RunResult[]> {
  const single = statements.length === 1;
  if (single) {
    const statement = statements[0]!;
    const stmt = new hrana.Stmt(statement.sql).bindIndexes(statement.args);
    return [runResult(statement, statement.returning ? await stream.query(stmt) : await stream.run(stmt))];
  }
  const batch = stream.batch(false);
  let previous = batch.step();
  // A busy database fails the BEGIN: that error (SQLITE_BUSY, which retryBusy retries) is the
  // batch's, not the "not run" of the steps after it. Every step's rejection is handled here
  // and read below in order, so none is left unhandled.
  const begin = previous.run('BEGIN IMMEDIATE');
  begin.catch(() => undefined);
  const answers = statements.map((statement) => {
    const step = batch.step().condition(hrana.BatchCond.ok(previous));
    // Protocol 3 can also require that the transaction is still open: a statement that failed
    // in a way that made SQLite roll back on its own must not let the rest run in autocommit.
    if (version >= 3) step.condition(hrana.BatchCond.not(hrana.BatchCond.isAutocommit(batch)));
    previous = step;
    const stmt = new hrana.Stmt(statement.sql).bindIndexes(statement.args);
    const answer = statement.returning ? step.query(stmt) : step.run(stmt);
    answer.catch(() => undefined);
    return answer;
  });
  const commitStep = batch.step().condition(hrana.BatchCond.ok(previous));
  if (version >= 3) commitStep.condition(hrana.BatchCond.not(hrana.BatchCond.isAutocommit(batch)));
  const commit = commitStep.run('COMMIT');
  batch
    .step()
    .condition(hrana.BatchCond.not(hrana.BatchCond.ok(commitStep)))
    .run('ROLLBACK')
    .catch(() => undefined);
  await batch.execute();
  await begin;
  const results: RunResult[] = [];
  for (let i = 0; i < statements.length; i++) {
    const answer = await answers[i]!;
    if (answer === undefined) throw new BatchNotRun(i);
    results.push(runResult(statements[i]!, answer as hrana.StmtResult | hrana.RowsResult));
  }
  if ((await commit) === undefined) throw new BatchNotRun(statements.length);
  return results;
}

function runResult(statement: Statement, answer: hrana.StmtResult | hrana.RowsResult): RunResult {
  if (!statement.returning) {
    return { changes: answer.affectedRowCount, lastInsertRowid: answer.lastInsertRowid === undefined ? null : Number(answer.lastInsertRowid) };
  }
  const { rows } = answer as hrana.RowsResult;
  const width = answer.columnNames.length;
  if (statement.asValues) {
    return { changes: rows.length, lastInsertRowid: null, values: rows.map((row) => toValues(row, width)) };
  }
  const names = answer.columnNames.map((name) => name ?? '');
  return {
    changes: rows.length,
    lastInsertRowid: null,
    rows: rows.map((row) => {
      const out: Row = {};
      for (let i = 0; i < width; i++) out[names[i]!] = toSqlValue(row[i]);
      return out;
    }),
  };
}

function toValues(row: hrana.Row, width: number): SqlValue[] {
  const out: SqlValue[] = new Array(width);
  for (let i = 0; i < width; i++) out[i] = toSqlValue(row[i]);
  return out;
}

// As lib/db/client-driver.ts reads @libsql/client's values: integers as numbers (task ids and
// times are below 2^53), a BLOB (free text with a NUL, lib/tasks/repository.ts) as UTF-8 text.
function toSqlValue(value: hrana.Value | undefined): SqlValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (value instanceof ArrayBuffer) return new TextDecoder().decode(value);
  return String(value);
}

/** A step of a transaction skipped because one before it failed, or the COMMIT not run. */
class BatchNotRun extends Error {
  readonly code = 'TRANSACTION_CLOSED';
  constructor(step: number) {
    super(`statement ${step} of the batch was not run: the transaction was rolled back`);
    this.name = 'BatchNotRun';
  }
}

/**
 * A Hrana error with the `code` @libsql/client would have given it (SQLITE_BUSY,
 * SQLITE_CONSTRAINT, HRANA_WEBSOCKET_ERROR, …), which retryBusy (lib/db/driver.ts) and
 * storageErrorKind (lib/foundation/storage-errors.ts) read; the original is its cause.
 */
export class StreamError extends Error {
  readonly code: string;
  constructor(message: string, code: string, cause: unknown) {
    super(message, { cause });
    this.name = 'StreamError';
    this.code = code;
  }
}

function codeOf(error: unknown): unknown {
  if (!(error instanceof hrana.ClientError)) return error;
  return new StreamError(error.message, hranaCode(error), error);
}

function hranaCode(error: hrana.ClientError): string {
  if (error instanceof hrana.ResponseError && error.code !== undefined) return error.code;
  if (error instanceof hrana.ClosedError) return error.cause instanceof hrana.ClientError ? hranaCode(error.cause) : 'HRANA_CLOSED_ERROR';
  if (error instanceof hrana.WebSocketError) return 'HRANA_WEBSOCKET_ERROR';
  if (error instanceof hrana.ProtoError) return 'HRANA_PROTO_ERROR';
  return 'HRANA_CLIENT_ERROR';
}
