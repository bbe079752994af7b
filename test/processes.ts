import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Real `task-pool` processes for process-level tests: spawn, read their JSON logs, signal them. */

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const HANDLERS_FIXTURE = fileURLToPath(new URL('./fixtures/handlers.ts', import.meta.url));

export interface ServiceProcess {
  proc: ChildProcess;
  /** Every stdout line so far, and stderr as text. */
  lines: string[];
  stderr: () => string;
  /** Resolves with the first log line (parsed) that satisfies `match`. */
  waitForLog(match: (record: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  exited: Promise<number | string>;
}

const BASE_ENV = {
  SIMULATE_MIN_MS: '0',
  SIMULATE_MAX_MS: '0',
  TASK_POLL_INTERVAL_SECONDS: '0.2',
  RATE_LIMIT_PER_MINUTE: '0',
  LOG_LEVEL: 'info',
  APP_PORT: '0',
};

/**
 * Spawns `node --import tsx local/cli.ts <args>` (or any command, in `cwd`: the repository by
 * default) with a test environment, over `baseEnv` (default: this process's environment).
 */
export function spawnService(
  args: string[],
  env: Record<string, string>,
  command: string[] = ['node', '--import', 'tsx', 'local/cli.ts'],
  options: { cwd?: string; baseEnv?: NodeJS.ProcessEnv } = {},
): ServiceProcess {
  const proc = spawn(command[0]!, [...command.slice(1), ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...(options.baseEnv ?? process.env), ...BASE_ENV, ...env, CI: process.env.CI ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  const waiters: { match: (r: Record<string, unknown>) => boolean; resolve: (r: Record<string, unknown>) => void }[] = [];
  let buffer = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      lines.push(line);
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      for (const waiter of [...waiters]) {
        if (waiter.match(record)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(record);
        }
      }
    }
  });
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return {
    proc,
    lines,
    stderr: () => stderr,
    exited,
    waitForLog(match, timeoutMs = 20_000) {
      for (const line of lines) {
        try {
          const record = JSON.parse(line) as Record<string, unknown>;
          if (match(record)) return Promise.resolve(record);
        } catch {
          // not JSON
        }
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; stdout:\n${lines.slice(-20).join('\n')}\nstderr:\n${stderr}`)), timeoutMs);
        waiters.push({ match, resolve: (r) => (clearTimeout(timer), resolve(r)) });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`process exited (${code}) before the log line; stdout:\n${lines.slice(-20).join('\n')}\nstderr:\n${stderr}`));
        });
      });
    },
  };
}

/** Starts `serve` and resolves with its base URL once it listens. */
export async function startServe(env: Record<string, string>, extraArgs: string[] = []): Promise<ServiceProcess & { url: string }> {
  const service = spawnService(['serve', '--handlers', HANDLERS_FIXTURE, ...extraArgs], env);
  const record = await service.waitForLog((r) => typeof r.url === 'string' && r.mode === 'serve');
  return Object.assign(service, { url: record.url as string });
}

/** Kills whatever is left at the end of a test. */
export function killAll(services: ServiceProcess[]): void {
  for (const s of services) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
}

export async function postTask(url: string, body: unknown): Promise<{ id: string; status: string }> {
  const response = await fetch(`${url}/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (response.status !== 202) throw new Error(`submit answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as { id: string; status: string };
}
