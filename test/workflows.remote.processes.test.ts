import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startRuntime, tempDir, waitFor } from './helpers.ts';
import { killAll, spawnService, type ServiceProcess } from './processes.ts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, toNodeHandler } from '../lib/workflows/sdk.ts';
import { inARow } from './fixtures/remote-sdk-workflows.ts';

/**
 * Remote workflows with real processes and SIGKILL, the app served with `serve()` on node:http: the app killed for 5 s in the middle of a
 * run (restarted on the same port) delays the run and loses nothing; the task-pool process
 * killed in the middle and restarted loses nothing and repeats at most the step in flight.
 * "Loses nothing": the run completes with every step's output; "at most the step in flight":
 * every step's code ran once, except at most one that ran twice.
 */

const APP_FIXTURE = fileURLToPath(new URL('./fixtures/remote-workflow-app.ts', import.meta.url));
const SECRET = 'whsec_' + Buffer.from('remote-workflow-processes-secret-012345').toString('base64');
const STEPS = 8;
const SUM = (STEPS * (STEPS + 1)) / 2;

const processes: ServiceProcess[] = [];
const servers: Server[] = [];
afterEach(() => {
  killAll(processes.splice(0));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

function startApp(port: number, counter: string): Promise<ServiceProcess> {
  const app = spawnService([APP_FIXTURE], { NAME: 'crashy-app', PORT: String(port), SECRET, COUNTER: counter, STEPS: String(STEPS), STEP_MS: '300' }, ['node', '--import', 'tsx']);
  processes.push(app);
  return app.waitForLog((r) => r.msg === 'workflow app listening', 40_000).then(() => app);
}

/** How often each step's code ran, by step. */
function ranPerStep(lines: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of lines) {
    const step = line.split(' ')[1]!;
    counts.set(step, (counts.get(step) ?? 0) + 1);
  }
  return counts;
}

function expectAtMostOneRepeat(counts: Map<string, number>): void {
  expect([...counts.keys()].sort()).toEqual(Array.from({ length: STEPS }, (_, i) => `s${i + 1}`).sort());
  const repeats = [...counts.entries()].filter(([, n]) => n > 1);
  expect(repeats.length, JSON.stringify([...counts])).toBeLessThanOrEqual(1);
  for (const [, n] of repeats) expect(n).toBe(2);
}

describe('remote workflows across crashes (real processes)', () => {
  it('the app killed for 5 s in the middle: the run waits, then completes; nothing lost, at most the step in flight repeated', async () => {
    const dir = tempDir('task-pool-remote-');
    const counter = join(dir, 'counter.log');
    writeFileSync(counter, '');
    const port = await freePort();
    const app = await startApp(port, counter);
    const runtime = await startRuntime({ env: { HTTP_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_SECRET: SECRET, TASK_BACKOFF_BASE_MS: '200', TASK_BACKOFF_MAX_MS: '1000' } });
    runtime.start();
    await runtime.workflows.putRemote('crashy-app', { url: `http://127.0.0.1:${port}/`, timeout_seconds: 5, max_per_host: 10 });
    const { run } = await runtime.workflows.startRun('crashy-app', {});
    const lines = () => readFileSync(counter, 'utf8').split('\n').filter(Boolean);
    await waitFor(() => lines().length >= 3, 30_000, 'three steps to run');
    app.proc.kill('SIGKILL');
    await app.exited;
    const killedAt = Date.now();
    const waiting = await waitFor(async () => {
      const r = await runtime.workflows.getRun(run.id);
      return r.status === 'pending' && r.error?.includes('ECONNREFUSED') ? r : null;
    }, 10_000, 'the run to show the app is down');
    expect(waiting.error).toMatch(/^request to 127\.0\.0\.1:\d+ failed: ECONNREFUSED/);
    await new Promise((resolve) => setTimeout(resolve, 5000 - (Date.now() - killedAt)));
    await startApp(port, counter);
    const done = await waitFor(async () => {
      const r = await runtime.workflows.getRun(run.id);
      return r.status === 'completed' || r.status === 'failed' ? r : null;
    }, 60_000, 'the run to end');
    expect(done).toMatchObject({ status: 'completed', output: SUM, attempts: 1, error: null });
    expect(Date.parse(done.completed_at!) - killedAt).toBeGreaterThanOrEqual(5000);
    expect(done.steps!.every((s) => s.attempts === 1)).toBe(true);
    expectAtMostOneRepeat(ranPerStep(lines()));
  });

  it('task-pool killed in the middle and restarted: the run completes; nothing lost, at most the step in flight repeated', async () => {
    const dir = tempDir('task-pool-remote-');
    const dbUrl = `file:${join(dir, 'tasks.db')}`;
    const ran: string[] = [];
    const server = createServer(toNodeHandler(serve(inARow('survivor', STEPS, 300, (step, run) => ran.push(`${run} ${step}`)), { signingSecret: SECRET, logLevel: 'warn' })));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const app = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
    const env = { DATABASE_URL: dbUrl, HTTP_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_SECRET: SECRET, TASK_LEASE_SECONDS: '2' };
    const startServe = async () => {
      const service = spawnService(['serve'], env);
      processes.push(service);
      const started = await service.waitForLog((r) => r.mode === 'serve' && typeof r.url === 'string', 40_000);
      return Object.assign(service, { url: started.url as string });
    };
    const first = await startServe();
    const put = await fetch(`${first.url}/workflows/survivor`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: app.url }) });
    expect(put.status).toBe(201);
    const start = await fetch(`${first.url}/workflows/survivor/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const run = (await start.json()) as { id: string };
    await waitFor(() => ran.length >= 3, 30_000, 'three steps to run');
    first.proc.kill('SIGKILL');
    await first.exited;
    const second = await startServe();
    const done = await waitFor(async () => {
      const r = (await (await fetch(`${second.url}/runs/${run.id}`)).json()) as { status: string; output: unknown; steps: { attempts: number }[] };
      return r.status === 'completed' || r.status === 'failed' ? r : null;
    }, 60_000, 'the run to end');
    expect(done).toMatchObject({ status: 'completed', output: SUM });
    expectAtMostOneRepeat(ranPerStep(ran));
  });
});
