import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from './helpers.ts';
import { killAll, type ServiceProcess } from './processes.ts';
import { executions, runEnded, runWaitingFor, startWorkflowProcess, workflowClient, workspace } from './support/workflow-processes.ts';

/**
 * Sleeping runs in real `serve` processes (DESIGN.md, "Workflows": a sleeping run holds no
 * worker, lease or attempt). Timing is asserted generously: the claim is that a run wakes at
 * the poller's precision, not to the millisecond. A sleep across a restart is in
 * test/workflows.restart.processes.test.ts.
 */
describe('workflow sleeps in a serve process', () => {
  const services: ServiceProcess[] = [];
  afterEach(() => killAll(services.splice(0)));

  it('a run sleeping 2 s with one worker: 50 other tasks complete while it sleeps, and it wakes on time', async () => {
    const { file, dbUrl } = workspace();
    const client = await workflowClient(dbUrl);
    services.push(await startWorkflowProcess({ DATABASE_URL: dbUrl, TASK_WORKERS: '1' }));
    const { run } = await client.workflows.startRun('nap', { input: { file, duration: 2 } });
    await runWaitingFor(client, run.id, 'sleep');

    const tasks = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.service.submit({ title: `work ${i}`, description: 'beside a sleeping run', type: 'work', payload: { file, ms: 5 } })),
    );
    const done = await runEnded(client, run.id);
    expect(done.status).toBe('completed');
    const sleep = done.steps!.find((s) => s.name === 'nap')!;
    const wakeAt = Date.parse(sleep.wake_at!);
    expect(wakeAt - Date.parse(sleep.started_at)).toBe(2000);
    expect(Date.parse(done.completed_at!)).toBeGreaterThanOrEqual(wakeAt);
    expect(Date.parse(done.completed_at!) - wakeAt).toBeLessThan(2000);

    // With one worker, a run holding it while asleep would have kept every task waiting until it ended.
    const finished = await Promise.all(tasks.map((t) => client.service.get(t.task.id)));
    expect(finished.filter((t) => t.status !== 'completed')).toEqual([]);
    expect(finished.filter((t) => t.completedAt! > Date.parse(done.completed_at!))).toEqual([]);
    expect(executions(file).filter((e) => e.what === 'work').length).toBe(50);
  });

  it('1,000 runs sleeping at once with 10 workers all complete, each step once', async () => {
    const { file, dbUrl } = workspace();
    const client = await workflowClient(dbUrl);
    services.push(await startWorkflowProcess({ DATABASE_URL: dbUrl, TASK_WORKERS: '10', TASK_POLL_BATCH_SIZE: '50' }));
    const runs = await Promise.all(Array.from({ length: 1000 }, () => client.workflows.startRun('nap', { input: { file, duration: 1 } })));
    await waitFor(async () => ((await client.workflows.summaries()).find((s) => s.name === 'nap')?.runs.completed ?? 0) === 1000, 50_000, 'all 1,000 runs to complete');

    const counts = new Map<string, number>();
    for (const e of executions(file)) counts.set(`${e.run} ${e.what}`, (counts.get(`${e.run} ${e.what}`) ?? 0) + 1);
    expect(counts.size).toBe(2000);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);

    // How many slept at the same moment: far more than the 10 workers, so none held one asleep.
    const sleeps = await Promise.all(runs.map(async ({ run }) => (await client.workflows.getRun(run.id)).steps!.find((s) => s.name === 'nap')!));
    const edges = sleeps.flatMap((s) => [[Date.parse(s.started_at), 1] as const, [Date.parse(s.completed_at!), -1] as const]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let asleep = 0;
    let most = 0;
    for (const [, delta] of edges) most = Math.max(most, (asleep += delta));
    expect(most).toBeGreaterThan(10 * 10);
  });
});
