import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createClient } from '../lib/client/index.ts';
import { waitFor } from './helpers.ts';
import { executed, runEnded, runWaitingFor, useWorkflowProcess, whenExecuted } from './support/workflow-processes.ts';

/**
 * Cancelling runs that a real `serve` process runs: during a step (the step's signal aborts,
 * and the step function sees it), during a sleep, and a parent whose child is running.
 * A cancel from another process (the test's WorkflowService) reaches the running process at
 * its next heartbeat; a short lease makes that a fraction of a second.
 */
describe('cancelling workflow runs in a serve process', () => {
  const shared = useWorkflowProcess({ TASK_LEASE_SECONDS: '2' });

  /** The run stays cancelled, and its code got no further than `expected` (given time to go on). */
  async function stoppedAt(id: string, expected: string[]): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await shared.client.workflows.getRun(id)).status).toBe('cancelled');
    expect(executed(shared.file, id)).toEqual(expected);
  }

  it('during a step, from another process: the step function sees its signal abort with reason "cancelled"', async () => {
    const { file, client } = shared;
    const { run } = await client.workflows.startRun('blocked', { input: { file } });
    await whenExecuted(file, run.id, 'block');
    expect((await client.workflows.cancelRun(run.id)).status).toBe('cancelled');
    await whenExecuted(file, run.id, 'aborted:cancelled');
    await stoppedAt(run.id, ['block', 'aborted:cancelled']);
    // Nothing recorded for the aborted step: retrying the run would run it again.
    expect((await client.workflows.getRun(run.id)).steps).toEqual([]);
  });

  it('during a step, through POST /runs/:id/cancel to the process running it: the same abort, from within', async () => {
    const { file, client, service } = shared;
    const { run } = await client.workflows.startRun('blocked', { input: { file } });
    await whenExecuted(file, run.id, 'block');
    expect((await createClient(service.url!).cancelRun(run.id)).status).toBe('cancelled');
    await whenExecuted(file, run.id, 'aborted:cancelled');
    await stoppedAt(run.id, ['block', 'aborted:cancelled']);
  });

  it('during a sleep: the run never wakes', async () => {
    const { file, client } = shared;
    const { run } = await client.workflows.startRun('nap', { input: { file, duration: 1 } });
    await runWaitingFor(client, run.id, 'sleep');
    expect((await client.workflows.cancelRun(run.id)).status).toBe('cancelled');
    // Past the sleep's end, and then some.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await stoppedAt(run.id, ['before']);
  });

  it('a parent waiting on a running child: both are cancelled, and the child\'s step sees the abort', async () => {
    const { file, client } = shared;
    const { run } = await client.workflows.startRun('parent-of-blocked', { input: { file } });
    const childId = await waitFor(async () => (await client.workflows.getRun(run.id)).steps?.[0]?.child_run_id, 20_000, 'the child run to start');
    await whenExecuted(file, childId, 'block');
    await runWaitingFor(client, run.id, 'child');

    expect((await client.workflows.cancelRun(run.id)).status).toBe('cancelled');
    expect((await client.workflows.getRun(childId)).status).toBe('cancelled');
    await whenExecuted(file, childId, 'aborted:cancelled');
    await stoppedAt(childId, ['block', 'aborted:cancelled']);
    await stoppedAt(run.id, []);
  });

  it('retrying a parent cancelled with its child resumes both: the child runs its step again and the parent gets its output', async () => {
    const { file, gate, client } = shared;
    const { run } = await client.workflows.startRun('parent-of-blocked', { input: { file, gate: `${gate}.retry` } });
    const childId = await waitFor(async () => (await client.workflows.getRun(run.id)).steps?.[0]?.child_run_id, 20_000, 'the child run to start');
    await whenExecuted(file, childId, 'block');
    await client.workflows.cancelRun(run.id);
    await whenExecuted(file, childId, 'aborted:cancelled');

    writeFileSync(`${gate}.retry`, '');
    expect((await client.workflows.retryRun(run.id)).status).toBe('pending');
    const done = await runEnded(client, run.id);
    expect(done).toMatchObject({ status: 'completed', output: expect.stringMatching(/^after@/) });
    expect(await client.workflows.getRun(childId)).toMatchObject({ status: 'completed', output: expect.stringMatching(/^after@/) });
    expect(executed(file, childId)).toEqual(['block', 'aborted:cancelled', 'block', 'after']);
    expect(executed(file, run.id)).toEqual(['after']);
  });
});
