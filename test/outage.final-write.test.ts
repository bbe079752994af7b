import { describe, expect, it, onTestFinished } from 'vitest';
import { migrateDatabase } from '../local/database.ts';
import { captureLogs, startRuntime, submitInput, waitFor } from './helpers.ts';
import { sqldAvailable } from './sqld.ts';
import { startRestartableSqld } from './sqld-restartable.ts';

/**
 * A database blip while handlers finish (issue 14, item 2): the final write is retried while
 * the lease holds, so a task whose handler finished during a 3 s outage completes with
 * attempts 1 once the database is back, instead of running a second time after its lease.
 */
const available = await sqldAvailable();

describe.skipIf(!available)('a database outage shorter than the lease', () => {
  it.each(['ws', 'http'])('%s: every task whose handler finished during a 3 s outage completes with attempts 1', async (transport) => {
    const sqld = await startRestartableSqld();
    onTestFinished(() => sqld.remove());
    await migrateDatabase({ url: sqld.url });

    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    const runs = new Map<string, number>();
    const logs = captureLogs();
    const runtime = await startRuntime({
      env: { DATABASE_URL: sqld.url, DATABASE_TRANSPORT: transport, TASK_LEASE_SECONDS: '30', TASK_WORKERS: '5', LOG_LEVEL: 'debug' },
      logSink: logs.sink,
      handlers: {
        gated: async (task) => {
          runs.set(task.id, (runs.get(task.id) ?? 0) + 1);
          await gate;
          return { done: true };
        },
      },
    });
    runtime.start();
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push((await runtime.service.submit(submitInput({ type: 'gated', title: `t${i}` }))).task.id);
    await waitFor(() => runs.size === 5, 10_000, 'all five handlers running');

    await sqld.kill();
    open(); // the handlers return while the database is down
    await waitFor(() => logs.messages('warn').some((m) => m.startsWith('database is unavailable')), 10_000, 'the outage warning');
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await sqld.start();

    await waitFor(async () => (await runtime.repo.stats()).counts.completed === 5, 20_000, 'all five completed');
    for (const id of ids) expect(await runtime.repo.get(id)).toMatchObject({ status: 'completed', attempts: 1, result: '{"done":true}' });
    expect([...runs.values()]).toEqual([1, 1, 1, 1, 1]);
    // One warning for the outage, not one per poll or per task.
    expect(logs.messages('warn').filter((m) => m.startsWith('database is unavailable'))).toHaveLength(1);
    expect(logs.records().filter((r) => r.level === 'error')).toEqual([]);
  });
});
