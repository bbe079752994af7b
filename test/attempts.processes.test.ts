import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from './helpers.ts';
import { killAll, postTask, startServe, type ServiceProcess } from './processes.ts';

/**
 * Attempt history across a crash, with real processes: a `serve` killed (SIGKILL) while its
 * handler runs leaves its attempt in progress with nobody to record it; the process that takes
 * the task again after the lease ran out records it as lease_expired, naming the dead worker.
 */

const services: ServiceProcess[] = [];
afterEach(() => killAll(services.splice(0)));

interface AttemptList {
  count: number;
  attempts: { attempt: number; worker: string | null; outcome: string; error: string | null; started_at: string | null; ended_at: string | null }[];
}

const json = async <T>(url: string): Promise<T> => (await (await fetch(url)).json()) as T;

describe('attempt history across a crash', () => {
  it('a worker killed mid-task: its attempt is recorded as lease_expired when another process reclaims the task', async () => {
    const db = join(tempDir(), 'tasks.db');
    const env = { DATABASE_DSN: db, TASK_LEASE_SECONDS: '1' };
    const first = await startServe(env);
    services.push(first);
    const task = await postTask(first.url, { title: 'report', description: 'long', type: 'steps', payload: { total: 4, ms: 500 } });
    // Running, and its progress written (the first report goes at once).
    await waitFor(async () => (await json<{ status: string; progress: unknown }>(`${first.url}/tasks/${task.id}`)).progress !== null, 10_000, 'progress reported');
    const running = await json<AttemptList>(`${first.url}/tasks/${task.id}/attempts`);
    expect(running.attempts).toMatchObject([{ attempt: 1, outcome: 'running', ended_at: null }]);
    const deadWorker = running.attempts[0]!.worker!;
    expect(deadWorker).toContain(`:${first.proc.pid}:`);
    first.proc.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    const second = await startServe(env);
    services.push(second);
    await waitFor(async () => (await json<{ status: string }>(`${second.url}/tasks/${task.id}`)).status === 'completed', 20_000, 'completed by the second process');
    const done = await json<{ progress: unknown; locked_by: string }>(`${second.url}/tasks/${task.id}`);
    expect(done.progress).toEqual({ done: 4, total: 4 });
    const history = await json<AttemptList>(`${second.url}/tasks/${task.id}/attempts`);
    expect(history.count).toBe(2);
    expect(history.attempts).toMatchObject([
      { attempt: 1, worker: deadWorker, outcome: 'lease_expired', error: 'lease expired (worker died or stalled)' },
      { attempt: 2, worker: done.locked_by, outcome: 'completed', error: null },
    ]);
    expect(done.locked_by).toContain(`:${second.proc.pid}:`);
    // The dead attempt ended when its lease ran out, before the second started.
    expect(Date.parse(history.attempts[0]!.ended_at!)).toBeLessThanOrEqual(Date.parse(history.attempts[1]!.started_at!));
  });
});
