import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { rejection } from './support/client-errors.ts';
// The package's own export, as a user imports it (package.json "exports": "./client").
import { createClient, isFinal, TaskPoolError, type RunDetail, type RunJson, type WorkflowList } from '../lib/client/index.ts';
import type { RunDetailJson, RunJson as ServiceRunJson } from '../lib/workflows/service.ts';
import { defineWorkflow } from '../lib/workflows/define.ts';
import { EXIT } from '../local/cli-api.ts';
import { ROOT } from './processes.ts';
import { tempDir, waitFor } from './helpers.ts';
import { serveRuntime } from './support/serve.ts';

/** The typed client's workflow methods and `task-pool runs|events|workflows …`, against a real server. */

const TOKEN = 'api-token-0123456789';

const order = defineWorkflow('order', async (ctx, input: { id: string }) => {
  const paid = await ctx.waitForEvent<{ amount: number }>('paid', { event: 'order.paid', key: input.id, timeout: '1h' });
  return ctx.step('charge', () => ({ order: input.id, charged: paid?.amount ?? 0 }));
});
const echo = defineWorkflow('echo', async (ctx, input: unknown) => ctx.step('echo', () => input));
const nap = defineWorkflow('nap', async (ctx) => {
  await ctx.sleep('long', '1h');
  return 'rested';
});

const serve = () => serveRuntime({ env: { API_TOKEN: TOKEN }, workflows: [order, echo, nap] });

describe('typed client: workflow methods against a real server', () => {
  it('infers run types from the server\'s routes (checked by tsc)', () => {
    expectTypeOf<keyof RunDetail>().toEqualTypeOf<keyof RunDetailJson>();
    expectTypeOf<keyof RunJson>().toEqualTypeOf<keyof ServiceRunJson>();
    expectTypeOf<RunJson['status']>().toEqualTypeOf<ServiceRunJson['status']>();
    expectTypeOf<keyof RunDetail['steps'][number]>().toEqualTypeOf<keyof RunDetailJson['steps'][number]>();
    expectTypeOf<RunDetail['waiting_for']>().toEqualTypeOf<RunDetailJson['waiting_for']>();
    expectTypeOf<WorkflowList['workflows'][number]['name']>().toEqualTypeOf<string>();
    expectTypeOf(createClient('http://127.0.0.1:1').getRun).returns.resolves.toEqualTypeOf<RunDetail>();
  });

  it('starts, reads, lists, sends an event, waits, cancels and retries runs; lists workflows', async () => {
    const { url } = await serve();
    const client = createClient(url, { token: TOKEN });

    const { run, replayed } = await client.startRun('order', { input: { id: 'o-1' } }, { idempotencyKey: 'order-o-1' });
    expect(replayed).toBe(false);
    expect(run).toMatchObject({ workflow: 'order', status: 'pending', input: { id: 'o-1' } });
    expect(await client.startRun('order', { input: { id: 'o-1' } }, { idempotencyKey: 'order-o-1' })).toMatchObject({ replayed: true, run: { id: run.id } });

    const waiting = await waitFor(async () => {
      const r = await client.getRun(run.id);
      return r.waiting_for ? r : null;
    }, 15_000, 'the run to wait');
    expect(waiting.waiting_for).toEqual([expect.objectContaining({ kind: 'event', event: 'order.paid', key: 'o-1' })]);
    expect(waiting.steps.map((s) => [s.name, s.kind, s.status])).toEqual([['paid', 'wait', 'waiting']]);

    expect(await client.sendEvent({ event: 'order.paid', key: 'o-1', payload: { amount: 7 } })).toEqual({ event: 'order.paid', key: 'o-1', resumed: 1 });
    const done = await client.waitRun(run.id, 15);
    expect(isFinal(done)).toBe(true);
    expect(done).toMatchObject({ status: 'completed', output: { order: 'o-1', charged: 7 } });
    expect(done.steps.map((s) => s.name)).toEqual(['paid', 'charge']);

    const sleeper = (await client.startRun('nap')).run;
    const page = await client.listRuns({ limit: 1 });
    expect(page).toMatchObject({ count: 1, runs: [{ id: sleeper.id }] });
    expect((await client.listRuns({ cursor: page.next_cursor! })).runs.map((r) => r.id)).toEqual([run.id]);
    expect((await client.listRuns({ workflow: 'order', status: 'completed' })).runs.map((r) => r.id)).toEqual([run.id]);

    expect(await client.cancelRun(sleeper.id)).toMatchObject({ id: sleeper.id, status: 'cancelled' });
    expect(await client.retryRun(sleeper.id)).toMatchObject({ id: sleeper.id, status: 'pending' });
    const notEnded = await client.waitRun(sleeper.id, 0.2);
    expect(isFinal(notEnded)).toBe(false);

    const { workflows } = await client.listWorkflows();
    expect(workflows.map((w) => w.name)).toEqual(['echo', 'nap', 'order']);
    expect(workflows.find((w) => w.name === 'order')!.runs.completed).toBe(1);
  });

  it('turns 404, 400 and 409 into TaskPoolError with the server\'s code', async () => {
    const { url } = await serve();
    const client = createClient(url, { token: TOKEN });
    expect(await rejection(client.startRun('nope'))).toMatchObject({ status: 404, code: 'not_found', message: 'workflow "nope" is not registered' });
    expect(await rejection(client.getRun('0000000000000001'))).toMatchObject({ status: 404, message: 'run not found' });
    expect(await rejection(client.sendEvent({ event: '' }))).toMatchObject({ status: 400, message: 'event must not be empty' });
    expect(await rejection(client.startRun('echo', { delay_seconds: 1, run_at: '2099-01-01T00:00:00Z' }))).toMatchObject({ status: 400, message: 'use either run_at or delay_seconds, not both' });
    const { run } = await client.startRun('echo', { input: 1 });
    await client.waitRun(run.id, 15);
    expect(await rejection(client.cancelRun(run.id))).toMatchObject({ status: 409, code: 'run_finished' });
    expect(await rejection(createClient(url).listWorkflows())).toMatchObject({ status: 401 });
  });
});

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `task-pool <args>` as a real process (the CLI entry point, through tsx). */
function cli(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const { API_TOKEN: _a, TASK_POOL_TOKEN: _t, TASK_POOL_URL: _u, ...inherited } = process.env;
    const proc = spawn('node', ['--import', 'tsx', 'local/cli.ts', ...args], { cwd: ROOT, env: inherited, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const json = <T>(result: CliResult): T => {
  expect(result.code, result.stderr).toBe(EXIT.ok);
  return JSON.parse(result.stdout) as T;
};

describe('task-pool runs|events|workflows … against a real server', () => {
  it('every command, as JSON and as a table, and their errors', async () => {
    const { url } = await serve();
    const auth = ['--url', url, '--token', TOKEN];
    const inputFile = join(tempDir(), 'input.json');
    writeFileSync(inputFile, '{"from": "a file"}');

    const [started, echoed, sleeper] = await Promise.all([
      cli(['runs', 'start', 'order', ...auth, '--json', '--input', '{"id":"o-9"}', '--idempotency-key', 'cli-o-9']).then((r) => json<{ id: string; status: string }>(r)),
      cli(['runs', 'start', 'echo', ...auth, '--input', `@${inputFile}`, '--wait', '20']),
      cli(['runs', 'start', 'nap', ...auth, '--json']).then((r) => json<{ id: string }>(r)),
    ]);
    expect(started.status).toBe('pending');
    expect(echoed.code, echoed.stderr).toBe(EXIT.ok);
    expect(echoed.stdout).toMatch(/^status +completed$/m);
    expect(echoed.stdout).toMatch(/^output +\{"from":"a file"\}$/m);
    expect(echoed.stdout).toMatch(/^name +kind +status +attempts +started_at +completed_at +wake_at +error$/m);
    expect(echoed.stdout).toMatch(/^echo +step +completed +1 /m);

    const client = createClient(url, { token: TOKEN });
    await waitFor(async () => (await client.getRun(started.id)).waiting_for, 15_000, 'the order run to wait');
    const [got, listed] = await Promise.all([
      cli(['runs', 'get', started.id, ...auth]),
      cli(['runs', 'list', ...auth, '--json', '--workflow', 'order']).then((r) => json<{ count: number; runs: { id: string }[] }>(r)),
    ]);
    const sent = json<{ resumed: number }>(await cli(['events', 'send', 'order.paid', ...auth, '--json', '--key', 'o-9', '--payload', '{"amount":3}']));
    expect(got.code, got.stderr).toBe(EXIT.ok);
    expect(got.stdout).toMatch(/^waiting_for +\[\{"kind":"event","step":"paid","event":"order.paid","key":"o-9"/m);
    expect(got.stdout).toMatch(/^paid +wait +waiting +0 /m);
    expect(listed.runs.map((r) => r.id)).toEqual([started.id]);
    expect(sent).toEqual({ event: 'order.paid', key: 'o-9', resumed: 1 });

    const [waited, cancelled, workflows] = await Promise.all([
      cli(['runs', 'wait', started.id, ...auth, '--json', '--timeout', '20']),
      cli(['runs', 'cancel', sleeper.id, ...auth]),
      cli(['workflows', 'list', ...auth]),
    ]);
    expect(waited.code, waited.stderr).toBe(EXIT.ok);
    expect(JSON.parse(waited.stdout)).toMatchObject({ status: 'completed', output: { order: 'o-9', charged: 3 } });
    expect(cancelled.code, cancelled.stderr).toBe(EXIT.ok);
    expect(cancelled.stdout).toMatch(/^status +cancelled$/m);
    expect(workflows.code, workflows.stderr).toBe(EXIT.ok);
    expect(workflows.stdout.split('\n')[0]).toMatch(/^name +pending +in_progress +completed +failed +cancelled +oldest_pending_at$/);
    expect(workflows.stdout).toMatch(/^order +0 +0 +1 +0 +0 +-$/m);

    const [retried, cancelledWait, cancelAgain, unknown, badInput, noEvent, notFound] = await Promise.all([
      cli(['runs', 'retry', sleeper.id, ...auth, '--json']).then((r) => json<{ status: string }>(r)),
      cli(['runs', 'wait', started.id, ...auth, '--timeout', '1']),
      cli(['runs', 'cancel', started.id, ...auth]),
      cli(['runs', 'start', 'nope', ...auth]),
      cli(['runs', 'start', 'echo', ...auth, '--input', '{not json']),
      cli(['events', 'send', '', ...auth]),
      cli(['runs', 'get', '0000000000000001', ...auth]),
    ]);
    expect(retried.status).toBe('pending');
    expect(cancelledWait.code).toBe(EXIT.ok);
    expect(cancelAgain).toMatchObject({ code: EXIT.conflict, stderr: 'task-pool: 409 run_finished: run is already completed\n' });
    expect(unknown).toMatchObject({ code: EXIT.notFound, stdout: '', stderr: 'task-pool: 404 not_found: workflow "nope" is not registered\n' });
    expect(badInput.code).toBe(EXIT.invalid);
    expect(badInput.stderr).toMatch(/input must be JSON/);
    expect(noEvent).toMatchObject({ code: EXIT.invalid, stderr: 'task-pool: 400 invalid_field: event must not be empty\n' });
    expect(notFound).toMatchObject({ code: EXIT.notFound, stderr: 'task-pool: 404 not_found: run not found\n' });
  }, 180_000);
});
