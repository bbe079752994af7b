import { nextTurn } from '../foundation/next-turn.ts';
import type { Row, RunResult, SqlDriver, SqlValue, Statement } from './driver.ts';

/**
 * Group commit: a SqlDriver whose writes (`run`, `batch`) requested during one turn of the
 * event loop go to the database as ONE transaction (`batch` of the driver underneath), each
 * caller still learning its own row counts. A caller is answered only after that commit, so
 * "durable before 202" holds; concurrent requests share one commit (one WAL append locally,
 * one round trip to sqld) instead of queueing for one each. Reads (`all`, `values`) go straight
 * through. The claim is a write that returns its rows (a `returning` statement in a batch,
 * marked `last`): it shares the turn's transaction (one commit on a file, one round trip to
 * sqld) with the completions of its turn, after them and every other unit, so it sees the
 * slots and flow-control room they free as a claim in the next transaction would
 * (bench/README.md, "Fewer round trips (issue 24)"). Completions sharing a commit more than
 * doubled processing on sqld (bench/README.md, "worker freed before the commit").
 *
 * A `batch` is one unit: its statements stay together in one transaction and succeed or fail
 * together. If the shared transaction fails, each unit is retried alone, so one bad statement
 * does not fail its neighbours.
 */
interface Unit {
  statements: Statement[];
  resolve(results: RunResult[]): void;
  reject(error: unknown): void;
}

const isLast = (unit: Unit): boolean => unit.statements[0]!.last === true;

export class GroupCommitDriver implements SqlDriver {
  readonly description: string;
  readonly packRows: boolean | undefined;
  readonly #inner: SqlDriver;
  #queue: Unit[] = [];
  #flushScheduled = false;

  constructor(inner: SqlDriver) {
    this.#inner = inner;
    this.description = inner.description;
    this.packRows = inner.packRows;
  }

  all(sql: string, args?: SqlValue[]): Promise<Row[]> {
    return this.#inner.all(sql, args);
  }

  values(sql: string, args?: SqlValue[]): Promise<SqlValue[][]> {
    return this.#inner.values(sql, args);
  }

  async run(sql: string, args: SqlValue[] = []): Promise<RunResult> {
    const [result] = await this.batch([{ sql, args }]);
    return result!;
  }

  batch(statements: Statement[]): Promise<RunResult[]> {
    if (statements.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.#queue.push({ statements, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        nextTurn(this.#flush);
      }
    });
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  readonly #flush = async (): Promise<void> => {
    this.#flushScheduled = false;
    let units = this.#queue;
    this.#queue = [];
    // Units marked `last` (the claim) go after the others, so they see the turn's other writes
    // (completions freeing flow-control slots) as a later transaction would.
    if (units.length > 1 && units.some(isLast)) units = [...units.filter((unit) => !isLast(unit)), ...units.filter(isLast)];
    if (units.length === 1) return this.#commit(units[0]!);
    try {
      const results = await this.#inner.batch(units.flatMap((unit) => unit.statements));
      let offset = 0;
      for (const unit of units) {
        unit.resolve(results.slice(offset, offset + unit.statements.length));
        offset += unit.statements.length;
      }
    } catch {
      for (const unit of units) await this.#commit(unit);
    }
  };

  async #commit(unit: Unit): Promise<void> {
    try {
      unit.resolve(await this.#inner.batch(unit.statements));
    } catch (error) {
      unit.reject(error);
    }
  }
}
