import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import type { RunDetailJson } from '../../lib/workflows/service.ts';
import { createRuntime, type Runtime } from '../../local/runtime.ts';
import { workflows } from '../fixtures/workflows.ts';
import { startRuntime, tempDir, testConfig, waitFor } from '../helpers.ts';
import { killAll, spawnService, type ServiceProcess } from '../processes.ts';

/**
 * What the process-level workflow tests share: `serve` and `worker` processes running the
 * workflows fixture (test/fixtures/workflows.ts), the test process's own view of the same
 * database (a runtime that processes nothing: it starts, reads and cancels runs and sends
 * events the way the API will), and the executions file each step appends to.
 */

export const WORKFLOWS_FIXTURE = fileURLToPath(new URL('../fixtures/workflows.ts', import.meta.url));

/** A `serve` or `worker` process; `url` is serve's. */
export type WorkflowProcess = ServiceProcess & { url?: string };

/** `serve` or `worker` with the fixture's workflows and handlers; resolves once it processes. */
export async function startWorkflowProcess(env: Record<string, string>, mode: 'serve' | 'worker' = 'serve'): Promise<WorkflowProcess> {
  const service = spawnService([mode, '--handlers', WORKFLOWS_FIXTURE], env);
  // Generous: a start under tsx on a busy machine has taken over 20 s.
  const started = await service.waitForLog((r) => r.mode === mode && typeof r.worker === 'string', 40_000);
  return Object.assign(service, { url: started.url as string | undefined });
}

/** SIGTERM to each, then their exit codes once each has exited and its log was read to the end. */
export async function stopAll(processes: ServiceProcess[]): Promise<(number | string)[]> {
  for (const p of processes) p.proc.kill('SIGTERM');
  const codes = await Promise.all(processes.map((p) => p.exited));
  await Promise.all(processes.map((p) => (p.proc.stdout!.readableEnded ? undefined : once(p.proc.stdout!, 'end'))));
  return codes;
}

/**
 * A runtime in the test process on `databaseUrl` with the fixture's workflows registered and
 * processing off: everything it does reaches the processes through the database only. Open it
 * before spawning them: it migrates the file.
 */
export function workflowClient(databaseUrl: string): Promise<Runtime> {
  return startRuntime({ workflows, processing: false, env: { DATABASE_URL: databaseUrl } });
}

export interface Workspace {
  dir: string;
  /** The executions file (empty). */
  file: string;
  /** A path not created yet: the gated step waits for it. */
  gate: string;
  dbUrl: string;
}

function workspaceIn(dir: string): Workspace {
  const file = join(dir, 'executions.log');
  writeFileSync(file, '');
  return { dir, file, gate: join(dir, 'gate'), dbUrl: `file:${join(dir, 'tasks.db')}` };
}

/** A workspace in a fresh temp dir, removed after the current test. */
export function workspace(): Workspace {
  return workspaceIn(tempDir('task-pool-wf-'));
}

/**
 * One workspace, client and `serve` process for every test of a file (started in beforeAll,
 * gone in afterAll): tests that each start their own runs need not pay for a process each.
 * Read the fields inside tests.
 */
export function useWorkflowProcess(env: Record<string, string> = {}): Workspace & { client: Runtime; service: WorkflowProcess } {
  const shared = {} as Workspace & { client: Runtime; service: WorkflowProcess };
  beforeAll(async () => {
    Object.assign(shared, workspaceIn(mkdtempSync(join(tmpdir(), 'task-pool-wf-'))));
    shared.client = await createRuntime({ workflows, processing: false, config: testConfig({ DATABASE_URL: shared.dbUrl }) });
    shared.service = await startWorkflowProcess({ DATABASE_URL: shared.dbUrl, ...env });
  });
  afterAll(async () => {
    if (shared.service) killAll([shared.service]);
    await shared.client?.shutdown();
    if (shared.dir) rmSync(shared.dir, { recursive: true, force: true });
  });
  return shared;
}

export interface Execution {
  run: string;
  what: string;
  pid: number;
}

/** Every line the fixture appended, in order. */
export function executions(file: string): Execution[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [run, what, pid] = line.split(' ');
      return { run: run!, what: what!, pid: Number(pid) };
    });
}

/** What `run` executed, in order (`what` of each line). */
export function executed(file: string, run: string): string[] {
  return executions(file).filter((e) => e.run === run).map((e) => e.what);
}

const ENDED = new Set(['completed', 'failed', 'cancelled']);

/** The run once it has ended (completed, failed or cancelled), with its steps. */
export function runEnded(client: Runtime, id: string, timeoutMs = 20_000): Promise<RunDetailJson> {
  return waitFor(async () => {
    const run = await client.workflows.getRun(id);
    return ENDED.has(run.status) ? run : null;
  }, timeoutMs, `run ${id} to end`);
}

/** The run once it is pending on something of `kind` (a sleep, an event, a child). */
export function runWaitingFor(client: Runtime, id: string, kind: 'sleep' | 'event' | 'child' | 'retry', timeoutMs = 20_000): Promise<RunDetailJson> {
  return waitFor(async () => {
    const run = await client.workflows.getRun(id);
    return run.status === 'pending' && run.waiting_for?.some((w) => w.kind === kind) ? run : null;
  }, timeoutMs, `run ${id} to wait for a ${kind}`);
}

/** Resolves once `file` holds a line for `run` with `what`. */
export function whenExecuted(file: string, run: string, what: string, timeoutMs = 20_000): Promise<Execution> {
  return waitFor(() => executions(file).find((e) => e.run === run && e.what === what), timeoutMs, `run ${run} to execute ${what}`);
}
