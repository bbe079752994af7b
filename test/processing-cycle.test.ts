import { afterEach, describe, expect, it } from 'vitest';
import { buildTask } from '../lib/tasks/model.ts';
import { createLogger } from '../lib/foundation/log.ts';
import { createAppServices } from '../lib/wiring/app-services.ts';
import { pollWithinBudget, ProcessingLoop } from '../lib/wiring/processing-cycle.ts';
import { openDatabase } from '../local/database.ts';
import { captureLogs, testConfig, waitFor, waitForStatus } from './helpers.ts';
import { spawnService } from './processes.ts';

/**
 * The processing cycle (lib/wiring/processing-cycle.ts) as each driver runs it: one budgeted
 * poll (functions, `task-pool poll --once`) and the loop of a living process. Both fire due
 * schedules before claiming, delete aged finished tasks as upkeep, and process what is due.
 */
const DAY = 86_400_000;

async function seeded(url: string) {
  const config = testConfig({ DATABASE_URL: url, TASK_RETENTION_COMPLETED: '1d' });
  const logs = captureLogs();
  const driver = await openDatabase({ url: config.databaseUrl });
  const services = createAppServices({ config, logger: createLogger('info', logs.sink), driver });
  const now = Date.now();
  // Two due tasks, one for later, and one completed two days ago (retention's to delete).
  for (const title of ['a', 'b']) await services.service.submit({ title, description: 'due', type: 'simulate' });
  await services.service.submit({ title: 'later', description: 'not due', type: 'simulate', delaySeconds: 3600 });
  const old = buildTask({ title: 'old', description: 'finished long ago', type: 'simulate' }, { now: now - 2 * DAY, maxAttempts: 3 });
  const aged = (await services.repo.insert({ ...old, status: 'completed', completedAt: now - 2 * DAY }))!;
  // A schedule whose first occurrence is due at once.
  await services.schedules.put('every-minute', { cron: '* * * * *', timezone: 'UTC', missed: 'once', task: { title: 'tick', description: 'scheduled', type: 'simulate' } });
  await driver.run('UPDATE schedules SET next_run_at = ? WHERE name = ?', [now - 1000, 'every-minute']);
  return { config, services, driver, logs, aged };
}

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
});

describe('the budgeted poll', () => {
  it('fires due schedules, deletes aged tasks, processes what is due, and logs one line', async () => {
    const url = testConfig().databaseUrl;
    const { services, driver, logs, aged } = await seeded(url);
    opened.push(driver);
    const summary = await pollWithinBudget(services, { workerId: 'test-poll' });
    expect(summary.claimed).toBe(3); // a, b and the schedule's occurrence
    expect(summary.completed).toBe(3);
    expect(await services.repo.get(aged.id)).toBeNull();
    const counts = (await services.repo.stats()).counts;
    expect(counts).toMatchObject({ completed: 3, pending: 1 });
    const line = logs.records().find((r) => r.msg === 'poll finished');
    expect(line).toMatchObject({ worker: 'test-poll', claimed: 3, completed: 3, deleted: 1 });
  });

  it('`task-pool poll --once` runs the same poll and prints its summary', async () => {
    const url = testConfig().databaseUrl;
    const { driver, aged } = await seeded(url);
    await driver.close();
    const cli = spawnService(['poll', '--once'], { DATABASE_URL: url, TASK_RETENTION_COMPLETED: '1d', POLL_BUDGET_SECONDS: '5' });
    expect(await cli.exited).toBe(0);
    const summary = JSON.parse(cli.lines.at(-1)!) as Record<string, number>;
    expect(summary).toMatchObject({ claimed: 3, completed: 3 });
    expect(cli.lines.some((line) => line.includes('"poll finished"') && line.includes('"deleted":1'))).toBe(true);
    const after = await openDatabase({ url });
    opened.push(after);
    const rows = await after.all('SELECT id, status FROM tasks ORDER BY id', []);
    expect(rows.map((r) => r.status)).not.toContain('in_progress');
    expect(rows.some((r) => Number(r.id) === aged.id)).toBe(false);
  });
});

describe('the processing loop', () => {
  it('runs the participants and processes, wakes for a submit in its process, and stops with nothing in progress', async () => {
    const url = testConfig().databaseUrl;
    const { config, services, driver, aged } = await seeded(url);
    opened.push(driver);
    const loop = new ProcessingLoop(services, { workerId: 'test-loop' });
    loop.start();
    try {
      await waitFor(async () => (await services.repo.stats()).counts.completed === 3, 10_000, 'due tasks and the occurrence completed');
      await waitFor(async () => (await services.repo.get(aged.id)) === null, 10_000, 'the aged task deleted');
      expect(loop.retention.deleted).toBe(1);
      // A task committed in this process wakes the poller (the interval is 0.2 s in tests, so
      // the wake-up is what a long interval would show; here it only has to complete).
      const { task } = await services.service.submit({ title: 'c', description: 'woken', type: 'simulate' });
      loop.taskCommitted(task);
      await waitForStatus(services.repo, task.id, 'completed', 10_000);
    } finally {
      await loop.stop(config.shutdownTimeoutSeconds * 1000);
    }
    expect((await services.repo.stats()).counts.in_progress ?? 0).toBe(0);
  });
});
