import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { formatTaskId } from '../lib/tasks/ids.ts';
import type { TaskJson } from '../lib/tasks/model.ts';
import type { Runtime } from '../local/runtime.ts';
import { startReceiver, type Receiver } from './fixtures/receiver.ts';
import { startRuntime, tempDbUrl, waitFor, waitForStatus } from './helpers.ts';
import { killAll, postTask, startServe, type ServiceProcess } from './processes.ts';

/**
 * Callbacks through the outbox: a finished `http` task's callback is an `http` task inserted
 * in the same transaction as the parent's final transition (lib/delivery/callbacks.ts).
 */
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const receivers: Receiver[] = [];
const services: ServiceProcess[] = [];
afterEach(async () => {
  killAll(services.splice(0));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function runtimeWith(env: Record<string, string> = {}): Promise<Runtime> {
  const runtime = await startRuntime({
    env: { HTTP_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_SECRET: SECRET, TASK_BACKOFF_BASE_MS: '10', TASK_BACKOFF_MAX_MS: '50', ...env },
  });
  runtime.start();
  return runtime;
}

async function callbacksOf(runtime: Runtime, parentId: number): Promise<TaskJson[]> {
  const response = await runtime.app.request('/tasks?type=http&limit=1000');
  const { tasks } = (await response.json()) as { tasks: TaskJson[] };
  return tasks.filter((t) => t.idempotency_key?.endsWith(`:${formatTaskId(parentId)}`));
}

describe('http tasks: callbacks', () => {
  it('a completed task with callback_url gets one callback task that POSTs the finished task, signed, naming its parent', async () => {
    const r = await startReceiver((req) => (req.path === '/work' ? { status: 200, headers: { 'content-type': 'application/json' }, body: '{"done":1}' } : { status: 204 }));
    receivers.push(r);
    const runtime = await runtimeWith();
    const parent = (await runtime.service.submit({
      title: 'parent',
      description: 'd',
      type: 'http',
      payload: { url: `${r.url}/work`, callback_url: `${r.url}/done`, failure_callback_url: `${r.url}/dead` },
    })).task;
    await waitForStatus(runtime.repo, parent.id, 'completed');
    const [callback, ...more] = await waitFor(async () => {
      const found = await callbacksOf(runtime, parent.id);
      return found.length > 0 && found.every((t) => t.status === 'completed') ? found : null;
    });
    expect(more).toEqual([]);
    expect(callback!.idempotency_key).toBe(`callback:${formatTaskId(parent.id)}`);
    expect(callback!.type).toBe('http');

    const done = r.requests.filter((q) => q.path === '/done');
    expect(done).toHaveLength(1);
    expect(r.requests.filter((q) => q.path === '/dead')).toHaveLength(0);
    expect(done[0]!.headers['task-pool-parent-id']).toBe(formatTaskId(parent.id));
    expect(done[0]!.headers['webhook-id']).toBe(callback!.id);
    const body = new Webhook(SECRET).verify(done[0]!.body, done[0]!.headers as Record<string, string>) as TaskJson;
    expect(body).toMatchObject({ id: formatTaskId(parent.id), status: 'completed', attempts: 1, result: { status: 200, body: { done: 1 } } });
  });

  it('failure callbacks fire only after the last attempt, once', async () => {
    const r = await startReceiver((req) => (req.path === '/work' ? { status: 503, body: 'down' } : { status: 200 }));
    receivers.push(r);
    const runtime = await runtimeWith();
    const parent = (await runtime.service.submit({
      title: 'parent',
      description: 'd',
      type: 'http',
      payload: { url: `${r.url}/work`, callback_url: `${r.url}/done`, failure_callback_url: `${r.url}/dead` },
      maxAttempts: 3,
    })).task;
    const failed = await waitForStatus(runtime.repo, parent.id, 'failed');
    expect(failed.attempts).toBe(3);
    const [callback, ...more] = await waitFor(async () => {
      const found = await callbacksOf(runtime, parent.id);
      return found.length > 0 && found.every((t) => t.status === 'completed') ? found : null;
    });
    expect(more).toEqual([]);
    expect(callback!.idempotency_key).toBe(`failure-callback:${formatTaskId(parent.id)}`);
    // Created by the final transition, not before: after the third attempt's answer.
    const attempts = r.requests.filter((q) => q.path === '/work');
    expect(attempts).toHaveLength(3);
    expect(Date.parse(callback!.created_at)).toBeGreaterThanOrEqual(attempts[2]!.receivedAt);
    const dead = r.requests.filter((q) => q.path === '/dead');
    expect(dead).toHaveLength(1);
    expect(JSON.parse(dead[0]!.body)).toMatchObject({ id: formatTaskId(parent.id), status: 'failed', attempts: 3, last_error: 'HTTP 503 Service Unavailable: down' });
    expect(r.requests.filter((q) => q.path === '/done')).toHaveLength(0);
  });

  it('a task without callback URLs creates nothing', async () => {
    const r = await startReceiver();
    receivers.push(r);
    const runtime = await runtimeWith();
    const parent = (await runtime.service.submit({ title: 'p', description: 'd', type: 'http', payload: { url: r.url } })).task;
    await waitForStatus(runtime.repo, parent.id, 'completed');
    expect((await runtime.repo.stats()).counts).toMatchObject({ completed: 1 });
  });

  it('exactly one callback when the serve process is SIGKILLed right after the parent’s request was answered', async () => {
    const db = tempDbUrl();
    const env = { DATABASE_URL: db, HTTP_ALLOW_PRIVATE_NETWORKS: 'true', TASK_LEASE_SECONDS: '1', TASK_BACKOFF_BASE_MS: '10', LOG_LEVEL: 'info' };
    let first: (ServiceProcess & { url: string }) | undefined;
    let killedAt = 0;
    // The receiver answers the parent and kills the process that asked, in the same tick:
    // the handler has returned (or is about to) and the final transition may or may not be
    // committed. Either way the outbox must end with one callback task.
    const r = await startReceiver((req) => {
      if (req.path === '/work' && first && killedAt === 0) {
        setImmediate(() => {
          killedAt = Date.now();
          first!.proc.kill('SIGKILL');
        });
      }
      return { status: 200 };
    });
    receivers.push(r);
    first = await startServe(env);
    services.push(first);
    // Due together, a moment from now: all three are in flight when the kill comes.
    const parents: string[] = [];
    const runAt = new Date(Date.now() + 1000).toISOString();
    for (let i = 0; i < 3; i++) {
      const body = { title: `p${i}`, description: 'd', type: 'http', run_at: runAt, payload: { url: `${r.url}/work`, callback_url: `${r.url}/done?p=${i}` } };
      parents.push((await postTask(first.url, body)).id);
    }
    expect(await first.exited).toBe('SIGKILL');

    // A second process takes over: expired leases are claimed again.
    const second = await startServe(env);
    services.push(second);
    const tasks = await waitFor(async () => {
      const response = await fetch(`${second.url}/tasks?limit=1000`);
      const { tasks: all } = (await response.json()) as { tasks: TaskJson[] };
      return all.length === 6 && all.every((t) => t.status === 'completed') ? all : null;
    }, 30_000, 'three parents and three callbacks completed');
    for (const id of parents) {
      const callbacks = tasks.filter((t) => t.idempotency_key === `callback:${id}`);
      expect(callbacks).toHaveLength(1);
      expect((callbacks[0]!.payload as { body: TaskJson }).body.id).toBe(id);
    }
    expect(killedAt).toBeGreaterThan(0);
    // Every callback reached the receiver (at least once: delivery is at-least-once).
    for (let i = 0; i < 3; i++) expect(r.requests.some((q) => q.path === `/done?p=${i}`)).toBe(true);
  });
});
