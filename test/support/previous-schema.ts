import { createClient } from '@libsql/client';
import { drizzle } from 'drizzle-orm/libsql';
import { migrate } from 'drizzle-orm/libsql/migrator';
import { cpSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MIGRATIONS_FOLDER } from '../../local/database.ts';

/**
 * The schema before task ids became the rowid (migrations 0000–0003: a UUIDv7 text key): the
 * migration test starts from it (test/ids.storage.test.ts), issue 13 states its enqueue goal
 * against its raw single-row ceiling (bench `driver`), and the `pages` scenario compares it.
 */

/** Creates the database at `path` with migrations 0000–0003 only (a copy of drizzle/ in `dir`). */
export async function migratePreviousSchema(dir: string, path: string): Promise<void> {
  const folder = join(dir, 'drizzle-0003');
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
  for (const entry of journal.entries.filter((e) => e.tag >= '0004')) unlinkSync(join(folder, `${entry.tag}.sql`));
  journal.entries = journal.entries.filter((e) => e.tag < '0004');
  writeFileSync(journalPath, JSON.stringify(journal));
  const client = createClient({ url: `file:${path}` });
  await client.execute('PRAGMA journal_mode = WAL');
  await migrate(drizzle(client), { migrationsFolder: folder });
  client.close();
}

/** UUIDv7-shaped, increasing ids, as the previous schema's rows had (cheap: no randomness). */
export function uuidShapedIds(): () => string {
  let seq = 0;
  return () => `0190${(seq++).toString(16).padStart(28, '0')}`.replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
}
