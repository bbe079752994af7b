import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startSqldProcess, type SqldProcess } from './support/sqld-process.ts';

/**
 * A real sqld that a test can kill and start again on the same port and data dir: a database
 * outage as clients see it (connections refused, then the same URL answering again with the
 * same data). test/sqld.ts's startSqld is the one to use when nothing restarts.
 */
export interface RestartableSqld {
  url: string;
  /** SIGKILL: no clean shutdown, like a crashed or OOM-killed server. */
  kill(): Promise<void>;
  /** Starts it again on the same port; resolves when `/health` answers. */
  start(): Promise<void>;
  /** Kills it and removes its data. */
  remove(): Promise<void>;
}

export async function startRestartableSqld(): Promise<RestartableSqld> {
  const dir = mkdtempSync(join(tmpdir(), 'task-pool-sqld-'));
  const port = await freePort();
  const dbPath = join(dir, 'data.sqld');
  let server: SqldProcess | undefined = await startSqldProcess({ dbPath, port });
  const kill = async () => {
    await server?.kill();
    server = undefined;
  };
  return {
    url: server.url,
    kill,
    start: async () => {
      server = await startSqldProcess({ dbPath, port });
    },
    remove: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
