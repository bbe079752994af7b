import { spawn } from 'node:child_process';
import { expect } from 'vitest';
import { EXIT } from '../../local/cli-api.ts';
import { ROOT } from '../processes.ts';

/** The `task-pool` CLI as a real process, for the tests of its API commands (tasks, batch, schedules, types). */

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `task-pool <args>` (local/cli.ts through tsx) with `env` on top of this process's
 * environment minus the CLI's own variables; `stdin` is written to it (else it reads nothing).
 */
export function cli(args: string[], options: { env?: Record<string, string>; stdin?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const { API_TOKEN: _a, TASK_POOL_TOKEN: _t, TASK_POOL_URL: _u, ...inherited } = process.env;
    const proc = spawn('node', ['--import', 'tsx', 'local/cli.ts', ...args], {
      cwd: ROOT,
      env: { ...inherited, ...options.env },
      stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code, stdout, stderr }));
    if (options.stdin !== undefined) proc.stdin!.end(options.stdin);
  });
}

/** The JSON a `--json` run printed, after checking it exited 0 (its stderr is the failure message). */
export function cliJson<T>(result: CliResult): T {
  expect(result.code, result.stderr).toBe(EXIT.ok);
  return JSON.parse(result.stdout) as T;
}
