import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from './helpers.ts';
import { killAll, ROOT, spawnService, type ServiceProcess } from './processes.ts';

/**
 * The `task-pool` bin (local/bin.mjs) as users start it: directly, through `npx` from another
 * project, and from a shell. Real processes and signals; the server's pid comes from its
 * start-up line.
 */

const services: ServiceProcess[] = [];
const orphans: number[] = [];
afterEach(() => {
  killAll(services.splice(0));
  for (const pid of orphans.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

/** Whether `pid` still runs (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = `/proc/${pid}/stat`;
  return !(existsSync(stat) && /^\d+ \(.*\) Z/.test(readFileSync(stat, 'utf8')));
}

async function startupLine(service: ServiceProcess): Promise<{ url: string; pid: number }> {
  // Generous: a loaded machine takes seconds to start tsx, and the npx run starts npm first.
  const line = await service.waitForLog((r) => r.mode === 'serve', 60_000);
  return { url: line.url as string, pid: line.pid as number };
}

/** A project of a user's: `node_modules/.bin/task-pool` links to the bin, as npm installs it. */
function userProject(): string {
  const dir = tempDir('task-pool-project-');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'a-project', version: '1.0.0', private: true }));
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(join(ROOT, 'local', 'bin.mjs'), join(dir, 'node_modules', '.bin', 'task-pool'));
  return dir;
}

const env = () => ({ DATABASE_DSN: join(tempDir(), 'tasks.db'), SHUTDOWN_TIMEOUT_SECONDS: '5' });

// Each process test may take two minutes: tsx start-up (and npm's, under npx) takes many
// seconds on a loaded machine.
describe('the task-pool bin', () => {
  it('runs the CLI in its own process: SIGTERM to the bin shuts the server down, exit 0', async () => {
    const bin = spawnService(['serve'], env(), ['node', 'local/bin.mjs']);
    services.push(bin);
    const { url, pid } = await startupLine(bin);
    expect(pid).toBe(bin.proc.pid);
    bin.proc.kill('SIGTERM');
    expect(await bin.exited).toBe(0);
    expect(bin.lines.some((l) => l.includes('"shutdown complete"'))).toBe(true);
    await expect(fetch(url)).rejects.toThrow();
  }, 120_000);

  it('npx task-pool serve from another project: the dashboard renders; SIGTERM to npx stops the server', async () => {
    // npm runs `sh -c "task-pool serve"` and passes SIGTERM to that shell only; dash exits
    // without passing it on. No update check or registry: the bin is installed.
    const npx = spawnService(['task-pool', 'serve'], { ...env(), npm_config_update_notifier: 'false', npm_config_offline: 'true' }, ['npx'], { cwd: userProject() });
    services.push(npx);
    const { url, pid } = await startupLine(npx);
    orphans.push(pid);
    expect(pid).not.toBe(npx.proc.pid);
    expect((await fetch(`${url}/ui`)).status).toBe(200);

    npx.proc.kill('SIGTERM');
    await npx.exited;
    await waitFor(() => !alive(pid), 15_000, `the server (pid ${pid}) to exit`);
    expect(npx.lines.some((l) => l.includes('"shutdown complete"'))).toBe(true);
    await expect(fetch(url)).rejects.toThrow();
  }, 120_000);

  it('every .tsx file names its JSX runtime: run from another project, tsx compiles ours without our tsconfig', () => {
    const sources = (dir: string): string[] =>
      readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.tsx') ? [join(dir, entry.name)] : [],
      );
    const files = ['lib', 'functions', 'local'].flatMap(sources);
    expect(files.length).toBeGreaterThan(0);
    const without = files.filter((file) => !readFileSync(join(ROOT, file), 'utf8').startsWith('/** @jsxRuntime automatic @jsxImportSource hono/jsx */\n'));
    expect(without).toEqual([]);
  });

  it('outside npm, a server whose parent shell exits keeps serving (`nohup task-pool serve &`)', async () => {
    // Not started by npm (no npm_command): a parent that goes away is not a stop request.
    const shell = spawnService([], { ...env(), npm_command: '' }, ['sh', '-c', 'node local/bin.mjs serve & wait']);
    services.push(shell);
    const { url, pid } = await startupLine(shell);
    orphans.push(pid);
    shell.proc.kill('SIGTERM');
    await shell.exited;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(alive(pid)).toBe(true);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !alive(pid), 15_000, `the server (pid ${pid}) to exit`);
  }, 120_000);
});
