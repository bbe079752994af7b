import { afterEach, describe, expect, it } from 'vitest';
import type { TaskJson } from '../lib/tasks/model.ts';
import { waitFor } from './helpers.ts';
import { killAll, postTask, startServe, type ServiceProcess } from './processes.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * Three real `task-pool serve` processes on different APP_PORTs share one libSQL server
 * (sqld): submissions spread over all three, every task runs exactly once (`attempts` 1) and
 * completes, and each process did part of the work.
 */
const available = await sqldAvailable();

// Over each transport to sqld (local/remote-transport.ts): the default WebSocket, and HTTP.
describe.skipIf(!available).each(['ws', 'http'])('three serve processes on one sqld, over %s', (transport) => {
  const sqld = useSqld();
  const services: ServiceProcess[] = [];
  afterEach(() => killAll(services.splice(0)));

  it('600 tasks: all completed, each claimed once', async () => {
    const instances = await Promise.all(
      [0, 1, 2].map(async () => {
        const service = await startServe({
          DATABASE_URL: sqld.url,
          DATABASE_TRANSPORT: transport,
          TASK_WORKERS: '5',
          TASK_POLL_BATCH_SIZE: '10',
        });
        services.push(service);
        return service;
      }),
    );
    expect(new Set(instances.map((i) => new URL(i.url).port)).size).toBe(3);

    const ids: string[] = [];
    for (let start = 0; start < 600; start += 30) {
      const batch = await Promise.all(
        Array.from({ length: 30 }, (_, i) => postTask(instances[(start + i) % 3]!.url, { title: `task ${start + i}`, description: 'multi-instance' })),
      );
      ids.push(...batch.map((t) => t.id));
    }
    expect(new Set(ids).size).toBe(600);

    await waitFor(async () => {
      const stats = (await (await fetch(`${instances[0]!.url}/stats`)).json()) as { counts: Record<string, number> };
      return stats.counts.completed === 600;
    }, 60_000, 'all 600 tasks to complete');

    const page = (await (await fetch(`${instances[1]!.url}/tasks?limit=1000`)).json()) as { count: number; tasks: TaskJson[] };
    expect(page.count).toBe(600);
    expect(page.tasks.filter((t) => t.status !== 'completed' || t.attempts !== 1)).toEqual([]);
    expect(new Set(page.tasks.map((t) => t.id))).toEqual(new Set(ids));
    const owners = new Set(page.tasks.map((t) => t.locked_by!.split(':').slice(0, 2).join(':')));
    expect(owners.size).toBe(3);

    for (const instance of instances) instance.proc.kill('SIGTERM');
    expect(await Promise.all(instances.map((i) => i.exited))).toEqual([0, 0, 0]);
  });
});
