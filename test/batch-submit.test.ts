import Database from 'libsql';
import { createClient } from '@libsql/client';
import { describe, expect, it } from 'vitest';
import type { Runtime } from '../local/runtime.ts';
import { filePath } from '../local/database.ts';
import { startRuntime, submitInput, tempDbUrl, testConfig } from './helpers.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * POST /tasks/batch and TaskService.submitMany, on a libSQL file and on sqld: all or nothing
 * (one INSERT), the invalid item named, request order, idempotency keys per item (replays
 * marked, duplicates in one batch refused), TASK_MAX_PENDING for the whole batch.
 */

const item = (i: number, extra: Record<string, unknown> = {}) => ({ title: `t${i}`, description: 'batch', ...extra });

async function post(runtime: Runtime, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await runtime.app.fetch(
    new Request('http://test/tasks/batch', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  );
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function count(runtime: Runtime): Promise<number> {
  return Number((await runtime.driver.all('SELECT count(*) AS n FROM tasks'))[0]!.n);
}

const sqldOk = await sqldAvailable();

function contract(name: string, databaseUrl: () => string) {
  describe(`batch submit on ${name}`, () => {
    const runtime = (env: Record<string, string> = {}) => startRuntime({ config: testConfig({ DATABASE_URL: databaseUrl(), ...env }), processing: false });

    it('1,000 valid tasks: 202, all stored, in request order', async () => {
      const rt = await runtime();
      const before = await count(rt);
      const { status, body } = await post(rt, { tasks: Array.from({ length: 1000 }, (_, i) => item(i, { priority: i % 3 })) });
      expect(status).toBe(202);
      const tasks = body.tasks as { id: string; title: string; replayed: boolean; priority: number }[];
      expect(body.count).toBe(1000);
      expect(tasks.map((t) => t.title)).toEqual(Array.from({ length: 1000 }, (_, i) => `t${i}`));
      expect(tasks.every((t) => t.replayed === false)).toBe(true);
      expect(await count(rt)).toBe(before + 1000);
      const stored = await rt.service.get(tasks[999]!.id);
      expect(stored).toMatchObject({ title: 't999', priority: 0, status: 'pending' });
      // Ids are time-ordered in request order, like one-at-a-time submits.
      expect([...tasks.map((t) => t.id)].sort()).toEqual(tasks.map((t) => t.id));
    });

    it('one invalid item: 400 naming it, nothing stored', async () => {
      const rt = await runtime();
      const before = await count(rt);
      const tasks = Array.from({ length: 10 }, (_, i) => item(i));
      tasks[3] = { description: 'no title' } as never;
      expect(await post(rt, { tasks })).toEqual({ status: 400, body: { message: 'tasks[3]: title is required', code: 'invalid_field' } });
      tasks[3] = item(3, { type: 'nope' });
      expect(await post(rt, { tasks })).toMatchObject({ status: 400, body: { message: 'tasks[3]: unknown task type "nope"' } });
      tasks[3] = item(3, { run_at: '2026-01-01T00:00:00Z', delay_seconds: 1 });
      expect((await post(rt, { tasks })).body.message).toBe('tasks[3]: use either run_at or delay_seconds, not both');
      tasks[3] = item(3, { idempotency_key: 'has space' });
      expect((await post(rt, { tasks })).body.message).toBe('tasks[3]: idempotency_key must be 1 to 200 visible ASCII characters, not starting with run: or schedule: (reserved)');
      tasks[3] = 'a string' as never;
      expect((await post(rt, { tasks })).body.message).toBe('tasks[3]: must be an object (the body of POST /tasks)');
      expect(await count(rt)).toBe(before);
    });

    it('bad shapes: empty, not an array, too many (MAX_BATCH_TASKS + 1)', async () => {
      const rt = await runtime({ MAX_BATCH_TASKS: '1000' });
      const before = await count(rt);
      expect(await post(rt, { tasks: [] })).toMatchObject({ status: 400, body: { message: 'tasks must contain at least one task' } });
      expect(await post(rt, { tasks: { title: 'x' } })).toMatchObject({ status: 400, body: { message: 'tasks must be an array of tasks (each the body of POST /tasks)' } });
      expect(await post(rt, {})).toMatchObject({ status: 400, body: { message: 'tasks must be an array of tasks (each the body of POST /tasks)' } });
      expect(await post(rt, [item(1)])).toMatchObject({ status: 400, body: { code: 'invalid_json' } });
      expect(await post(rt, { tasks: Array.from({ length: 1001 }, (_, i) => item(i)) })).toMatchObject({
        status: 400,
        body: { message: 'tasks must contain at most 1000 tasks (MAX_BATCH_TASKS)', code: 'batch_too_large' },
      });
      expect(await count(rt)).toBe(before);
    });

    it('a key twice in one batch: 400 naming both items, nothing stored', async () => {
      const rt = await runtime();
      const before = await count(rt);
      const tasks = [item(0, { idempotency_key: 'a' }), item(1, { idempotency_key: 'b' }), item(2, { idempotency_key: 'a' })];
      expect(await post(rt, { tasks })).toEqual({ status: 400, body: { message: 'tasks[2].idempotency_key repeats the key of tasks[0]', code: 'duplicate_idempotency_key' } });
      expect(await count(rt)).toBe(before);
    });

    it('replaying a whole batch: 200, the same tasks marked replayed, nothing new; a mixed batch stores only the new', async () => {
      const rt = await runtime();
      const key = `k-${Math.random()}`;
      const tasks = Array.from({ length: 50 }, (_, i) => item(i, { idempotency_key: `${key}-${i}` }));
      const first = await post(rt, { tasks });
      expect(first.status).toBe(202);
      const before = await count(rt);
      const again = await post(rt, { tasks });
      expect(again.status).toBe(200);
      const replayed = again.body.tasks as { id: string; replayed: boolean }[];
      expect(replayed.map((t) => t.id)).toEqual((first.body.tasks as { id: string }[]).map((t) => t.id));
      expect(replayed.every((t) => t.replayed)).toBe(true);
      expect(await count(rt)).toBe(before);

      const mixed = await post(rt, { tasks: [tasks[0], item(99), tasks[1]] });
      expect(mixed.status).toBe(202);
      expect((mixed.body.tasks as { replayed: boolean }[]).map((t) => t.replayed)).toEqual([true, false, true]);
      expect(await count(rt)).toBe(before + 1);

      // The same key with another body: 409 naming the item, nothing stored.
      const reused = await post(rt, { tasks: [item(100), { ...tasks[2], title: 'changed' }] });
      expect(reused).toEqual({ status: 409, body: { message: 'tasks[1]: idempotency_key was already used with a different request body', code: 'idempotency_key_reused' } });
      expect(await count(rt)).toBe(before + 1);
    });

    it('a key first used by POST /tasks, then by a batch item with the same request: replayed, the same task', async () => {
      const rt = await runtime();
      const key = `k-${Math.random()}`;
      // The item's payload reaches the service as JSON text, the single submit's as a value:
      // both are the same request.
      const single = { title: 'single', description: 'then batched', payload: { n: [1, 2], s: 'é' }, priority: 2 };
      const submitted = await rt.app.fetch(new Request('http://test/tasks', { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(single) }));
      expect(submitted.status).toBe(202);
      const batched = await post(rt, { tasks: [{ ...single, idempotency_key: key }] });
      expect(batched.status).toBe(200);
      expect(batched.body.tasks).toEqual([{ ...((await submitted.json()) as object), replayed: true }]);
    });

    it('TASK_MAX_PENDING counts the whole batch: 429 and nothing stored when it does not fit', async () => {
      const rt = await runtime({ TASK_MAX_PENDING: '100' });
      await rt.driver.run("UPDATE tasks SET status = 'completed', completed_at = 1 WHERE status = 'pending'");
      expect((await post(rt, { tasks: Array.from({ length: 60 }, (_, i) => item(i)) })).status).toBe(202);
      const before = await count(rt);
      const over = await post(rt, { tasks: Array.from({ length: 41 }, (_, i) => item(i)) });
      expect(over).toEqual({ status: 429, body: { message: 'task queue is full', code: 'queue_full' } });
      expect(await count(rt)).toBe(before);
      // Exactly up to the cap fits.
      expect((await post(rt, { tasks: Array.from({ length: 40 }, (_, i) => item(i)) })).status).toBe(202);
      expect(await count(rt)).toBe(before + 40);
    });

    it('two batches racing for the last room under TASK_MAX_PENDING: one stored whole, the other 429', async () => {
      const rt = await runtime({ TASK_MAX_PENDING: '100' });
      await rt.driver.run("UPDATE tasks SET status = 'completed', completed_at = 1 WHERE status = 'pending'");
      const before = await count(rt);
      const results = await Promise.all([0, 1].map(() => post(rt, { tasks: Array.from({ length: 60 }, (_, i) => item(i)) })));
      expect(results.map((r) => r.status).sort()).toEqual([202, 429]);
      expect(await count(rt)).toBe(before + 60);
    });

    it('two identical keyed batches at once: one stores, the other replays the same tasks', async () => {
      const rt = await runtime();
      const key = `race-${Math.random()}`;
      const batch = Array.from({ length: 20 }, (_, i) => ({ input: submitInput({ title: `race ${i}` }), idempotencyKey: `${key}-${i}` }));
      const before = await count(rt);
      const [a, b] = await Promise.all([rt.service.submitMany(batch), rt.service.submitMany(batch)]);
      expect(await count(rt)).toBe(before + 20);
      expect(a!.map((r) => r.task.id)).toEqual(b!.map((r) => r.task.id));
      const replays = [a!, b!].map((results) => results.every((r) => r.replayed));
      expect(replays.sort()).toEqual([false, true]);
    });

    it('TaskService.submitMany in process: results in order, hooks per new task', async () => {
      const rt = await runtime();
      const results = await rt.service.submitMany([
        { input: submitInput({ title: 'one' }) },
        { input: submitInput({ title: 'two', delaySeconds: 60 }), idempotencyKey: `svc-${Math.random()}` },
      ]);
      expect(results.map((r) => [r.task.title, r.replayed])).toEqual([['one', false], ['two', false]]);
      expect(results[1]!.task.runAt - results[1]!.task.createdAt).toBe(60_000);
    });
  });
}

contract('a libSQL file', tempDbUrl);
if (sqldOk) {
  const sqld = useSqld();
  contract('sqld', () => sqld.url);
}

describe('a batch is one commit', () => {
  it('a concurrent reader on another connection sees none or all of a 1,000-task batch, never part', async () => {
    const url = tempDbUrl();
    const rt = await startRuntime({ config: testConfig({ DATABASE_URL: url }), processing: false });
    const reader = new Database(filePath(url), { readonly: true });
    const seen = new Set<number>();
    let reading = true;
    const readLoop = (async () => {
      while (reading) {
        seen.add(Number((reader.prepare('SELECT count(*) AS n FROM tasks').get() as { n: number }).n));
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    for (let round = 0; round < 5; round++) {
      const results = await rt.service.submitMany(Array.from({ length: 1000 }, (_, i) => ({ input: submitInput({ title: `r${round} ${i}` }) })));
      expect(results).toHaveLength(1000);
    }
    reading = false;
    await readLoop;
    reader.close();
    expect([...seen].every((n) => n % 1000 === 0)).toBe(true);
    expect(seen.size).toBeGreaterThan(1);
  });

  it('also through @libsql/client (the driver functions use)', async () => {
    const url = tempDbUrl();
    const rt = await startRuntime({ config: testConfig({ DATABASE_URL: url }), processing: false, fileDriver: 'client' });
    const reader = createClient({ url });
    const seen = new Set<number>();
    let reading = true;
    const readLoop = (async () => {
      while (reading) {
        seen.add(Number((await reader.execute('SELECT count(*) AS n FROM tasks')).rows[0]!.n));
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    for (let round = 0; round < 3; round++) await rt.service.submitMany(Array.from({ length: 1000 }, () => ({ input: submitInput() })));
    reading = false;
    await readLoop;
    reader.close();
    expect([...seen].every((n) => n % 1000 === 0)).toBe(true);
  });
});
