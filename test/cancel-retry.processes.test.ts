import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskJson } from '../lib/tasks/model.ts';
import { migrateDatabase } from '../local/database.ts';
import { waitFor } from './helpers.ts';
import { killAll, postTask, startServe, type ServiceProcess } from './processes.ts';

/**
 * "Never run twice at once" across real processes (issue 19): two `task-pool serve` processes
 * on one libSQL file and the `timed` fixture handler, which writes a line when a run starts and
 * when it ends. A running task is cancelled and retried at once, through the other process or
 * through the one running it; the retried run must not start before the first has ended,
 * unless the first one's lease ran out first (a handler that ignores its signal longer than
 * the lease, a process killed after the cancel).
 *
 * The lease is 6 s: a cancel reaches a handler in another process at its next heartbeat, up to
 * a third of the lease after the cancel, and a handler that then goes on for 2 s still ends
 * well before the lease does, so the tests can tell the handler's return from the lease's end.
 */

const LEASE_MS = 6000;

interface Run {
  pid: number;
  run: string;
  start: number;
  end?: number;
}

/** The runs of task `id` in the fixture's file, in the order they started. */
function runsOf(file: string, id: string): Run[] {
  if (!existsSync(file)) return [];
  const runs = new Map<string, Run>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [what, taskId, pid, , run, at] = line.split(' ');
    if (taskId !== id || !run) continue;
    if (what === 'start') runs.set(run, { pid: Number(pid), run, start: Number(at) });
    else if (what === 'end') runs.get(run)!.end = Number(at);
  }
  return [...runs.values()].sort((a, b) => a.start - b.start);
}

async function post(url: string, path: string): Promise<TaskJson> {
  const response = await fetch(`${url}${path}`, { method: 'POST' });
  if (response.status !== 200) throw new Error(`POST ${path} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as TaskJson;
}

async function get(url: string, id: string): Promise<TaskJson> {
  return (await (await fetch(`${url}/tasks/${id}`)).json()) as TaskJson;
}

/** Two serve processes on one new database file in `dir`. */
async function startPair(dir: string): Promise<{ pair: ServiceProcess[]; url: (s: ServiceProcess) => string }> {
  const db = join(dir, 'tasks.db');
  await migrateDatabase({ url: `file:${db}` });
  const env = { DATABASE_DSN: db, TASK_LEASE_SECONDS: String(LEASE_MS / 1000), TASK_WORKERS: '4' };
  const pair = await Promise.all([startServe(env), startServe(env)]);
  return { pair, url: (s) => (s as ServiceProcess & { url: string }).url };
}

describe('a running task cancelled and retried at once (two serve processes, one file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'task-pool-'));
  let pair: ServiceProcess[] = [];
  let url: (s: ServiceProcess) => string;
  beforeAll(async () => {
    ({ pair, url } = await startPair(dir));
  });
  afterAll(() => {
    killAll(pair);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Submits a `timed` task and resolves once it runs: which process runs it and which does not. */
  async function started(payload: { ms: number; afterAbortMs?: number }) {
    const file = join(dir, `runs-${Math.random().toString(36).slice(2)}.txt`);
    const { id } = await postTask(url(pair[0]!), { title: 'timed', description: 'never twice at once', type: 'timed', payload: { file, ...payload } });
    const [first] = await waitFor(() => (runsOf(file, id).length > 0 ? runsOf(file, id) : null), 10_000, 'the first run');
    const runner = pair.find((s) => s.proc.pid === first!.pid)!;
    const other = pair.find((s) => s !== runner)!;
    return { id, file, runner, other };
  }

  /** Cancels then retries through `via`; returns the task as the cancel left it and when the retry answered. */
  async function cancelAndRetry(via: ServiceProcess, id: string) {
    const before = await get(url(via), id);
    const cancelled = await post(url(via), `/tasks/${id}/cancel`);
    await post(url(via), `/tasks/${id}/retry`);
    const retriedAt = Date.now();
    // The lease the first attempt held when it was cancelled (the cancel keeps it on the row).
    const lease = Date.parse((cancelled.lease_expires_at ?? before.lease_expires_at)!);
    return { lease, retriedAt };
  }

  async function secondRun(file: string, id: string): Promise<[Run, Run]> {
    const runs = await waitFor(() => (runsOf(file, id).length >= 2 ? runsOf(file, id) : null), 20_000, 'the retried run');
    return [runs[0]!, runs[1]!];
  }

  /** Lets the retried run end, so the shared processes' workers stay free for the next test. */
  async function stop(id: string): Promise<void> {
    await post(url(pair[0]!), `/tasks/${id}/cancel`).catch(() => undefined);
  }

  it('through the other process, the handler ignoring its signal for 2 s: the retry starts after the first run ended', async () => {
    const { id, file, other } = await started({ ms: 60_000, afterAbortMs: 2000 });
    const { lease, retriedAt } = await cancelAndRetry(other, id);
    const [first, second] = await secondRun(file, id);
    expect(first.end, 'the first run had ended when the second started').toBeDefined();
    expect(first.end! - retriedAt, 'the first handler went on after the retry').toBeGreaterThan(1500);
    expect(second.start).toBeGreaterThanOrEqual(first.end!);
    expect(second.start, "the first handler's return, not its lease, ended the wait").toBeLessThan(lease);
    await stop(id);
  });

  it('through the process running it, the handler ignoring its signal for 2 s: the retry starts after the first run ended', async () => {
    const { id, file, runner } = await started({ ms: 60_000, afterAbortMs: 2000 });
    const { lease, retriedAt } = await cancelAndRetry(runner, id);
    const [first, second] = await secondRun(file, id);
    expect(first.end, 'the first run had ended when the second started').toBeDefined();
    expect(first.end! - retriedAt, 'the first handler went on after the retry').toBeGreaterThan(1500);
    expect(second.start).toBeGreaterThanOrEqual(first.end!);
    expect(second.start, "the first handler's return, not its lease, ended the wait").toBeLessThan(lease);
    await stop(id);
  });

  it('through the other process, the handler stopping at once: the retry runs when the cancel reaches it, long before the lease ends', async () => {
    const { id, file, other } = await started({ ms: 60_000 });
    const { lease } = await cancelAndRetry(other, id);
    const [first, second] = await secondRun(file, id);
    expect(first.end, 'the first run had ended when the second started').toBeDefined();
    expect(second.start).toBeGreaterThanOrEqual(first.end!);
    // The cancel reaches the handler at its process's next heartbeat, a third of the lease
    // after the last renewal, that is two thirds of a lease before the lease would end.
    expect(second.start).toBeLessThan(lease - LEASE_MS / 3);
    await stop(id);
  });

  it('through the process running it, the handler stopping at once: the retry runs at once', async () => {
    const { id, file, runner } = await started({ ms: 60_000 });
    const { lease, retriedAt } = await cancelAndRetry(runner, id);
    const [first, second] = await secondRun(file, id);
    expect(first.end, 'the first run had ended when the second started').toBeDefined();
    expect(second.start).toBeGreaterThanOrEqual(first.end!);
    expect(second.start).toBeLessThan(lease - LEASE_MS / 3);
    expect(second.start - retriedAt).toBeLessThan(1000);
    await stop(id);
  });

  it('a handler ignoring its signal longer than the lease: the retry starts when the lease runs out, not before, not much after', async () => {
    const { id, file, other } = await started({ ms: 60_000, afterAbortMs: 2 * LEASE_MS });
    const { lease } = await cancelAndRetry(other, id);
    const [first, second] = await secondRun(file, id);
    expect(second.start).toBeGreaterThanOrEqual(lease);
    // The cancelled attempt's heartbeat renewed nothing after the cancel.
    expect(second.start).toBeLessThan(lease + 2000);
    expect(first.end === undefined || first.end > second.start, 'the lease, not the handler, ended the wait').toBe(true);
    await stop(id);
  });
});

describe('the process running a cancelled task killed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'task-pool-'));
  let pair: ServiceProcess[] = [];
  afterAll(() => {
    killAll(pair);
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGKILL right after the cancel: the retry starts once the lease the killed attempt held has run out', async () => {
    const started = await startPair(dir);
    pair = started.pair;
    const file = join(dir, 'runs.txt');
    const { id } = await postTask(started.url(pair[0]!), { title: 'timed', description: 'killed', type: 'timed', payload: { file, ms: 60_000, afterAbortMs: 60_000 } });
    const [first] = await waitFor(() => (runsOf(file, id).length > 0 ? runsOf(file, id) : null), 10_000, 'the first run');
    const runner = pair.find((s) => s.proc.pid === first!.pid)!;
    const other = pair.find((s) => s !== runner)!;
    const before = await get(started.url(other), id);
    const cancelled = await post(started.url(other), `/tasks/${id}/cancel`);
    runner.proc.kill('SIGKILL');
    await runner.exited;
    await post(started.url(other), `/tasks/${id}/retry`);
    const lease = Date.parse((cancelled.lease_expires_at ?? before.lease_expires_at)!);
    const runs = await waitFor(() => (runsOf(file, id).length >= 2 ? runsOf(file, id) : null), 20_000, 'the retried run');
    expect(runs[1]!.pid).toBe(other.proc.pid);
    expect(runs[1]!.start).toBeGreaterThanOrEqual(lease);
    expect(runs[1]!.start).toBeLessThan(lease + 2000);
  });
});
