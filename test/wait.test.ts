import { describe, expect, it } from 'vitest';
import type { TaskHandler } from '../lib/processing/handlers.ts';
import { createRuntime } from '../local/runtime.ts';
import { openTestRepo, submitInput, tempDbUrl, testConfig, waitFor } from './helpers.ts';
import { killAll, postTask, startServe } from './processes.ts';
import { serveRuntime } from './support/serve.ts';

/** A handler that runs until the test opens its gate. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let started = 0;
  const handler: TaskHandler = async () => {
    started++;
    await opened;
    return { done: true };
  };
  return { handler, open, started: () => started };
}

async function submit(url: string, body: Record<string, unknown>) {
  const response = await fetch(`${url}/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(response.status).toBe(202);
  return (await response.json()) as { id: string; status: string };
}

describe('GET /tasks/:id?wait=N', () => {
  it('answers when the task completes, woken by the transition, not at the timeout', async () => {
    const g = gate();
    const { runtime, url } = await serveRuntime({ handlers: { gate: g.handler } });
    const task = await submit(url, { title: 't', description: 'd', type: 'gate' });
    await waitFor(() => g.started() === 1, 10_000, 'handler to start');

    let answered = false;
    // 60 s, the longest allowed: if the wait only ended at its timeout, this test would time out first.
    const held = fetch(`${url}/tasks/${task.id}?wait=60`).then(async (r) => {
      answered = true;
      return { status: r.status, body: (await r.json()) as { status: string; result: unknown } };
    });
    await waitFor(() => runtime.service.events.waiting === 1, 10_000, 'the request to park');
    expect(answered).toBe(false);

    g.open();
    const { status, body } = await held;
    expect(status).toBe(200);
    expect(body.status).toBe('completed');
    expect(body.result).toEqual({ done: true });
    expect(runtime.service.events.waiting).toBe(0);
  }, 30_000);

  it('answers at once, without parking, when the task is already final', async () => {
    const { runtime, url } = await serveRuntime({ processing: false });
    const task = await submit(url, { title: 't', description: 'd' });
    await runtime.service.cancel(task.id);
    const response = await fetch(`${url}/tasks/${task.id}?wait=60`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { status: string }).status).toBe('cancelled');
  }, 30_000);

  it('wakes on a cancel through the API', async () => {
    const { runtime, url } = await serveRuntime({ processing: false });
    const task = await submit(url, { title: 't', description: 'd' });
    const held = fetch(`${url}/tasks/${task.id}?wait=60`).then((r) => r.json() as Promise<{ status: string }>);
    await waitFor(() => runtime.service.events.waiting === 1, 10_000, 'the request to park');
    expect((await fetch(`${url}/tasks/${task.id}/cancel`, { method: 'POST' })).status).toBe(200);
    expect((await held).status).toBe('cancelled');
  }, 30_000);

  it('sees a completion by another runtime sharing the database (its shared re-reads)', async () => {
    const config = testConfig({ APP_PORT: '0' });
    // This server does not process; a second runtime on the same file does, and its events never reach this one.
    const g = gate();
    const apiWithType = await serveRuntime({ config, processing: false, handlers: { gate: g.handler } });
    const submitted = await submit(apiWithType.url, { title: 't', description: 'd', type: 'gate' });
    const held = fetch(`${apiWithType.url}/tasks/${submitted.id}?wait=60`).then((r) => r.json() as Promise<{ status: string }>);

    const worker = await createRuntime({ config, handlers: { gate: g.handler } });
    try {
      worker.start();
      await waitFor(() => g.started() === 1, 10_000, 'the other runtime to start the handler');
      g.open();
      expect((await held).status).toBe('completed');
    } finally {
      await worker.shutdown();
    }
  }, 30_000);

  it('without shared re-reads (functions), each wait re-reads on its own backoff and sees another writer', async () => {
    const dbUrl = tempDbUrl();
    const db = await openTestRepo(dbUrl);
    try {
      const { task } = await db.service.submit(submitInput());
      expect(db.service.events.sharedRereads).toBeUndefined();
      const held = db.service.waitUntilFinal(task.id, 30);
      // Another service on the same database (its events never reach this one) cancels it.
      const other = await openTestRepo(dbUrl);
      try {
        await waitFor(() => db.service.events.waiting === 1, 10_000, 'the wait to park');
        await other.service.cancel(task.id);
        expect((await held).status).toBe('cancelled');
      } finally {
        await other.close();
      }
    } finally {
      await db.close();
    }
  }, 30_000);

  it('ends the wait when the client goes away', async () => {
    const { runtime, url } = await serveRuntime({ processing: false });
    const task = await submit(url, { title: 't', description: 'd' });
    const controller = new AbortController();
    const held = fetch(`${url}/tasks/${task.id}?wait=60`, { signal: controller.signal }).catch((error: unknown) => error);
    await waitFor(() => runtime.service.events.waiting === 1, 10_000, 'the request to park');
    controller.abort();
    await held;
    await waitFor(() => runtime.service.events.waiting === 0, 10_000, 'the wait to end after the client left');
  }, 30_000);

  it('at shutdown, a held request answers with the task as it is instead of being cut off', async () => {
    const { runtime, url } = await serveRuntime({ processing: false });
    const task = await submit(url, { title: 't', description: 'd' });
    const held = fetch(`${url}/tasks/${task.id}?wait=60`).then(async (r) => ({ status: r.status, body: (await r.json()) as { status: string } }));
    await waitFor(() => runtime.service.events.waiting === 1, 10_000, 'the request to park');
    await runtime.shutdown();
    expect(await held).toEqual({ status: 200, body: expect.objectContaining({ id: task.id, status: 'pending' }) });
  }, 30_000);

  it('a serve process stopped by SIGTERM answers its held requests, then exits 0', async () => {
    const service = await startServe({ DATABASE_URL: tempDbUrl() });
    try {
      const task = await postTask(service.url, { title: 't', description: 'd', delay_seconds: 3600 });
      const held = fetch(`${service.url}/tasks/${task.id}?wait=60`).then(async (r) => ({ status: r.status, body: (await r.json()) as { status: string } }));
      // Parked: the process's own gauge says so.
      await waitFor(async () => /^task_pool_waiting_requests 1$/m.test(await (await fetch(`${service.url}/metrics`)).text()), 10_000, 'the request to park');
      service.proc.kill('SIGTERM');
      expect(await held).toEqual({ status: 200, body: expect.objectContaining({ id: task.id, status: 'pending' }) });
      expect(await service.exited).toBe(0);
    } finally {
      killAll([service]);
    }
  }, 60_000);

  it('answers with the current state when the seconds pass first', async () => {
    const { url } = await serveRuntime({ processing: false });
    const task = await submit(url, { title: 't', description: 'd' });
    const response = await fetch(`${url}/tasks/${task.id}?wait=0.3`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { status: string }).status).toBe('pending');
  });

  it('refuses a bad wait with 400 naming it, and answers 404 for an unknown task at once', async () => {
    const { url } = await serveRuntime({ processing: false });
    const task = await submit(url, { title: 't', description: 'd' });
    for (const value of ['-1', '61', '60.5', 'abc', '', '1e1', ' 5', '0x10']) {
      const response = await fetch(`${url}/tasks/${task.id}?wait=${encodeURIComponent(value)}`);
      expect(response.status, value).toBe(400);
      expect(await response.json(), value).toEqual({ message: 'wait must be a number of seconds from 0 to 60', code: 'invalid_query' });
    }
    expect((await fetch(`${url}/tasks/${task.id}?wait=0`)).status).toBe(200);
    // Documented: the route's query schema is in /openapi.json.
    const spec = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, { get: { parameters: { name: string; in: string }[] } }> };
    expect(spec.paths['/tasks/{id}']!.get.parameters).toContainEqual(expect.objectContaining({ name: 'wait', in: 'query' }));
    const missing = await fetch(`${url}/tasks/no-such-task?wait=60`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'not_found' });
  }, 30_000);

  it('200 waiting clients do not hold up the pool: a batch still completes while they wait, and a cancel wakes each', async () => {
    // 300 connections at once from one address: past SERVER_MAX_CONNECTIONS_PER_ADDRESS's
    // default, which test/http-server.connections.test.ts is about, not this.
    const { runtime, url } = await serveRuntime({ handlers: { noop: async () => null }, env: { SERVER_MAX_CONNECTIONS_PER_ADDRESS: '1024' } });
    const parked = await Promise.all(Array.from({ length: 200 }, (_, i) => submit(url, { title: `later ${i}`, description: 'd', delay_seconds: 3600 })));
    const held = parked.map((task) => fetch(`${url}/tasks/${task.id}?wait=60`).then((r) => r.json() as Promise<{ status: string }>));
    await waitFor(() => runtime.service.events.waiting === 200, 20_000, '200 requests to park');

    const batch = await Promise.all(Array.from({ length: 100 }, (_, i) => submit(url, { title: `now ${i}`, description: 'd', type: 'noop' })));
    await waitFor(
      async () => (await Promise.all(batch.map((t) => runtime.repo.get(Number(t.id))))).every((t) => t?.status === 'completed'),
      20_000,
      'the batch to complete while 200 requests wait',
    );
    expect(runtime.service.events.waiting).toBe(200);

    await Promise.all(parked.map((task) => runtime.service.cancel(task.id)));
    const answers = await Promise.all(held);
    expect(answers.every((a) => a.status === 'cancelled')).toBe(true);
    expect(runtime.service.events.waiting).toBe(0);
  }, 60_000);
});
