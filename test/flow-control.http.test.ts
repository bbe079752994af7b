import { describe, expect, it } from 'vitest';
import type { Runtime } from '../local/runtime.ts';
import { defineWorkflow } from '../lib/workflows/define.ts';
import { startRuntime, testConfig } from './helpers.ts';

/**
 * flow_control over HTTP: validation (400 naming the field, nothing stored) on POST /tasks,
 * /tasks/batch, schedules and workflow runs; the stored flow_control and the computed
 * held_back in task JSON; the held-back figures of /stats and /metrics.
 */

async function request(runtime: Runtime, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await runtime.app.fetch(
    new Request(`http://test${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }),
  );
  const text = await response.text();
  return { status: response.status, body: (text.startsWith('{') ? JSON.parse(text) : { text }) as Record<string, unknown> };
}

const count = async (runtime: Runtime) => Number((await runtime.driver.all('SELECT count(*) AS n FROM tasks'))[0]!.n);
const task = (flow_control: unknown) => ({ title: 't', description: 'd', type: 'simulate', flow_control });

describe('flow_control over HTTP', () => {
  const runtime = () => startRuntime({ config: testConfig({ SIMULATE_MIN_MS: '0', SIMULATE_MAX_MS: '0' }), processing: false });

  it.each([
    [{ key: 'a', parallelism: -1 }, 'flow_control.parallelism must be an integer from 1 to 1000000'],
    [{ key: 'a', parallelism: 0 }, 'flow_control.parallelism must be an integer from 1 to 1000000'],
    [{ key: 'x'.repeat(201) }, 'flow_control.key must be at most 200 characters'],
    [{ key: '  ' }, 'flow_control.key must not be blank'],
    [{ parallelism: 2 }, 'flow_control.key is required (a string)'],
    [{ key: 'a', rate: 5 }, 'flow_control.rate and flow_control.period_seconds go together'],
    [{ key: 'a', period_seconds: 1 }, 'flow_control.rate and flow_control.period_seconds go together'],
    [{ key: 'a', rate: 5, period_seconds: 0 }, 'flow_control.period_seconds must be greater than 0'],
    ['acme', 'flow_control must be an object {key, parallelism?, rate?, period_seconds?}'],
  ])('POST /tasks with flow_control %j: 400 naming the field, nothing stored', async (flow, message) => {
    const rt = await runtime();
    const { status, body } = await request(rt, 'POST', '/tasks', task(flow));
    expect(status).toBe(400);
    expect(body.message).toContain(message);
    const batch = await request(rt, 'POST', '/tasks/batch', { tasks: [task({ key: 'ok' }), task(flow)] });
    expect(batch.status).toBe(400);
    expect(batch.body.message).toContain(message);
    expect(await count(rt)).toBe(0);
  });

  it('an unknown field of flow_control is a 400', async () => {
    const rt = await runtime();
    const { status, body } = await request(rt, 'POST', '/tasks', task({ key: 'a', concurrency: 2 }));
    expect(status).toBe(400);
    expect(String(body.message)).toMatch(/flow_control/);
    expect(await count(rt)).toBe(0);
  });

  it('a key of 200 characters (not code units) is accepted', async () => {
    const rt = await runtime();
    expect((await request(rt, 'POST', '/tasks', task({ key: '😀'.repeat(200) }))).status).toBe(202);
  });

  it('task JSON carries flow_control as submitted, and held_back while its key is full', async () => {
    const rt = await runtime();
    const submitted = await request(rt, 'POST', '/tasks/batch', { tasks: [1, 2, 3].map(() => task({ key: 'acme', parallelism: 2 })) });
    expect(submitted.status).toBe(202);
    const ids = (submitted.body.tasks as { id: string; flow_control: unknown; held_back: null }[]).map((t) => t.id);
    expect((submitted.body.tasks as { flow_control: unknown; held_back: unknown }[])[0]).toMatchObject({ flow_control: { key: 'acme', parallelism: 2 }, held_back: null });
    const claimed = await rt.repo.claimDueTasks({ limit: 10, workerId: 'test', leaseMs: 600_000 });
    expect(claimed).toHaveLength(2);
    const waiting = ids.find((id) => !claimed.some((c) => c.id === Number(id)))!;
    const one = await request(rt, 'GET', `/tasks/${waiting}`);
    expect(one.body).toMatchObject({ status: 'pending', held_back: 'key acme: 2 of 2 running' });
    const list = await request(rt, 'GET', '/tasks?status=pending');
    expect(list.body.tasks).toEqual([expect.objectContaining({ id: waiting, held_back: 'key acme: 2 of 2 running' })]);
    const running = await request(rt, 'GET', `/tasks/${claimed[0]!.id.toString().padStart(16, '0')}`);
    expect(running.body).toMatchObject({ status: 'in_progress', held_back: null });
    const stats = await request(rt, 'GET', '/stats');
    expect(stats.body.flow_control).toEqual({
      keys_pending: 1, keys_held_back: 1, tasks_held_back: 1,
      busiest: [{ key: 'acme', held_back: 1, running: 2, parallelism: 2, rate: null, period_seconds: null, recent_starts: 0, reason: 'key acme: 2 of 2 running' }],
    });
  });

  it('the dashboard says why: the task page and the task list', async () => {
    const rt = await runtime();
    const submitted = await request(rt, 'POST', '/tasks/batch', { tasks: [1, 2].map(() => task({ key: 'acme', parallelism: 1 })) });
    const ids = (submitted.body.tasks as { id: string }[]).map((t) => t.id);
    const [claimed] = await rt.repo.claimDueTasks({ limit: 10, workerId: 'test', leaseMs: 600_000 });
    const waiting = ids.find((id) => Number(id) !== claimed!.id)!;
    const page = await (await rt.app.fetch(new Request(`http://127.0.0.1/ui/tasks/${waiting}`))).text();
    const why = /<div class="why" id="why">([\s\S]*?)<\/div>\s*<\/div>/.exec(page)?.[1] ?? '';
    expect(why).toContain('Held back by flow control: key acme: 1 of 1 running.');
    const list = await (await rt.app.fetch(new Request('http://127.0.0.1/ui/tasks?status=pending'))).text();
    expect(list).toContain('<div class="muted held-back" title="held back by flow control">key acme: 1 of 1 running</div>');
  });

  it('a workflow run carries flow_control on its task; a bad one is a 400 naming the field, nothing stored', async () => {
    const echo = defineWorkflow('echo', async (_ctx, input: unknown) => input);
    const rt = await startRuntime({ workflows: [echo], processing: false });
    const bad = await request(rt, 'POST', '/workflows/echo/runs', { input: 1, flow_control: { key: 'k', rate: 2 } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('flow_control.rate and flow_control.period_seconds go together');
    expect(await count(rt)).toBe(0);
    const run = await request(rt, 'POST', '/workflows/echo/runs', { input: 1, flow_control: { key: 'tenant-7', parallelism: 1 } });
    expect(run.status).toBe(202);
    const stored = await request(rt, 'GET', `/tasks/${run.body.id}`);
    expect(stored.body.flow_control).toEqual({ key: 'tenant-7', parallelism: 1 });
  });

  it('a rate-limited key says how many starts its period holds', async () => {
    const rt = await runtime();
    await request(rt, 'POST', '/tasks/batch', { tasks: [1, 2].map(() => task({ key: 'partner', rate: 1, period_seconds: 3600 })) });
    await rt.repo.claimDueTasks({ limit: 10, workerId: 'test', leaseMs: 600_000 });
    const list = await request(rt, 'GET', '/tasks?status=pending');
    expect((list.body.tasks as { held_back: string }[])[0]!.held_back).toBe('key partner: 1 starts in the last 3600 s (rate 1 per 3600 s)');
  });

  it('schedule templates keep flow_control, and a bad one is a 400', async () => {
    const rt = await runtime();
    const bad = await request(rt, 'PUT', '/schedules/s1', { cron: '* * * * *', task: task({ key: 'a', parallelism: -2 }) });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('parallelism');
    const good = await request(rt, 'PUT', '/schedules/s1', { cron: '* * * * *', task: task({ key: 'nightly', parallelism: 1 }) });
    expect(good.status).toBeLessThan(300);
    const fired = await request(rt, 'POST', '/schedules/s1/trigger');
    expect(fired.status).toBe(202);
    expect(fired.body.flow_control).toEqual({ key: 'nightly', parallelism: 1 });
  });
});
