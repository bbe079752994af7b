import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from './helpers.ts';
import { killAll, type ServiceProcess } from './processes.ts';
import { executed, executions, runEnded, runWaitingFor, startWorkflowProcess, whenExecuted, workflowClient, workspace } from './support/workflow-processes.ts';

/**
 * A `serve` process stopped mid-run (SIGKILL, SIGTERM) and a new one started on the same
 * libSQL file (DESIGN.md, "Workflows": a crash re-runs only the step in flight; a sleeping run
 * holds nothing). The executions file is the ground truth: each step appends a line every time
 * its function runs, with the pid of the process that ran it.
 */
describe('workflow runs across a process restart', () => {
  const services: ServiceProcess[] = [];
  afterEach(() => killAll(services.splice(0)));

  it('SIGKILL during step 3: a new process re-runs only step 3, and the output keeps what steps 1 and 2 returned then', async () => {
    const { file, gate, dbUrl } = workspace();
    const client = await workflowClient(dbUrl);
    // A short lease: the killed process's claim must expire before another may take the run.
    const env = { DATABASE_URL: dbUrl, TASK_LEASE_SECONDS: '2' };
    const first = await startWorkflowProcess(env);
    services.push(first);
    const { run } = await client.workflows.startRun('five-steps', { input: { file, gate } });

    await whenExecuted(file, run.id, 's3');
    first.proc.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    writeFileSync(gate, '');

    const second = await startWorkflowProcess(env);
    services.push(second);
    const done = await runEnded(client, run.id);
    const [a, b] = [first.proc.pid!, second.proc.pid!];
    expect(done.status).toBe('completed');
    expect(done.output).toEqual([`s1@${a}`, `s2@${a}`, `s3@${b}`, `s4@${b}`, `s5@${b}`]);
    expect(executions(file).map((e) => `${e.what}@${e.pid}`)).toEqual([`s1@${a}`, `s2@${a}`, `s3@${a}`, `s3@${b}`, `s4@${b}`, `s5@${b}`]);
    // The killed attempt counts; nothing else did.
    expect(done.attempts).toBe(2);
    expect(done.steps!.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ['s1', 'completed', 1],
      ['s2', 'completed', 1],
      ['s3', 'completed', 1],
      ['s4', 'completed', 1],
      ['s5', 'completed', 1],
    ]);
  });

  it('SIGKILL while one of three concurrent steps runs: the two that ended were recorded and do not run again', async () => {
    const { file, gate, dbUrl } = workspace();
    const client = await workflowClient(dbUrl);
    const env = { DATABASE_URL: dbUrl, TASK_LEASE_SECONDS: '2' };
    const first = await startWorkflowProcess(env);
    services.push(first);
    const { run } = await client.workflows.startRun('parallel', { input: { file, gate } });
    // Each concurrent step is recorded as it ends, not when all have.
    await waitFor(async () => (await client.workflows.getRun(run.id)).steps!.filter((s) => s.status === 'completed').length === 2, 20_000, 'p1 and p2 to be recorded');
    first.proc.kill('SIGKILL');
    await first.exited;
    writeFileSync(gate, '');

    const second = await startWorkflowProcess(env);
    services.push(second);
    const done = await runEnded(client, run.id);
    const [a, b] = [first.proc.pid!, second.proc.pid!];
    expect(done).toMatchObject({ status: 'completed', output: [`p1@${a}`, `p2@${a}`, `p3@${b}`, `after@${b}`] });
    expect(executions(file).map((e) => `${e.what}@${e.pid}`).sort()).toEqual([`after@${b}`, `p1@${a}`, `p2@${a}`, `p3@${a}`, `p3@${b}`]);
  });

  it('SIGTERM during a step: the step is stopped, the run given back without using an attempt, and the next process re-runs only that step', async () => {
    const { file, gate, dbUrl } = workspace();
    const client = await workflowClient(dbUrl);
    // The drain gives running handlers this long before stopping them.
    const env = { DATABASE_URL: dbUrl, SHUTDOWN_TIMEOUT_SECONDS: '1' };
    const first = await startWorkflowProcess(env);
    services.push(first);
    const { run } = await client.workflows.startRun('five-steps', { input: { file, gate } });
    await whenExecuted(file, run.id, 's3');
    first.proc.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(await client.workflows.getRun(run.id)).toMatchObject({ status: 'pending', attempts: 0 });
    writeFileSync(gate, '');

    const second = await startWorkflowProcess(env);
    services.push(second);
    const [a, b] = [first.proc.pid!, second.proc.pid!];
    expect(await runEnded(client, run.id)).toMatchObject({ status: 'completed', attempts: 1, output: [`s1@${a}`, `s2@${a}`, `s3@${b}`, `s4@${b}`, `s5@${b}`] });
    expect(executions(file).map((e) => `${e.what}@${e.pid}`)).toEqual([`s1@${a}`, `s2@${a}`, `s3@${a}`, `s3@${b}`, `s4@${b}`, `s5@${b}`]);
  });

  it('a run sleeping through a restart (SIGTERM during the sleep): the new process completes it; the step before the sleep ran once', async () => {
    const { file, dbUrl } = workspace();
    const client = await workflowClient(dbUrl);
    const first = await startWorkflowProcess({ DATABASE_URL: dbUrl });
    services.push(first);
    const { run } = await client.workflows.startRun('nap', { input: { file, duration: 2 } });
    await runWaitingFor(client, run.id, 'sleep');
    first.proc.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect((await client.workflows.getRun(run.id)).status).toBe('pending');

    const second = await startWorkflowProcess({ DATABASE_URL: dbUrl });
    services.push(second);
    const done = await runEnded(client, run.id);
    expect(done).toMatchObject({ status: 'completed', output: { before: `before@${first.proc.pid}`, after: `after@${second.proc.pid}` }, attempts: 1 });
    expect(executed(file, run.id)).toEqual(['before', 'after']);
    const sleep = done.steps!.find((s) => s.name === 'nap')!;
    expect(Date.parse(sleep.completed_at!)).toBeGreaterThanOrEqual(Date.parse(sleep.wake_at!));
  });
});
