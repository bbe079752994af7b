import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from './helpers.ts';
import { killAll, type ServiceProcess } from './processes.ts';
import { executed, executions, runEnded, startWorkflowProcess, stopAll, whenExecuted, workflowClient, workspace } from './support/workflow-processes.ts';

/**
 * Replay across several real processes on one libSQL file (DESIGN.md, "Workflows": a crash
 * re-runs only the step in flight; a step's result is recorded once). The executions file is
 * the ground truth: each step appends a line every time its function runs, whichever process
 * runs it. A process replaced by another is test/workflows.restart.processes.test.ts.
 */
describe('workflow replay across several processes', () => {
  const services: ServiceProcess[] = [];
  afterEach(() => killAll(services.splice(0)));

  it('a process frozen (SIGSTOP) during step 3 past its lease, then thawed: the run is finished by another, and the frozen one records nothing and runs no further step', async () => {
    const { file, gate, dbUrl } = workspace();
    const client = await workflowClient(dbUrl);
    const env = { DATABASE_URL: dbUrl, TASK_LEASE_SECONDS: '2' };
    const frozen = await startWorkflowProcess(env);
    services.push(frozen);
    const { run } = await client.workflows.startRun('five-steps', { input: { file, gate } });
    await whenExecuted(file, run.id, 's3');
    frozen.proc.kill('SIGSTOP');

    const other = await startWorkflowProcess(env);
    services.push(other);
    const [a, b] = [frozen.proc.pid!, other.proc.pid!];
    await waitFor(() => executions(file).some((e) => e.what === 's3' && e.pid === b), 20_000, 'the other process to take the run over');
    // The thawed execution of step 3 ends first, while the other still runs it and holds the
    // lease: the record's fence is all that keeps it from recording and going on to step 4.
    writeFileSync(`${gate}.${a}`, '');
    frozen.proc.kill('SIGCONT');
    await frozen.waitForLog((r) => r.msg === 'task changed while running: result discarded' || r.msg === 'lease lost: result discarded');
    writeFileSync(`${gate}.${b}`, '');
    const done = await runEnded(client, run.id);
    expect(done).toMatchObject({ status: 'completed', output: [`s1@${a}`, `s2@${a}`, `s3@${b}`, `s4@${b}`, `s5@${b}`] });
    expect(executions(file).map((e) => `${e.what}@${e.pid}`)).toEqual([`s1@${a}`, `s2@${a}`, `s3@${a}`, `s3@${b}`, `s4@${b}`, `s5@${b}`]);
  });

  it('three worker processes, 300 runs that sleep between steps: every step executed once, every run completed once', async () => {
    const { file, dbUrl } = workspace();
    const client = await workflowClient(dbUrl);
    const env = { DATABASE_URL: dbUrl, TASK_WORKERS: '5', TASK_POLL_BATCH_SIZE: '10', TASK_POLL_INTERVAL_SECONDS: '0.05' };
    const workers = await Promise.all([0, 1, 2].map(() => startWorkflowProcess(env, 'worker')));
    services.push(...workers);

    // The sleep sets each run aside mid-way, so its second half is claimed anew, by any of the three.
    const runs = await Promise.all(Array.from({ length: 300 }, () => client.workflows.startRun('five-steps', { input: { file, nap: '10ms' } })));
    const ids = runs.map((r) => r.run.id);
    await waitFor(async () => ((await client.workflows.summaries()).find((s) => s.name === 'five-steps')?.runs.completed ?? 0) === 300, 45_000, 'all 300 runs to complete');

    const counts = new Map<string, number>();
    for (const e of executions(file)) counts.set(`${e.run} ${e.what}`, (counts.get(`${e.run} ${e.what}`) ?? 0) + 1);
    const wrong = ids.flatMap((id) => ['s1', 's2', 's3', 's4', 's5'].map((s) => [`${id} ${s}`, counts.get(`${id} ${s}`) ?? 0] as const)).filter(([, n]) => n !== 1);
    expect(wrong).toEqual([]);
    expect(counts.size).toBe(300 * 5);

    const listed = await client.workflows.listRuns({ workflow: 'five-steps', limit: 1000 });
    expect(listed.filter((r) => r.status !== 'completed' || r.attempts !== 1)).toEqual([]);
    // Each run's output is what its steps returned when they ran (a replayed step returns its record).
    const where = new Map(executions(file).map((e) => [`${e.run} ${e.what}`, `${e.what}@${e.pid}`]));
    expect(listed.filter((r) => JSON.stringify(r.output) !== JSON.stringify(['s1', 's2', 's3', 's4', 's5'].map((s) => where.get(`${r.id} ${s}`))))).toEqual([]);

    // Runs really moved: some were replayed in another process than the one that began them.
    const moved = ids.filter((id) => new Set(executions(file).filter((e) => e.run === id).map((e) => e.pid)).size > 1);
    expect(moved.length).toBeGreaterThan(0);
    expect(executed(file, ids[0]!)).toEqual(['s1', 's2', 's3', 's4', 's5']);

    // A run completed once: one "workflow run completed" line per run over the three logs, read
    // to their end (a line can still be on its way when the database already says completed).
    expect(await stopAll(workers)).toEqual([0, 0, 0]);
    const completions = workers.flatMap((w) => w.lines.filter((l) => l.includes('"workflow run completed"')).map((l) => (JSON.parse(l) as { task_id: string }).task_id));
    expect(completions.length).toBe(300);
    expect(new Set(completions)).toEqual(new Set(ids));
  });

  it('three worker processes, one SIGKILLed mid-way: every run completes, and only a step in flight in the killed process runs again', async () => {
    const { file, dbUrl } = workspace();
    const client = await workflowClient(dbUrl);
    const env = { DATABASE_URL: dbUrl, TASK_WORKERS: '5', TASK_POLL_BATCH_SIZE: '10', TASK_POLL_INTERVAL_SECONDS: '0.05', TASK_LEASE_SECONDS: '2' };
    const workers = await Promise.all([0, 1, 2].map(() => startWorkflowProcess(env, 'worker')));
    services.push(...workers);
    const runs = await Promise.all(Array.from({ length: 300 }, () => client.workflows.startRun('five-steps', { input: { file, nap: '10ms' } })));
    const ids = runs.map((r) => r.run.id);

    const killed = workers[0]!;
    await waitFor(() => executions(file).filter((e) => e.pid === killed.proc.pid).length >= 50, 30_000, 'the first worker to have run 50 steps');
    killed.proc.kill('SIGKILL');
    await killed.exited;
    await waitFor(async () => ((await client.workflows.summaries()).find((s) => s.name === 'five-steps')?.runs.completed ?? 0) === 300, 45_000, 'all 300 runs to complete');

    const byStep = new Map<string, number[]>();
    for (const e of executions(file)) byStep.set(`${e.run} ${e.what}`, [...(byStep.get(`${e.run} ${e.what}`) ?? []), e.pid]);
    expect(byStep.size).toBe(300 * 5);
    // Twice at most, and then the first execution was in the killed process (whose record never committed).
    const unexpected = [...byStep].filter(([, pids]) => pids.length > 2 || (pids.length === 2 && (pids[0] !== killed.proc.pid || pids[1] === killed.proc.pid)));
    expect(unexpected).toEqual([]);
    // The output holds what the recorded execution returned: the last one of each step.
    const listed = await client.workflows.listRuns({ workflow: 'five-steps', limit: 1000 });
    expect(listed.length).toBe(300);
    const wrongOutput = listed.filter((r) => JSON.stringify(r.output) !== JSON.stringify(['s1', 's2', 's3', 's4', 's5'].map((s) => `${s}@${byStep.get(`${r.id} ${s}`)!.at(-1)}`)));
    expect(wrongOutput).toEqual([]);
    expect(new Set(listed.map((r) => r.id))).toEqual(new Set(ids));
  });
});
