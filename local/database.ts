import { createClient } from '@libsql/client';
import { drizzle } from 'drizzle-orm/libsql';
import { migrate } from 'drizzle-orm/libsql/migrator';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redactUrl } from '../lib/config/config.ts';
import { ClientDriver } from '../lib/db/client-driver.ts';
import type { SqlDriver } from '../lib/db/driver.ts';
import { NativeDriver } from './native-driver.ts';
import { openRemoteDriver, type DatabaseTransport, type RemoteClientOptions } from './remote-transport.ts';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../drizzle', import.meta.url));

export interface DatabaseOptions {
  url: string;
  authToken?: string;
  /** `native` (default for files): the libsql package with cached statements. */
  fileDriver?: 'native' | 'client';
  /** Remote URLs: DATABASE_TRANSPORT (local/remote-transport.ts); default `auto`. */
  transport?: DatabaseTransport;
  /** Remote URLs: DATABASE_TIMEOUT_SECONDS in ms; default 30 s. */
  timeoutMs?: number;
  /** Where the remote transport's choice and connection replacements are logged. */
  logger?: RemoteClientOptions['logger'];
}

/** `file:tasks.db` → `tasks.db`; `file:///a/b.db` → `/a/b.db`. */
export function filePath(url: string): string {
  const rest = url.slice('file:'.length).split('?')[0]!;
  return rest.startsWith('//') ? fileURLToPath(url.split('?')[0]!) : rest;
}

/**
 * Applies drizzle-kit's migrations (drizzle/) through @libsql/client, for a file or a remote
 * server. Re-running is a no-op. Processes starting together on one file may race to create
 * the table: the loser retries and then finds the migration recorded.
 */
export async function migrateDatabase(options: DatabaseOptions): Promise<void> {
  const client = createClient({ url: options.url, authToken: options.authToken, timeout: 5000 } as Parameters<typeof createClient>[0]);
  try {
    if (options.url.startsWith('file:')) await client.execute('PRAGMA journal_mode = WAL');
    for (let attempt = 1; ; attempt++) {
      try {
        await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_FOLDER });
        return;
      } catch (error) {
        if (attempt >= 5) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt + Math.random() * 100));
      }
    }
  } finally {
    client.close();
  }
}

/** What the logs call a database: a file's absolute path, else the URL without credentials. */
export function describeDatabase(url: string): string {
  return url.startsWith('file:') ? resolve(filePath(url)) : redactUrl(url);
}

/** Opens the driver the repository runs on. Migrations are applied first. */
export async function openDatabase(options: DatabaseOptions): Promise<SqlDriver> {
  await migrateDatabase(options);
  if (options.url.startsWith('file:') && options.fileDriver !== 'client') {
    return new NativeDriver(filePath(options.url), { description: describeDatabase(options.url) });
  }
  if (!options.url.startsWith('file:')) {
    return openRemoteDriver({
      url: options.url,
      authToken: options.authToken,
      transport: options.transport ?? 'auto',
      timeoutMs: options.timeoutMs ?? 30_000,
      logger: options.logger,
    });
  }
  const client = createClient({ url: options.url, authToken: options.authToken, timeout: 5000 } as Parameters<typeof createClient>[0]);
  await client.execute('PRAGMA synchronous = NORMAL');
  return new ClientDriver(client, describeDatabase(options.url));
}
