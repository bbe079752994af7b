import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openTestRepo, tempDir, waitFor } from './helpers.ts';
import { HANDLERS_FIXTURE, killAll, postTask, ROOT, spawnService, startServe, type ServiceProcess } from './processes.ts';

/** Real processes, real signals: npm start, graceful shutdown, crash recovery, many workers. */

const services: ServiceProcess[] = [];
afterEach(() => killAll(services.splice(0)));

function recordLines(file: string): { id: string; pid: string; attempt: string }[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, pid, attempt] = line.split(' ');
      return { id: id!, pid: pid!, attempt: attempt! };
    });
}

async function statsOf(url: string) {
  const { repo, close } = await openTestRepo(url);
  const stats = await repo.stats();
  await close();
  return stats;
}

describe('npm start', () => {
  it('serves, processes, and on SIGTERM to npm drains running tasks, releases the rest and exits 0', async () => {
    const dir = tempDir();
    const db = join(dir, 'tasks.db');
    const file = join(dir, 'runs.txt');
    const npm = spawnService([], { DATABASE_DSN: db, TASK_WORKERS: '3', TASK_QUEUE_SIZE: '2', SHUTDOWN_TIMEOUT_SECONDS: '10' }, [
      'npm', 'start', '--silent', '--', '--handlers', HANDLERS_FIXTURE,
    ]);
    services.push(npm);
    const { url } = (await npm.waitForLog((r) => typeof r.url === 'string')) as { url: string };

    const first = await postTask(url, { title: 'one', description: 'quick', type: 'record', payload: { file } });
    await waitFor(async () => ((await (await fetch(`${url}/tasks/${first.id}`)).json()) as { status: string }).status === 'completed', 10_000, 'first task');

    for (let i = 0; i < 12; i++) await postTask(url, { title: `slow ${i}`, description: 'd', type: 'record', payload: { file, ms: 1500 } });
    await waitFor(async () => (await statsOf(`file:${db}`)).counts.in_progress >= 3, 10_000, 'workers busy');
    const started = Date.now();
    npm.proc.kill('SIGTERM');
    expect(await npm.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(npm.lines.some((l) => l.includes('"shutdown complete"'))).toBe(true);

    const stats = await statsOf(`file:${db}`);
    expect(stats.counts.in_progress).toBe(0);
    expect(stats.counts.completed + stats.counts.pending).toBe(13);
    expect(stats.counts.pending).toBeGreaterThan(0);

    // A restart finishes the rest; given a path relative to its working directory, the
    // start-up line names the file it opened by its absolute path.
    const again = await startServe({ DATABASE_DSN: relative(ROOT, db) });
    services.push(again);
    expect((await again.waitForLog((r) => r.mode === 'serve')).database).toBe(db);
    await waitFor(async () => (await statsOf(`file:${db}`)).counts.completed === 13, 20_000, 'all 13 completed');
    again.proc.kill('SIGINT');
    expect(await again.exited).toBe(0);
  });

  it('aborts handlers still running at SHUTDOWN_TIMEOUT_SECONDS and releases them', async () => {
    const dir = tempDir();
    const db = join(dir, 'tasks.db');
    const service = await startServe({ DATABASE_DSN: db, TASK_WORKERS: '2', SHUTDOWN_TIMEOUT_SECONDS: '1' });
    services.push(service);
    const ids = [];
    for (let i = 0; i < 2; i++) ids.push((await postTask(service.url, { title: 't', description: 'd', type: 'record', payload: { file: join(dir, 'r'), ms: 60_000 } })).id);
    await waitFor(async () => (await statsOf(`file:${db}`)).counts.in_progress === 2, 10_000, 'both running');
    const started = Date.now();
    service.proc.kill('SIGTERM');
    expect(await service.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    const { repo, close } = await openTestRepo(`file:${db}`);
    for (const id of ids) expect(await repo.get(Number(id))).toMatchObject({ status: 'pending', attempts: 0, leaseExpiresAt: null });
    await close();
  });
});

describe('configuration errors', () => {
  it.each([
    [{ TASK_WORKERS: '0' }, 'TASK_WORKERS'],
    [{ TASK_WORKERS: 'abc' }, 'TASK_WORKERS'],
    [{ APP_PORT: '99999' }, 'APP_PORT'],
    [{ TASK_POLL_INTERVAL_SECONDS: '-1' }, 'TASK_POLL_INTERVAL_SECONDS'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  ])('%j stops the process with exit 1 and one line naming the variable', async (env, name) => {
    const service = spawnService(['serve'], { DATABASE_DSN: join(tempDir(), 'x.db'), ...env });
    services.push(service);
    expect(await service.exited).toBe(1);
    const lines = service.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(name);
  });
});

describe('crash recovery', () => {
  it('after SIGKILL mid-run and a restart, every acknowledged task completes; in-flight ones ran twice', async () => {
    const dir = tempDir();
    const db = join(dir, 'tasks.db');
    const file = join(dir, 'runs.txt');
    const env = { DATABASE_DSN: db, TASK_LEASE_SECONDS: '2', TASK_WORKERS: '10', TASK_QUEUE_SIZE: '10' };
    const first = await startServe(env);
    services.push(first);
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) ids.push((await postTask(first.url, { title: `t${i}`, description: 'd', type: 'record', payload: { file, ms: 100 } })).id);
    await waitFor(() => recordLines(file).length >= 30, 20_000, '30 executions');
    const last = await postTask(first.url, { title: 'last', description: 'acknowledged right before the crash', type: 'record', payload: { file } });
    first.proc.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    const { repo, close } = await openTestRepo(`file:${db}`);
    const inFlight = (await repo.list({ status: 'in_progress', limit: 1000 })).map((t) => t.id);
    expect(await repo.get(Number(last.id))).not.toBeNull();
    await close();
    expect(inFlight.length).toBeGreaterThan(0);

    const second = await startServe(env);
    services.push(second);
    await waitFor(async () => (await statsOf(`file:${db}`)).counts.completed === 201, 30_000, 'all 201 completed');
    const check = await openTestRepo(`file:${db}`);
    for (const id of inFlight) expect((await check.repo.get(id))!.attempts).toBe(2);
    expect((await check.repo.stats()).total).toBe(201);
    await check.close();
    const executed = new Set(recordLines(file).map((r) => r.id));
    for (const id of [...ids, last.id]) expect(executed.has(id)).toBe(true);
  });
});

describe('several worker processes on one file', () => {
  it('three `task-pool worker` processes execute 1,000 tasks exactly once between them', async () => {
    const dir = tempDir();
    const db = join(dir, 'tasks.db');
    const file = join(dir, 'runs.txt');
    const { migrateDatabase } = await import('../local/database.ts');
    await migrateDatabase({ url: `file:${db}` });
    const workers = [0, 1, 2].map(() => spawnService(['worker', '--handlers', HANDLERS_FIXTURE], { DATABASE_DSN: db, LOG_LEVEL: 'info', TASK_POLL_INTERVAL_SECONDS: '0.05' }));
    services.push(...workers);
    await Promise.all(workers.map((w) => w.waitForLog((r) => r.mode === 'worker')));

    const { service, repo, close } = await openTestRepo(`file:${db}`);
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) => service.submit({ title: `t${i}`, description: 'd', type: 'record', payload: { file, ms: 2 } })),
    );
    await waitFor(async () => (await repo.stats()).counts.completed === 1000, 60_000, '1,000 completed');
    await close();

    const runs = recordLines(file);
    expect(runs).toHaveLength(1000);
    expect(new Set(runs.map((r) => r.id)).size).toBe(1000);
    expect(new Set(runs.map((r) => r.pid)).size).toBeGreaterThan(1);
    for (const w of workers) w.proc.kill('SIGTERM');
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0, 0]);
  });
});
