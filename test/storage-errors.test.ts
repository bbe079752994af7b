import { createClient } from '@libsql/client';
import Database from 'libsql';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { retryBusy } from '../lib/db/driver.ts';
import { storageErrorKind } from '../lib/foundation/storage-errors.ts';
import { freePort, tempDir } from './helpers.ts';
import { sqldAvailable, startSqld } from './sqld.ts';
import { startSqldProcess } from './support/sqld-process.ts';
import { mountTmpfs, tmpfsAvailable, type Tmpfs } from './tmpfs.ts';

/** Every error here is produced for real: a closed port, a killed sqld, a full disk. */
async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

// A missing sqld skips its tests with the reason (fails them in CI).
const sqldOk = await sqldAvailable();

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function loopbackServer(server: ReturnType<typeof createHttpServer> | ReturnType<typeof createTcpServer>): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('storageErrorKind over HTTP (@libsql/client → sqld)', () => {
  it('a closed port is unavailable (fetch failed, ECONNREFUSED)', async () => {
    const client = createClient({ url: `http://127.0.0.1:${await freePort()}` });
    const error = await caught(() => client.execute('SELECT 1'));
    expect(String(error)).toMatch(/fetch failed/);
    expect(storageErrorKind(error)).toBe('unavailable');
  });

  it.skipIf(!sqldOk)('a killed sqld is unavailable, for reads and for write batches', async () => {
    const sqld = await startSqld();
    cleanups.push(() => sqld.stop());
    const client = createClient({ url: sqld.url });
    await client.execute('CREATE TABLE t (x)');
    process.kill(sqld.pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(storageErrorKind(await caught(() => client.execute('SELECT 1')))).toBe('unavailable');
    expect(storageErrorKind(await caught(() => client.batch(['INSERT INTO t VALUES (1)'], 'write')))).toBe('unavailable');
  });

  it('a 5xx from the server (or a proxy in front of it) is unavailable; a 4xx is not', async () => {
    const badGateway = await loopbackServer(createHttpServer((_req, res) => res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway')));
    expect(storageErrorKind(await caught(() => createClient({ url: badGateway }).execute('SELECT 1')))).toBe('unavailable');
    const unauthorized = await loopbackServer(createHttpServer((_req, res) => res.writeHead(401, { 'content-type': 'text/plain' }).end('no')));
    expect(storageErrorKind(await caught(() => createClient({ url: unauthorized }).execute('SELECT 1')))).toBeUndefined();
  });

  it('a connection dropped mid-request is unavailable (other side closed)', async () => {
    const url = await loopbackServer(createTcpServer((socket) => socket.once('data', () => socket.destroy())));
    const error = await caught(() => createClient({ url }).execute('SELECT 1'));
    expect(storageErrorKind(error)).toBe('unavailable');
  });

  it.skipIf(!sqldOk)('sqld on a full disk answers SQLITE_IOERR: unavailable; its reads keep working', async ({ skip }) => {
    if (!(await tmpfsAvailable())) return skip('no tmpfs mount (needs root)');
    const disk = mountTmpfs(2 * 1024 * 1024);
    cleanups.push(() => disk.unmount());
    const sqld = await startSqldProcess({ dbPath: join(disk.dir, 'data.sqld') });
    cleanups.push(() => sqld.kill());
    const client = createClient({ url: sqld.url });
    await client.execute('CREATE TABLE t (x)');
    const error = await caught(async () => {
      for (let i = 0; i < 1000; i++) await client.execute({ sql: 'INSERT INTO t VALUES (?)', args: ['x'.repeat(20_000)] });
    });
    expect((error as { code?: string }).code).toBe('SQLITE_IOERR');
    expect(storageErrorKind(error)).toBe('unavailable');
    expect((await client.execute('SELECT count(*) AS n FROM t')).rows[0]!.n).toBeGreaterThan(0);
  });
});

describe('storageErrorKind on a local file (libsql native and @libsql/client)', () => {
  it('max_page_count reached is SQLITE_FULL: full', async () => {
    const db = new Database(join(tempDir(), 'full.db'));
    cleanups.push(() => db.close());
    db.exec('CREATE TABLE t (x)');
    db.exec('PRAGMA max_page_count = 4');
    const error = await caught(() => {
      for (let i = 0; i < 100; i++) db.prepare('INSERT INTO t VALUES (?)').run('x'.repeat(2000));
    });
    expect((error as { code?: string }).code).toBe('SQLITE_FULL');
    expect(storageErrorKind(error)).toBe('full');
  });

  it('a full disk is SQLITE_FULL through @libsql/client too (a real tmpfs)', async () => {
    if (!(await tmpfsAvailable())) return;
    const disk: Tmpfs = mountTmpfs(256 * 1024);
    cleanups.push(() => disk.unmount());
    const client = createClient({ url: `file:${join(disk.dir, 'tasks.db')}` });
    cleanups.push(() => client.close());
    await client.execute('CREATE TABLE t (x)');
    const error = await caught(async () => {
      for (let i = 0; i < 1000; i++) await client.execute({ sql: 'INSERT INTO t VALUES (?)', args: ['x'.repeat(4000)] });
    });
    expect(storageErrorKind(error)).toBe('full');
  });

  it('a lock held past the busy timeout and our retries is unavailable', async () => {
    const path = join(tempDir(), 'busy.db');
    const holder = new Database(path);
    cleanups.push(() => holder.close());
    holder.exec('CREATE TABLE t (x)');
    holder.exec('BEGIN IMMEDIATE');
    cleanups.push(() => holder.exec('ROLLBACK'));
    const writer = new Database(path, { timeout: 10 });
    cleanups.push(() => writer.close());
    const error = await caught(() => retryBusy(async () => writer.exec('INSERT INTO t VALUES (1)'), { attempts: 2, baseDelayMs: 1 }));
    expect(storageErrorKind(error)).toBe('unavailable');
  });

  it('a read-only database, and one that cannot be opened, are unavailable', async () => {
    const db = new Database(join(tempDir(), 'ro.db'));
    cleanups.push(() => db.close());
    db.exec('CREATE TABLE t (x)');
    db.exec('PRAGMA query_only = 1');
    const readonly = await caught(() => db.exec('INSERT INTO t VALUES (1)'));
    expect((readonly as { code?: string }).code).toBe('SQLITE_READONLY');
    expect(storageErrorKind(readonly)).toBe('unavailable');

    const missingDir = join(tempDir(), 'no', 'such', 'dir', 'x.db');
    expect(storageErrorKind(await caught(() => new Database(missingDir)))).toBe('unavailable');
    expect(storageErrorKind(await caught(() => createClient({ url: `file:${missingDir}` }).execute('SELECT 1')))).toBe('unavailable');
  });

  it('errors that are not the storage’s fault are undefined', async () => {
    const db = new Database(':memory:');
    cleanups.push(() => db.close());
    db.exec('CREATE TABLE t (x PRIMARY KEY)');
    db.exec('INSERT INTO t VALUES (1)');
    expect(storageErrorKind(await caught(() => db.exec('INSERT INTO t VALUES (1)')))).toBeUndefined();
    expect(storageErrorKind(await caught(() => db.exec('SELEKT 1')))).toBeUndefined();
    expect(storageErrorKind(new TypeError('x is not a function'))).toBeUndefined();
    expect(storageErrorKind('a string')).toBeUndefined();
    expect(storageErrorKind(undefined)).toBeUndefined();
  });
});
