import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient } from '../lib/client/index.ts';
import { waitFor } from './helpers.ts';
import { killAll, type ServiceProcess } from './processes.ts';
import { executed, executions, runEnded, runWaitingFor, startWorkflowProcess, useWorkflowProcess, workflowClient, workspace } from './support/workflow-processes.ts';

/**
 * Events to runs in real `serve` processes (DESIGN.md, "Workflows": an event sent after a run
 * was created is never lost, also when it arrives before the run reaches its wait). Most
 * events are sent by the test process's WorkflowService on the same file (what `POST /events`
 * does), so a run learns of one through the database only; some through `POST /events` of a
 * serve process (the typed client), the way users send them.
 */
describe('workflow events to a serve process', () => {
  // One process for these: each test has its own runs, events and keys.
  const shared = useWorkflowProcess();

  it('sent while the run sleeps, before it reaches its wait: taken when it gets there', async () => {
    const { file, client } = shared;
    const { run } = await client.workflows.startRun('await-event', { input: { file, event: 'paid', key: 'order-1', timeout: '1m', napFirst: 1 } });
    await runWaitingFor(client, run.id, 'sleep');
    // Nobody waits yet: the event is stored, and no run is made due by it.
    expect(await client.workflows.sendEvent('paid', 'order-1', { amount: 5 })).toEqual({ event: 'paid', key: 'order-1', resumed: 0 });
    const sentAt = Date.now();
    const done = await runEnded(client, run.id);
    expect(done).toMatchObject({ status: 'completed', output: { payload: { amount: 5 } } });
    expect(Date.parse(done.steps!.find((s) => s.name === 'event')!.started_at)).toBeGreaterThanOrEqual(sentAt);
    expect(executed(file, run.id)).toEqual(['before', 'after']);
  });

  it('sent to the serve process (POST /events) while the run waits: it resumes at once with the payload; each step ran once', async () => {
    const { file, client, service } = shared;
    const api = createClient(service.url!);
    const { run } = await api.startRun('await-event', { input: { file, event: 'paid', key: 'order-2', timeout: '1m' } });
    await runWaitingFor(client, run.id, 'event');
    expect(await api.sendEvent({ event: 'paid', key: 'order-2', payload: 'ok' })).toEqual({ event: 'paid', key: 'order-2', resumed: 1 });
    const done = await runEnded(client, run.id);
    expect(done).toMatchObject({ status: 'completed', output: { payload: 'ok' }, attempts: 1 });
    // Resumed by the event, not by the one-minute timeout.
    expect(Date.parse(done.completed_at!) - Date.parse(done.steps!.find((s) => s.name === 'event')!.started_at)).toBeLessThan(30_000);
    expect(executed(file, run.id)).toEqual(['before', 'after']);
  });

  it('never sent: the wait times out with null, and the timeout is recorded', async () => {
    const { file, client } = shared;
    const { run } = await client.workflows.startRun('await-event', { input: { file, event: 'never', timeout: 1 } });
    const done = await runEnded(client, run.id);
    expect(done).toMatchObject({ status: 'completed', output: { payload: null } });
    expect(done.steps!.find((s) => s.name === 'event')).toMatchObject({ kind: 'wait', status: 'completed', output: null });
    expect(executed(file, run.id)).toEqual(['before', 'after']);
  });

  it('two runs waiting on one key both resume with one event; an event for a key nobody waits for resumes none', async () => {
    const { file, client } = shared;
    const runs = await Promise.all([0, 1].map(() => client.workflows.startRun('await-event', { input: { file, event: 'shipped', key: 'batch-7', timeout: '1m' } })));
    for (const { run } of runs) await runWaitingFor(client, run.id, 'event');

    expect(await client.workflows.sendEvent('shipped', 'batch-8', 'elsewhere')).toMatchObject({ resumed: 0 });
    expect(await client.workflows.sendEvent('nobody-listens', 'batch-7', null)).toMatchObject({ resumed: 0 });
    // Give a wrongly woken run time to take what is not its event.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const { run } of runs) expect((await client.workflows.getRun(run.id)).status).toBe('pending');

    expect(await client.workflows.sendEvent('shipped', 'batch-7', { box: 1 })).toMatchObject({ resumed: 2 });
    for (const { run } of runs) {
      expect(await runEnded(client, run.id)).toMatchObject({ status: 'completed', output: { payload: { box: 1 } } });
      expect(executed(file, run.id)).toEqual(['before', 'after']);
    }
  });


  it('events racing the runs that wait for them: none is lost, every run resumes long before its timeout', async () => {
    const { client } = shared;
    // Each event is sent while its run may be anywhere: not yet claimed, running its first
    // step, looking for the event, suspending, or suspended. A wake-up lost in between would
    // leave that run asleep until its timeout.
    const keys = Array.from({ length: 100 }, (_, i) => `race-${i}`);
    const runs = await Promise.all(
      keys.map(async (key, i) => {
        const { run } = await client.workflows.startRun('await-event', { input: { event: 'race', key, timeout: '10m' } });
        await new Promise((resolve) => setTimeout(resolve, i % 20));
        await client.workflows.sendEvent('race', key, key);
        return run;
      }),
    );
    const done = await Promise.all(runs.map((run) => runEnded(client, run.id, 30_000)));
    expect(done.filter((run, i) => run.status !== 'completed' || (run.output as { payload: unknown }).payload !== keys[i])).toEqual([]);
  });
});

describe('workflow events across two serve processes', () => {
  const services: ServiceProcess[] = [];
  afterEach(() => killAll(services.splice(0)));

  it('two serve processes on one file: the event sent to one (POST /events) resumes the run on the other, whose only news of it is the database', async () => {
    const { file, gate, dbUrl } = workspace();
    const client = await workflowClient(dbUrl);
    // One worker and no queue: while it holds a task, this process claims nothing.
    const first = await startWorkflowProcess({ DATABASE_URL: dbUrl, TASK_WORKERS: '1', TASK_QUEUE_SIZE: '0' });
    services.push(first);
    const { run } = await client.workflows.startRun('await-event', { input: { file, event: 'approved', key: 'doc-3', timeout: '1m' } });
    await runWaitingFor(client, run.id, 'event');
    const { task: hold } = await client.service.submit({ title: 'hold', description: 'keeps the first process busy', type: 'hold', payload: { gate } });
    await waitFor(async () => (await client.service.get(hold.id)).status === 'in_progress', 20_000, 'the first process to hold its worker');

    const second = await startWorkflowProcess({ DATABASE_URL: dbUrl });
    services.push(second);
    // The first process takes the event; it cannot run the run it wakes: its worker is held.
    expect(await createClient(first.url!).sendEvent({ event: 'approved', key: 'doc-3', payload: 'yes' })).toMatchObject({ resumed: 1 });
    const done = await runEnded(client, run.id);
    expect(done).toMatchObject({ status: 'completed', output: { payload: 'yes', after: `after@${second.proc.pid}` } });
    expect(executions(file).filter((e) => e.run === run.id).map((e) => `${e.what}@${e.pid}`)).toEqual([`before@${first.proc.pid}`, `after@${second.proc.pid}`]);

    writeFileSync(gate, '');
    await waitFor(async () => (await client.service.get(hold.id)).status === 'completed', 20_000, 'the held task to complete');
  });
});
