import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { createClient } from '../lib/client/index.ts';
import { EXIT } from '../local/cli-api.ts';
import { ROOT } from './processes.ts';
import { serveRuntime } from './support/serve.ts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve as serveNode } from '@hono/node-server';
import { Hono } from 'hono';
import { serve, toNodeHandler } from '../lib/workflows/sdk.ts';
import { checkout } from './fixtures/remote-sdk-workflows.ts';
import { classifyAddress } from '../lib/delivery/address.ts';
import { guardFromConfig } from '../lib/delivery/guard.ts';
import { defineWorkflow, type Workflow } from '../lib/workflows/define.ts';
import { jsonRequest, openTestRepo, startRuntime, tempDbUrl, testConfig, waitFor } from './helpers.ts';
import { parseTaskId } from '../lib/tasks/ids.ts';
import { WorkflowRegistry } from '../lib/workflows/engine.ts';
import { RemoteWorkflowRepository, RemoteWorkflows } from '../lib/workflows/remote-registry.ts';
import { WorkflowRepository } from '../lib/workflows/repository.ts';
import { WorkflowService } from '../lib/workflows/service.ts';
import { advanceAnswer, fourSteps, record, startScriptedApp, type ScriptedApp } from './support/remote-app.ts';

/**
 * Workflows served by an app (lib/workflows/remote.ts), engine side, in one process on a real
 * file: the registry routes, a run advanced step by step over loopback HTTP (a sleep and an
 * event settled by the engine), an app that answers 5xx (the run waits, nothing counted), 4xx
 * (the run fails), a forged answer (protocol_error), a request over WORKFLOW_MAX_REQUEST_BYTES,
 * and invokes across the two kinds of workflow.
 */

const SECRET = 'whsec_' + Buffer.from('remote-workflow-test-secret-0123456789').toString('base64');
const OTHER_SECRET = 'whsec_' + Buffer.from('somebody-else-entirely-9876543210xyz').toString('base64');

const apps: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** Listens on a free loopback port; closed after the test. */
async function listening(server: Server): Promise<string> {
  if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apps.push({ close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function app(answer: Parameters<typeof startScriptedApp>[1]): Promise<ScriptedApp> {
  const started = await startScriptedApp(SECRET, answer);
  apps.push(started);
  return started;
}

async function runtimeWith(env: Record<string, string> = {}, workflows: Workflow[] = []) {
  const runtime = await startRuntime({
    workflows,
    env: { HTTP_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_SECRET: SECRET, TASK_BACKOFF_BASE_MS: '100', TASK_BACKOFF_MAX_MS: '400', ...env },
  });
  runtime.start();
  return { runtime, request: jsonRequest(runtime.app) };
}

type Started = Awaited<ReturnType<typeof runtimeWith>>;

async function register({ request }: Started, name: string, body: Record<string, unknown>) {
  const response = await request(`/workflows/${name}`, { method: 'PUT', json: body });
  expect(response.status, await response.clone().text()).toBeLessThan(300);
  return response;
}

async function finished({ runtime }: Started, id: string, timeoutMs = 15_000) {
  return waitFor(async () => {
    const run = await runtime.workflows.getRun(id);
    return ['completed', 'failed', 'cancelled'].includes(run.status) ? run : null;
  }, timeoutMs, `run ${id} to end`);
}

describe('remote workflows (engine side, one process)', () => {
  it('serve() in a node:http app and in a Hono app: a four-step workflow with a sleep and an event completes, each step once', async () => {
    const ran: string[] = [];
    const note = (step: string, runId: string) => ran.push(`${runId} ${step}`);
    const nodeApp = await listening(createServer(toNodeHandler(serve(checkout('node-checkout', note), { signingSecret: SECRET }))));
    const hono = new Hono();
    const honoHandler = serve(checkout('hono-checkout', note), { signingSecret: SECRET });
    hono.post('/api/workflows/checkout', (c) => honoHandler(c.req.raw));
    const honoServer = await new Promise<Server>((resolve) => {
      const server = serveNode({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(server as Server));
    });
    const honoApp = await listening(honoServer);

    const started = await runtimeWith();
    await register(started, 'node-checkout', { url: `${nodeApp}/` });
    await register(started, 'hono-checkout', { url: `${honoApp}/api/workflows/checkout` });
    const runs = await Promise.all(['node-checkout', 'hono-checkout'].map(async (name) => (await started.runtime.workflows.startRun(name, { input: { key: name } })).run));
    for (const run of runs) {
      await waitFor(async () => (await started.runtime.workflows.getRun(run.id)).waiting_for?.some((w) => w.kind === 'event'), 15_000, `${run.workflow} to wait`);
      expect((await started.runtime.workflows.getRun(run.id)).steps.map((s) => [s.name, s.status])).toEqual([
        ['a', 'completed'],
        ['nap', 'completed'],
        ['paid', 'waiting'],
      ]);
      await started.runtime.workflows.sendEvent('paid', run.workflow, { by: run.workflow });
    }
    for (const run of runs) {
      const done = await finished(started, run.id);
      expect(done).toMatchObject({ status: 'completed', attempts: 1, error: null, output: { a: { n: 1 }, paid: { by: run.workflow }, b: 'done' } });
      expect(done.steps!.map((s) => [s.name, s.kind, s.status, s.attempts])).toEqual([
        ['a', 'step', 'completed', 1],
        ['nap', 'sleep', 'completed', 0],
        ['paid', 'wait', 'completed', 0],
        ['b', 'step', 'completed', 1],
      ]);
      const nap = done.steps!.find((s) => s.name === 'nap')!;
      expect(Date.parse(nap.completed_at!) - Date.parse(nap.started_at)).toBeGreaterThanOrEqual(1000);
      expect(ran.filter((line) => line.startsWith(`${run.id} `)).sort()).toEqual([`${run.id} a`, `${run.id} b`]);
    }
    // Counted as in-process runs are: started, finished, and each step once.
    const metrics = await (await started.request('/metrics')).text();
    expect(metrics).toContain('task_pool_workflow_runs_started_total{workflow="node-checkout"} 1');
    expect(metrics).toContain('task_pool_workflow_runs_finished_total{workflow="hono-checkout",outcome="completed"} 1');
    expect(metrics).toMatch(/task_pool_workflow_step_duration_seconds_count\{[^}]*workflow="node-checkout"[^}]*kind="step"[^}]*\} 2/);
  });

  it('serve() answers 401 to a workflow registered with another secret: the run fails saying so, nothing ran', async () => {
    const ran: string[] = [];
    const url = await listening(createServer(toNodeHandler(serve(checkout('wrong-secret', (step) => ran.push(step)), { signingSecret: SECRET }))));
    const started = await runtimeWith();
    await register(started, 'wrong-secret', { url, signing_secret: OTHER_SECRET });
    const { run } = await started.runtime.workflows.startRun('wrong-secret', { input: { key: 'k' } });
    expect((await finished(started, run.id)).error).toMatch(/^HTTP 401 Unauthorized: .*invalid_signature.*\(the app refused the signature/);
    expect(ran).toEqual([]);
  });

  it('runs a four-step workflow with a sleep and an event, each step once', async () => {
    const counts: Record<string, number> = {};
    const served = await app(fourSteps(counts, 1000));
    const started = await runtimeWith();
    await register(started, 'checkout', { url: served.url });
    const { run } = await started.runtime.workflows.startRun('checkout', { input: { key: 'order-1' } });
    await waitFor(async () => (await started.runtime.workflows.getRun(run.id)).waiting_for?.some((w) => w.kind === 'event'), 15_000, 'the wait');
    expect(await started.runtime.workflows.sendEvent('paid', 'order-1', { amount: 5 })).toMatchObject({ resumed: 1 });
    const done = await finished(started, run.id);
    expect(done).toMatchObject({ status: 'completed', output: { a: { n: 1 }, paid: { amount: 5 }, b: 'done' }, attempts: 1, error: null });
    expect(counts).toEqual({ a: 1, b: 1 });
    expect(done.steps!.map((s) => [s.name, s.kind, s.status])).toEqual([
      ['a', 'step', 'completed'],
      ['nap', 'sleep', 'completed'],
      ['paid', 'wait', 'completed'],
      ['b', 'step', 'completed'],
    ]);
    // The sleep was settled by the engine, not before its time.
    const nap = done.steps!.find((s) => s.name === 'nap')!;
    expect(Date.parse(nap.completed_at!) - Date.parse(nap.started_at)).toBeGreaterThanOrEqual(1000);
    // Every request carried the whole history, and the run's identity.
    const last = served.requests.at(-1)!;
    expect(last.run).toMatchObject({ id: run.id, workflow: 'checkout', input: { key: 'order-1' } });
    expect(last.steps.map((s) => s.name)).toEqual(['a', 'nap', 'paid', 'b']);
  });

  it('PUT registers and updates, GET shows it without the secret, DELETE refuses while runs are active unless forced', async () => {
    const local = defineWorkflow('local-one', async () => 'ok');
    // An app that suspends every run for a long sleep: the run stays active.
    const served = await app((request) => ({
      answer: advanceAnswer([record('long', 'sleep', { status: 'waiting', wakeAt: request.now + 3_600_000, completedAt: null }, request.now)], {
        kind: 'suspended',
        needs: [{ kind: 'sleep', name: 'long', until: request.now + 3_600_000 }],
      }),
    }));
    const started = await runtimeWith({}, [local]);
    const { request } = started;
    const created = await request('/workflows/slow', { method: 'PUT', json: { url: served.url, signing_secret: OTHER_SECRET, timeout_seconds: 5, max_per_host: 3 } });
    expect(created.status).toBe(201);
    const createdBody = await created.json();
    expect(createdBody).toMatchObject({ name: 'slow', runs: {}, remote: { url: served.url, timeout_seconds: 5, max_per_host: 3, signing_secret: 'own' } });
    expect(JSON.stringify(createdBody)).not.toContain(OTHER_SECRET);
    const updated = await request('/workflows/slow', { method: 'PUT', json: { url: served.url } });
    expect(updated.status).toBe(200);
    expect(await updated.json()).toMatchObject({ remote: { timeout_seconds: 30, max_per_host: 10, signing_secret: 'WEBHOOK_SECRET' } });

    const list = (await (await request('/workflows')).json()) as { workflows: { name: string; remote?: unknown }[] };
    expect(list.workflows.map((w) => [w.name, w.remote !== undefined])).toEqual([
      ['local-one', false],
      ['slow', true],
    ]);
    expect((await request('/workflows/local-one', { method: 'PUT', json: { url: served.url } })).status).toBe(409);
    expect((await request('/workflows/local-one', { method: 'DELETE' })).status).toBe(409);
    expect((await request('/workflows/nobody')).status).toBe(404);
    expect((await request('/workflows/nobody', { method: 'DELETE' })).status).toBe(404);

    // A remote run is a task of type workflow:<name>: POST /tasks takes that type too, once registered.
    expect((await request('/tasks', { method: 'POST', json: { title: 't', description: 'd', type: 'workflow:slow' } })).status).toBe(202);
    expect((await request('/tasks', { method: 'POST', json: { title: 't', description: 'd', type: 'workflow:nobody' } })).status).toBe(400);
    const types = (await (await request('/types')).json()) as { types: { type: string }[] };
    expect(types.types.map((t) => t.type)).toContain('workflow:slow');
    const start = await request('/workflows/slow/runs', { method: 'POST', json: { input: 1 } });
    expect(start.status).toBe(202);
    const run = (await start.json()) as { id: string };
    await waitFor(async () => (await started.runtime.workflows.getRun(run.id)).waiting_for?.some((w) => w.kind === 'sleep'), 10_000, 'the sleep');
    const refused = await request('/workflows/slow', { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: 'workflow_has_runs' });
    const forced = await request('/workflows/slow?force=true', { method: 'DELETE' });
    expect(forced.status).toBe(200);
    expect(await forced.json()).toEqual({ name: 'slow', deleted: true, cancelled_runs: 2 });
    expect((await started.runtime.workflows.getRun(run.id)).status).toBe('cancelled');
    expect((await request('/workflows/slow')).status).toBe(404);
    expect((await request('/workflows/slow/runs', { method: 'POST', json: {} })).status).toBe(404);
  });

  it('a registration made on one instance is seen by another sharing the database, and its runs run there', async () => {
    const counts: Record<string, number> = {};
    const served = await app(fourSteps(counts, 10));
    const DATABASE_URL = tempDbUrl();
    const a = await runtimeWith({ DATABASE_URL });
    const b = await startRuntime({ env: { DATABASE_URL, HTTP_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_SECRET: SECRET }, processing: false });
    expect(await b.workflows.has('shared')).toBe(false);
    await register(a, 'shared', { url: served.url });
    // B's view of the table is at most a second old (lib/workflows/remote-registry.ts).
    const { run } = await waitFor(() => b.workflows.startRun('shared', { input: { key: 's' } }).catch(() => null), 5000, 'B to see the registration');
    await waitFor(async () => (await a.runtime.workflows.getRun(run.id)).waiting_for?.some((w) => w.kind === 'event'), 15_000, 'A to run it');
    await b.workflows.sendEvent('paid', 's', 1);
    expect(await finished(a, run.id)).toMatchObject({ status: 'completed' });
    await register(a, 'shared', { url: served.url, timeout_seconds: 9 });
    await waitFor(async () => (await b.workflows.getWorkflow('shared')).remote?.timeout_seconds === 9, 5000, 'B to see the change');
  });

  it('400 for a URL the SSRF guard refuses: decided from the address alone, nothing sent', async () => {
    // The guard's verdict, from the pure classifier and the config: no packet to 10.0.0.1 or anywhere.
    expect(classifyAddress('10.0.0.1')).toBe('private');
    expect(classifyAddress('127.0.0.1')).toBe('loopback');
    const strict = guardFromConfig(testConfig());
    expect(strict.checkHost('10.0.0.1')).toMatch(/private address/);
    expect(strict.checkHost('127.0.0.1')).toMatch(/loopback address/);

    const started = await runtimeWith({ HTTP_ALLOW_PRIVATE_NETWORKS: 'false' });
    for (const url of ['http://10.0.0.1/workflow', 'http://127.0.0.1:9/workflow', 'http://[::1]:9/', 'http://169.254.169.254/']) {
      const response = await started.request('/workflows/refused', { method: 'PUT', json: { url } });
      expect(response.status, url).toBe(400);
      expect(await response.json()).toMatchObject({ code: 'destination_refused', message: expect.stringMatching(/^url: destination refused/) });
    }
    const bad = await started.request('/workflows/refused', { method: 'PUT', json: { url: 'ftp://example.com/', extra: 1 } });
    expect(bad.status).toBe(400);
    expect((await started.request('/workflows/refused', { method: 'PUT', json: { url: 'https://example.com/x', timeout_seconds: 0 } })).status).toBe(400);
    const plainSecret = await started.request('/workflows/refused', { method: 'PUT', json: { url: 'https://example.com/x', signing_secret: 'just a password here' } });
    expect(plainSecret.status).toBe(400);
    expect(await plainSecret.json()).toMatchObject({ message: expect.stringMatching(/^signing_secret must be one or more comma-separated whsec_ secrets/) });
    expect((await started.request('/workflows/refused')).status).toBe(404);
    // A name is not refused when registered (no DNS then), but at connect time on Node, before
    // any connection: the guarded transport (local/http-transport.ts) checks what it resolves to.
    const counts: Record<string, number> = {};
    const served = await app(fourSteps(counts));
    const named = `http://localhost:${new URL(served.url).port}/workflow`;
    expect((await started.request('/workflows/by-name', { method: 'PUT', json: { url: named } })).status).toBe(201);
    const { run } = await started.runtime.workflows.startRun('by-name', { input: { key: 'x' } });
    const refusedRun = await finished(started, run.id);
    expect(refusedRun).toMatchObject({ status: 'failed', attempts: 1 });
    expect(refusedRun.error).toMatch(/^destination refused: (127\.0\.0\.1|::1) is a loopback address \(localhost resolves to it\)/);
    expect(served.requests).toHaveLength(0);
    expect(served.refused).toBe(0);
    // Allowed by name: HTTP_ALLOWED_HOSTS lets the loopback app through, as for http tasks.
    const allowed = await runtimeWith({ HTTP_ALLOW_PRIVATE_NETWORKS: 'false', HTTP_ALLOWED_HOSTS: '127.0.0.1' });
    expect((await allowed.request('/workflows/allowed', { method: 'PUT', json: { url: 'http://127.0.0.1:9/' } })).status).toBe(201);
  });

  it('an app answering 503 delays the run without counting a step retry or an attempt; it then completes', async () => {
    const counts: Record<string, number> = {};
    const steps = fourSteps(counts, 10);
    let failing = 3;
    const served = await app((request) => {
      if (request.steps.length === 1 && failing > 0) {
        failing--;
        // The second answer asks for a second: Retry-After wins over the 100 ms backoff.
        return { status: 503, answer: 'busy, come back', signWith: false, headers: { 'content-type': 'text/plain', ...(failing === 1 ? { 'retry-after': '1' } : {}) } };
      }
      return steps(request);
    });
    // Retry-After is capped by TASK_BACKOFF_MAX_MS, as for http tasks.
    const started = await runtimeWith({ TASK_BACKOFF_MAX_MS: '5000' });
    await register(started, 'flaky-app', { url: served.url });
    const { run } = await started.runtime.workflows.startRun('flaky-app', { input: { key: 'k' } });
    const waiting = await waitFor(async () => {
      const r = await started.runtime.workflows.getRun(run.id);
      return r.status === 'pending' && r.error?.includes('HTTP 503') ? r : null;
    }, 10_000, 'the run to show the 503');
    expect(waiting.error).toMatch(/^HTTP 503 Service Unavailable: busy, come back \(advance \d in a row unanswered; next at /);
    const afterRetryAfter = await waitFor(async () => {
      const r = await started.runtime.workflows.getRun(run.id);
      return r.status === 'pending' && r.error?.includes('advance 2 in a row') ? r : null;
    }, 10_000, 'the second 503');
    expect(Date.parse(afterRetryAfter.run_at) - Date.parse(afterRetryAfter.updated_at)).toBeGreaterThanOrEqual(900);
    await waitFor(async () => (await started.runtime.workflows.getRun(run.id)).waiting_for?.some((w) => w.kind === 'event'), 15_000, 'the wait');
    expect((await started.runtime.workflows.getRun(run.id)).error).toBeNull();
    await started.runtime.workflows.sendEvent('paid', 'k', null);
    const done = await finished(started, run.id);
    expect(done).toMatchObject({ status: 'completed', attempts: 1, error: null });
    expect(done.steps!.find((s) => s.name === 'a')).toMatchObject({ attempts: 1 });
    expect(failing).toBe(0);
    expect(counts).toEqual({ a: 1, b: 1 });
  });

  it('POST /runs/:id/retry starts the count of unanswered advances again at 0: the first backoff after it is the base one', async () => {
    const served = await app(() => ({ status: 503, answer: 'down', signWith: false, headers: { 'content-type': 'text/plain' } }));
    const DATABASE_URL = tempDbUrl();
    const started = await runtimeWith({ DATABASE_URL });
    const reader = await openTestRepo(DATABASE_URL);
    onTestFinished(() => reader.close());
    const marks = new WorkflowRepository(reader.driver);
    await register(started, 'down-app', { url: served.url });
    const { run } = await started.runtime.workflows.startRun('down-app', {});
    const runId = parseTaskId(run.id)!;
    await waitFor(async () => (await marks.run(runId)).advanceFailures >= 3, 15_000, 'three advances unanswered');
    // Paused, no execution can take the retried run before the count is read.
    expect((await started.request('/types/workflow:down-app/pause', { method: 'POST' })).status).toBe(200);
    expect((await started.request(`/runs/${run.id}/cancel`, { method: 'POST' })).status).toBe(200);
    expect((await marks.run(runId)).advanceFailures).toBeGreaterThanOrEqual(3);
    expect((await started.request(`/runs/${run.id}/retry`, { method: 'POST' })).status).toBe(200);
    expect(await marks.run(runId)).toMatchObject({ advanceFailures: 0 });
    const asked = served.requests.length;
    const { error: before } = await started.runtime.workflows.getRun(run.id);
    expect((await started.request('/types/workflow:down-app/resume', { method: 'POST' })).status).toBe(200);
    const again = await waitFor(async () => {
      const r = await started.runtime.workflows.getRun(run.id);
      return served.requests.length > asked && r.error?.includes('in a row') && r.error !== before ? r : null;
    }, 15_000, 'the first advance after the retry');
    expect(again.error).toMatch(/^HTTP 503 Service Unavailable: down \(advance 1 in a row unanswered; next at /);
  });

  it('a start that read the registration before a DELETE and inserted after it: its run is cancelled and the start answers 404', async () => {
    // Instance B's view of the registrations is an hour old: its check passes after the delete,
    // as a start whose check ran just before the DELETE and whose insert landed just after.
    const served = await app((request) => ({
      answer: advanceAnswer([record('long', 'sleep', { status: 'waiting', wakeAt: request.now + 3_600_000, completedAt: null }, request.now)], {
        kind: 'suspended',
        needs: [{ kind: 'sleep', name: 'long', until: request.now + 3_600_000 }],
      }),
    }));
    const DATABASE_URL = tempDbUrl();
    const a = await runtimeWith({ DATABASE_URL });
    const b = await openTestRepo(DATABASE_URL);
    onTestFinished(() => b.close());
    const stale = new WorkflowService({
      tasks: b.service,
      taskRepo: b.repo,
      repo: new WorkflowRepository(b.driver),
      registry: new WorkflowRegistry(),
      remote: { workflows: new RemoteWorkflows(new RemoteWorkflowRepository(b.driver), { maxAgeMs: 3_600_000 }), guard: guardFromConfig(testConfig()), hasDefaultSecret: true },
    });
    const runsOf = async (name: string) => (await b.repo.list({ type: `workflow:${name}`, limit: 10 })).map((t) => t.status).sort();

    // Without force: the DELETE found no active run and deleted; B's start comes after.
    await register(a, 'quiet', { url: served.url });
    expect(await stale.has('quiet')).toBe(true);
    expect(await (await a.request('/workflows/quiet', { method: 'DELETE' })).json()).toEqual({ name: 'quiet', deleted: true, cancelled_runs: 0 });
    expect(await stale.has('quiet')).toBe(true);
    await expect(stale.startRun('quiet', {})).rejects.toMatchObject({ status: 404, code: 'not_found' });
    expect(await runsOf('quiet')).toEqual(['cancelled']);

    // With force: the run started before the DELETE is cancelled by it, the one B starts after by B.
    await register(a, 'busy', { url: served.url });
    expect(await stale.has('busy')).toBe(true);
    const { run: before } = await a.runtime.workflows.startRun('busy', {});
    const refused = await a.request('/workflows/busy', { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect((await a.request('/workflows/busy')).status).toBe(200);
    expect(await (await a.request('/workflows/busy?force=true', { method: 'DELETE' })).json()).toEqual({ name: 'busy', deleted: true, cancelled_runs: 1 });
    expect((await a.runtime.workflows.getRun(before.id)).status).toBe('cancelled');
    await expect(stale.startRun('busy', { input: 2 })).rejects.toMatchObject({ status: 404 });
    expect(await runsOf('busy')).toEqual(['cancelled', 'cancelled']);
    expect((await a.request('/workflows/busy/runs', { method: 'POST', json: {} })).status).toBe(404);
  });

  it('a run cancelled while its app is answering stops there: the late answer is not recorded', async () => {
    let release: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => (release = resolve));
    const served = await app(async (request) => {
      await answered;
      return { answer: advanceAnswer([record('late', 'step', { output: '1' }, request.now)], { kind: 'continue' }) };
    });
    const started = await runtimeWith();
    await register(started, 'slow-answer', { url: served.url });
    const { run } = await started.runtime.workflows.startRun('slow-answer', {});
    await waitFor(() => served.requests.length === 1, 10_000, 'the request');
    expect((await started.request(`/runs/${run.id}/cancel`, { method: 'POST' })).status).toBe(200);
    release();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await started.runtime.workflows.getRun(run.id)).toMatchObject({ status: 'cancelled', steps: [] });
    expect(served.requests).toHaveLength(1);
  });

  it('a 404 fails the run with the status and the body; a 401 says the secrets differ', async () => {
    const notFound = await app(() => ({ status: 404, answer: 'no such route here', signWith: false, headers: { 'content-type': 'text/plain' } }));
    const started = await runtimeWith();
    await register(started, 'gone', { url: notFound.url });
    const { run } = await started.runtime.workflows.startRun('gone', {});
    expect(await finished(started, run.id)).toMatchObject({ status: 'failed', error: 'HTTP 404 Not Found: no such route here', attempts: 1 });
    // The route is back (registered again at its right URL): POST /runs/:id/retry resumes the run.
    const fixed = await app((request) => ({ answer: advanceAnswer([], { kind: 'completed', output: request.run.attempt }) }));
    await register(started, 'gone', { url: fixed.url });
    expect((await started.request(`/runs/${run.id}/retry`, { method: 'POST' })).status).toBe(200);
    expect(await finished(started, run.id)).toMatchObject({ status: 'completed', output: 1, error: null });

    // Registered with another secret than the app's: the app answers 401.
    await register(started, 'mismatch', { url: notFound.url, signing_secret: OTHER_SECRET });
    const second = await started.runtime.workflows.startRun('mismatch', {});
    const failed = await finished(started, second.run.id);
    expect(failed.error).toMatch(/^HTTP 401 Unauthorized: bad signature \(the app refused the signature/);
    expect(notFound.refused).toBe(1);
  });

  it('an answer signed with another secret, or not the protocol, fails the run with protocol_error', async () => {
    const forged = await app((request) => ({ answer: advanceAnswer([record('x', 'step', { output: '1' }, request.now)], { kind: 'continue' }), signWith: OTHER_SECRET }));
    const garbled = await app(() => ({ answer: { protocol: 1, records: [], children: [], end: { kind: 'explode' } } as never }));
    const overwrite = await app((request) =>
      request.steps.length === 0
        ? { answer: advanceAnswer([record('x', 'step', { output: '1' }, request.now)], { kind: 'continue' }) }
        : { answer: advanceAnswer([record('x', 'step', { output: '2' }, request.now)], { kind: 'continue' }) },
    );
    const started = await runtimeWith();
    await register(started, 'forged', { url: forged.url });
    await register(started, 'garbled', { url: garbled.url });
    await register(started, 'overwrite', { url: overwrite.url });
    const runs = await Promise.all(['forged', 'garbled', 'overwrite'].map((name) => started.runtime.workflows.startRun(name, {})));
    const [a, b, c] = await Promise.all(runs.map(({ run }) => finished(started, run.id)));
    expect(a).toMatchObject({ status: 'failed', error: expect.stringMatching(/^protocol_error: the answer's signature does not verify with the workflow's secret/), steps: [] });
    expect(b).toMatchObject({ status: 'failed', error: 'protocol_error: end.kind must be one of continue, completed, failed, suspended' });
    expect(c).toMatchObject({ status: 'failed', error: 'protocol_error: records[0] ("x") replaces a completed record' });
    expect(c!.steps).toEqual([expect.objectContaining({ name: 'x', output: 1 })]);
  });

  it('a request over WORKFLOW_MAX_REQUEST_BYTES is refused, not sent: workflow_request_too_large', async () => {
    const served = await app((request) => ({ answer: advanceAnswer([], { kind: 'completed', output: request.steps.length }) }));
    const started = await runtimeWith({ WORKFLOW_MAX_REQUEST_BYTES: String(64 * 1024), MAX_BODY_BYTES: String(256 * 1024) });
    await register(started, 'big', { url: served.url });
    const { run } = await started.runtime.workflows.startRun('big', { input: 'x'.repeat(70 * 1024) });
    const done = await finished(started, run.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/^workflow_request_too_large: the advance request is \d+ bytes, over WORKFLOW_MAX_REQUEST_BYTES \(65536\)$/);
    expect(served.requests).toHaveLength(0);
  });

  it('an in-process workflow invokes a remote one, and a remote one invokes an in-process one', async () => {
    const double = defineWorkflow('double', async (ctx, n: number) => ctx.step('times two', () => n * 2));
    const parent = defineWorkflow('parent', async (ctx, n: number) => ctx.invoke('remote child', 'remote-child', n));
    const served = await app((request) => {
      const child = request.steps.find((s) => s.name === 'call double');
      if (request.run.workflow === 'remote-child') return { answer: advanceAnswer([], { kind: 'completed', output: { got: request.run.input } }) };
      if (!child) return { answer: advanceAnswer([], { kind: 'suspended', needs: [{ kind: 'invoke', name: 'call double', childRunId: 0 }] }, [{ step: 'call double', workflow: 'double', input: 21 }]) };
      if (child.status !== 'completed') return { answer: advanceAnswer([], { kind: 'suspended', needs: [{ kind: 'invoke', name: 'call double', childRunId: child.childRunId! }] }) };
      return { answer: advanceAnswer([], { kind: 'completed', output: JSON.parse(child.output!) }) };
    });
    const started = await runtimeWith({}, [double, parent]);
    await register(started, 'remote-child', { url: served.url });
    await register(started, 'remote-parent', { url: served.url });
    const down = await started.runtime.workflows.startRun('parent', { input: 5 });
    expect(await finished(started, down.run.id)).toMatchObject({ status: 'completed', output: { got: 5 } });
    const up = await started.runtime.workflows.startRun('remote-parent', {});
    const done = await finished(started, up.run.id);
    expect(done).toMatchObject({ status: 'completed', output: 42 });
    const childId = done.steps!.find((s) => s.name === 'call double')!.child_run_id!;
    expect(await started.runtime.workflows.parentOf(childId)).toEqual({ run_id: up.run.id, step: 'call double' });
  });

  it('the typed client and the CLI register, read, list and delete a remote workflow', async () => {
    const counts: Record<string, number> = {};
    const served = await app(fourSteps(counts, 10));
    const { url } = await serveRuntime({ env: { HTTP_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_SECRET: SECRET }, workflows: [defineWorkflow('here', async () => 1)] });
    const client = createClient(url);
    const { workflow, created } = await client.putWorkflow('there', { url: served.url, timeout_seconds: 7 });
    expect(created).toBe(true);
    expect(workflow).toMatchObject({ name: 'there', remote: { url: served.url, timeout_seconds: 7, signing_secret: 'WEBHOOK_SECRET' } });
    expect(await client.getWorkflow('there')).toEqual(workflow);
    const { run } = await client.startRun('there', { input: { key: 'c' } });
    await waitFor(async () => (await client.getRun(run.id)).waiting_for?.some((w) => w.kind === 'event'), 15_000, 'the wait');

    const cli = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const proc = spawn('node', ['--import', 'tsx', 'local/cli.ts', ...args, '--url', url], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        proc.once('error', reject);
        proc.once('close', (code) => resolve({ code, stdout, stderr }));
      });
    const [put, listed, refused] = await Promise.all([
      cli(['workflows', 'put', 'elsewhere', served.url, '--timeout', '3']),
      cli(['workflows', 'list']),
      cli(['workflows', 'delete', 'there']),
    ]);
    expect(put.code, put.stderr).toBe(EXIT.ok);
    expect(put.stdout).toMatch(/^timeout_seconds +3$/m);
    expect(listed.code, listed.stderr).toBe(EXIT.ok);
    expect(listed.stdout.split('\n')[0]).toMatch(/^name +pending +in_progress +completed +failed +cancelled +oldest_pending_at +url$/);
    expect(listed.stdout).toMatch(/^here +0 +0 +0 +0 +0 +- +\(in process\)$/m);
    expect(listed.stdout).toContain(served.url);
    expect(refused.code).toBe(EXIT.conflict);
    expect(refused.stderr).toMatch(/409 workflow_has_runs/);
    const forced = await cli(['workflows', 'delete', 'there', '--force', '--json']);
    expect(JSON.parse(forced.stdout)).toEqual({ name: 'there', deleted: true, cancelled_runs: 1 });
    expect(await client.deleteWorkflow('elsewhere')).toEqual({ name: 'elsewhere', deleted: true, cancelled_runs: 0 });
    expect((await client.listWorkflows()).workflows.map((w) => w.name)).toEqual(['here']);
  });

  it('the dashboard lists a remote workflow with its URL, and shows its run\'s timeline', async () => {
    const counts: Record<string, number> = {};
    const served = await app(fourSteps(counts, 10));
    const started = await runtimeWith({}, [defineWorkflow('inside', async () => 1)]);
    await register(started, 'outside', { url: served.url });
    const { run } = await started.runtime.workflows.startRun('outside', { input: { key: 'd' } });
    await waitFor(async () => (await started.runtime.workflows.getRun(run.id)).waiting_for?.some((w) => w.kind === 'event'), 15_000, 'the wait');
    const page = async (path: string) => {
      const response = await started.runtime.app.fetch(new Request(`http://127.0.0.1:8080${path}`));
      expect(response.status, path).toBe(200);
      return response.text();
    };
    const list = await page('/ui/workflows');
    const row = /<tr data-workflow="outside">([\s\S]*?)<\/tr>/.exec(list)![1]!;
    expect(row).toContain(`<td data-served="true"><code>${served.url}</code></td>`);
    expect(row).toContain('<td class="num" data-status="pending"><a href="/ui/runs?workflow=outside&amp;status=pending">1</a></td>');
    expect(/<tr data-workflow="inside">([\s\S]*?)<\/tr>/.exec(list)![1]).toContain('in process');
    expect(await page('/ui/runs?workflow=outside')).toContain(`<tr data-run-id="${run.id}">`);
    const detail = await page(`/ui/runs/${run.id}`);
    for (const step of ['a', 'nap', 'paid']) expect(detail).toContain(`data-step="${step}"`);
  });
});
