import { createClient } from '@libsql/client';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ClientDriver } from '../lib/db/client-driver.ts';
import type { Row, RunResult, SqlDriver, SqlValue, Statement } from '../lib/db/driver.ts';
import { GroupCommitDriver } from '../lib/db/group-commit.ts';
import { NativeDriver } from '../local/native-driver.ts';
import { tempDir } from './helpers.ts';

/**
 * Group commit (lib/db/group-commit.ts) over a real libSQL file, with both file drivers. The
 * transactions are observed by a wrapper that forwards every call to the real driver and
 * records the batches it was asked for: one batch is one transaction (SqlDriver.batch).
 */

class RecordingDriver implements SqlDriver {
  readonly description: string;
  /** The statements of each batch() call, in call order. */
  readonly batches: Statement[][] = [];
  readonly #inner: SqlDriver;

  constructor(inner: SqlDriver) {
    this.#inner = inner;
    this.description = inner.description;
  }

  all(sql: string, args?: SqlValue[]): Promise<Row[]> {
    return this.#inner.all(sql, args);
  }

  values(sql: string, args?: SqlValue[]): Promise<SqlValue[][]> {
    return this.#inner.values(sql, args);
  }

  run(sql: string, args?: SqlValue[]): Promise<RunResult> {
    return this.#inner.run(sql, args);
  }

  batch(statements: Statement[]): Promise<RunResult[]> {
    this.batches.push(statements);
    return this.#inner.batch(statements);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

const DRIVERS = {
  native: (path: string): SqlDriver => new NativeDriver(path),
  client: (path: string): SqlDriver => new ClientDriver(createClient({ url: `file:${path}` }), path),
};

async function setup(kind: keyof typeof DRIVERS) {
  const raw = DRIVERS[kind](join(tempDir(), 'group-commit.db'));
  onTestFinished(() => raw.close());
  await raw.run('CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
  const recorder = new RecordingDriver(raw);
  const driver = new GroupCommitDriver(recorder);
  const insert = (k: string, v = 0): Statement => ({ sql: 'INSERT INTO kv (k, v) VALUES (?, ?)', args: [k, v] });
  const keys = async () => (await raw.all('SELECT k FROM kv ORDER BY k')).map((row) => row.k);
  return { raw, recorder, driver, insert, keys };
}

describe.each(Object.keys(DRIVERS) as (keyof typeof DRIVERS)[])('GroupCommitDriver over the %s driver', (kind) => {
  it('writes requested in one turn share one transaction, each caller getting its own row counts', async () => {
    const db = await setup(kind);
    await db.driver.batch([db.insert('a', 1), db.insert('b', 1), db.insert('c', 2)]);
    db.recorder.batches.length = 0;

    const results = await Promise.all([
      db.driver.run('UPDATE kv SET v = v + 10 WHERE v = 1'),
      db.driver.run("INSERT INTO kv (k, v) VALUES ('a', 0) ON CONFLICT DO NOTHING"),
      db.driver.batch([db.insert('d'), { sql: 'DELETE FROM kv WHERE k IN (?, ?, ?)', args: ['c', 'd', 'nope'] }]),
      db.driver.run('UPDATE kv SET v = 99 WHERE k = ?', ['b']),
    ]);
    const changes = (r: RunResult | RunResult[]) => (Array.isArray(r) ? r.map((x) => x.changes) : r.changes);
    expect(results.map(changes)).toEqual([2, 0, [1, 2], 1]);
    // The insert among them learns its own row's id (a, b, c are rows 1 to 3).
    expect((results[2] as RunResult[])[0]!.lastInsertRowid).toBe(4);
    expect(db.recorder.batches).toHaveLength(1);
    expect(db.recorder.batches[0]).toHaveLength(5);
    expect(await db.raw.all('SELECT k, v FROM kv ORDER BY k')).toEqual([
      { k: 'a', v: 11 },
      { k: 'b', v: 99 },
    ]);
  });

  it('writes in different turns are different transactions; reads do not batch', async () => {
    const db = await setup(kind);
    expect(await db.driver.run(db.insert('x').sql, db.insert('x').args)).toEqual({ changes: 1, lastInsertRowid: 1 });
    expect(await db.driver.run(db.insert('y').sql, db.insert('y').args)).toEqual({ changes: 1, lastInsertRowid: 2 });
    expect(await db.driver.all('SELECT count(*) AS n FROM kv')).toEqual([{ n: 2 }]);
    expect(await db.driver.batch([])).toEqual([]);
    expect(db.recorder.batches.map((b) => b.length)).toEqual([1, 1]);
  });

  it('a unit that fails is rejected alone: its neighbours in the same turn commit', async () => {
    const db = await setup(kind);
    const outcomes = await Promise.allSettled([
      db.driver.run(db.insert('first').sql, db.insert('first').args),
      db.driver.batch([db.insert('second'), { sql: 'INSERT INTO missing_table VALUES (1)', args: [] }]),
      db.driver.batch([db.insert('third'), db.insert('fourth')]),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(Error);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/missing_table/);
    expect(outcomes[2]).toEqual({ status: 'fulfilled', value: [{ changes: 1, lastInsertRowid: 2 }, { changes: 1, lastInsertRowid: 3 }] });
    // The failing unit's good statement did not commit: a batch is all or nothing.
    expect(await db.keys()).toEqual(['first', 'fourth', 'third']);
    // One shared attempt, then each unit alone.
    expect(db.recorder.batches.map((b) => b.length)).toEqual([5, 1, 2, 2]);
  });

  it('units that conflict with each other: the first wins, the later one is rejected', async () => {
    const db = await setup(kind);
    const outcomes = await Promise.allSettled([db.driver.batch([db.insert('same', 1)]), db.driver.batch([db.insert('other'), db.insert('same', 2)])]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected']);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/UNIQUE/i);
    expect(await db.raw.all('SELECT k, v FROM kv ORDER BY k')).toEqual([{ k: 'same', v: 1 }]);
  });

  it('a batch alone is atomic: a failing statement undoes the ones before it', async () => {
    const db = await setup(kind);
    await expect(db.driver.batch([db.insert('p'), db.insert('q'), db.insert('p')])).rejects.toThrow(/UNIQUE/i);
    expect(await db.keys()).toEqual([]);
    // The database is usable afterwards (the transaction was rolled back, not left open).
    expect(await db.driver.run(db.insert('p').sql, db.insert('p').args)).toEqual({ changes: 1, lastInsertRowid: 1 });
    expect(await db.keys()).toEqual(['p']);
  });
});
