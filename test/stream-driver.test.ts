import { createClient } from '@libsql/client';
import * as hrana from '@libsql/hrana-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ClientDriver } from '../lib/db/client-driver.ts';
import { StreamDriver } from '../local/stream-driver.ts';
import { streamTarget } from '../local/remote-transport.ts';
import { startTcpProxy } from './support/proxies.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * Writes on one kept Hrana stream (local/stream-driver.ts) against a real sqld: a batch is one
 * transaction that leaves nothing behind when a statement fails, errors carry SQLite's codes,
 * concurrent writes queue on the stream, and a replaced socket loses none of them.
 */
const available = await sqldAvailable();

describe.skipIf(!available)('StreamDriver on sqld', () => {
  const sqld = useSqld();

  async function open(url = sqld.url, connectionMaxAgeMs?: number) {
    await sqld.reset();
    const client = createClient({ url: sqld.url });
    const driver = new StreamDriver('sqld', { ...streamTarget(url), reads: new ClientDriver(client, 'sqld'), connectionMaxAgeMs });
    onTestFinished(() => driver.close());
    await driver.run('CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER)');
    await driver.run('DELETE FROM t');
    return driver;
  }

  it('a batch is all or nothing; the stream is usable after a failed one; errors keep their SQLite code', async () => {
    const driver = await open();
    await driver.batch([{ sql: "INSERT INTO t VALUES ('a', 1)", args: [] }]);
    const failed = await driver
      .batch([
        { sql: "INSERT INTO t VALUES ('b', 2)", args: [] },
        { sql: "INSERT INTO t VALUES ('a', 3)", args: [] },
      ])
      .then(() => undefined, (error: unknown) => error as { code?: string; message: string });
    expect(failed?.code).toMatch(/^SQLITE_CONSTRAINT/);
    expect(failed?.message).toMatch(/UNIQUE constraint failed/);
    // 'b' was rolled back with the batch, and the next batch is not inside a leftover transaction:
    // another connection sees its write as soon as it is answered.
    const [inserted, updated] = await driver.batch([
      { sql: "INSERT INTO t VALUES ('c', 4)", args: [] },
      { sql: 'UPDATE t SET v = v + 1 WHERE k = ? RETURNING k, v', args: ['a'], returning: true, asValues: true },
    ]);
    expect(inserted).toMatchObject({ changes: 1 });
    expect(updated!.values).toEqual([['a', 2]]);
    const other = createClient({ url: sqld.url });
    onTestFinished(() => other.close());
    expect((await other.execute('SELECT k, v FROM t ORDER BY k')).rows.map((r) => [r.k, r.v])).toEqual([
      ['a', 2],
      ['c', 4],
    ]);
  });

  it('named rows, values and last insert rowid as ClientDriver gives them', async () => {
    const driver = await open();
    const first = await driver.run("INSERT INTO t VALUES ('x', 9007199254740991)");
    expect(first.changes).toBe(1);
    expect(first.lastInsertRowid).toBeGreaterThan(0);
    const [named] = await driver.batch([{ sql: 'SELECT k, v, NULL AS n FROM t', args: [], returning: true }]);
    expect(named!.rows).toEqual([{ k: 'x', v: 9007199254740991, n: null }]);
    expect(await driver.all('SELECT k FROM t')).toEqual([{ k: 'x' }]);
  });

  it('a batch while another connection holds the write lock lands once the lock is released (busy is retried, not an error)', async () => {
    const driver = await open();
    const holder = hrana.openWs(streamTarget(sqld.url).url);
    onTestFinished(() => holder.close());
    const held = holder.openStream();
    await held.run('BEGIN IMMEDIATE');
    await held.run("INSERT INTO t VALUES ('held', 0)");
    const write = driver.batch([
      { sql: "INSERT INTO t VALUES ('w1', 1)", args: [] },
      { sql: "INSERT INTO t VALUES ('w2', 2)", args: [] },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await held.run('COMMIT');
    expect(await write).toHaveLength(2);
    expect(await driver.all('SELECT k FROM t ORDER BY k')).toEqual([{ k: 'held' }, { k: 'w1' }, { k: 'w2' }]);
  });

  it('200 writes at once queue on the one stream: every one answered, none busy', async () => {
    const driver = await open();
    await Promise.all(Array.from({ length: 200 }, (_, i) => driver.run('INSERT INTO t VALUES (?, ?)', [`k${i}`, i])));
    expect(await driver.all('SELECT count(*) AS n FROM t')).toEqual([{ n: 200 }]);
  });

  it('a socket past its age is replaced between writes; writes in flight on the old one still land', async () => {
    const proxy = await startTcpProxy(new URL(sqld.url).host);
    onTestFinished(() => proxy.close());
    const driver = await open(`http://${proxy.host}`, 0);
    const before = proxy.opened;
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => driver.run('INSERT INTO t VALUES (?, ?)', [`r${round}-${i}`, i])));
    }
    expect(proxy.opened - before).toBeGreaterThanOrEqual(5);
    expect(await driver.all('SELECT count(*) AS n FROM t')).toEqual([{ n: 100 }]);
    // A statement's own error on a socket replaced for its age (not for a timeout) is still its own.
    const [duplicate] = await Promise.all([
      driver.run('INSERT INTO t VALUES (?, ?)', ['r0-0', 0]).then(() => undefined, (error: unknown) => error as { code?: string }),
      driver.run('INSERT INTO t VALUES (?, ?)', ['after', 0]),
    ]);
    expect(duplicate?.code).toMatch(/^SQLITE_CONSTRAINT/);
  });
});
