import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, SQLD_BINARY } from './support/sqld-process.ts';

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
  const url = `http://127.0.0.1:${port}`;
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const kill = async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    proc = undefined;
  };
  const start = async () => {
    const child = spawn(SQLD_BINARY, ['--db-path', join(dir, 'data.sqld'), '--http-listen-addr', `127.0.0.1:${port}`, '--no-welcome'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    proc = child;
    exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 15_000;
    while (!(await fetch(`${url}/health`).then((r) => r.ok, () => false))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await kill();
        throw new Error(`sqld did not answer /health on port ${port}: ${stderr.trim()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  await start();
  return {
    url,
    kill,
    start,
    async remove() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
