import { readFileSync } from 'node:fs';
import { createClient } from '@libsql/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnService } from './processes.ts';
import { sqldAvailable, startSqld, type Sqld } from './sqld.ts';

/**
 * Function platforms do not migrate at start: the deploy step runs `task-pool migrate` with
 * DATABASE_URL pointing at the remote server. This runs that command against a fresh sqld.
 */
const available = await sqldAvailable();

describe.skipIf(!available)('task-pool migrate on a remote libSQL server', () => {
  let sqld: Sqld;
  beforeAll(async () => {
    sqld = await startSqld();
  });
  afterAll(async () => {
    await sqld?.stop();
  });

  const migrate = async () => {
    const run = spawnService(['migrate'], { DATABASE_URL: sqld.url, LOG_LEVEL: 'info' });
    const code = await run.exited;
    return { code, stderr: run.stderr(), lines: run.lines };
  };

  it('creates the schema over HTTP, and a second run is a no-op', async () => {
    const first = await migrate();
    expect(first.code, first.stderr).toBe(0);
    expect(first.lines.some((line) => line.includes('migrations applied'))).toBe(true);
    expect((await migrate()).code).toBe(0);

    const client = createClient({ url: sqld.url });
    try {
      const tables = await client.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('tasks', '__drizzle_migrations') ORDER BY name");
      expect(tables.rows.map((r) => r.name)).toEqual(['__drizzle_migrations', 'tasks']);
      const applied = await client.execute('SELECT count(*) AS n FROM __drizzle_migrations');
      const journal = JSON.parse(readFileSync(new URL('../drizzle/meta/_journal.json', import.meta.url), 'utf8')) as { entries: unknown[] };
      expect(Number(applied.rows[0]!.n)).toBe(journal.entries.length);
    } finally {
      client.close();
    }
  });
});
