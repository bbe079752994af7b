import { describe, expect, it } from 'vitest';
import type { TaskHandler } from '../lib/processing/handlers.ts';
import type { Runtime } from '../local/runtime.ts';
import { startRuntime, tempDbUrl, testConfig, waitFor } from './helpers.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * Debounce and throttle (lib/tasks/debounce.ts, docs/debounce.md) through POST /tasks and
 * POST /tasks/batch, on a libSQL file and on sqld: bursts collapse into one task that runs
 * once with the last payload, throttle keeps the first, a claimed task is never changed,
 * keys are scoped by type, bad input is a 400 naming the field with nothing stored.
 * Several processes racing on one database: test/debounce.processes.test.ts.
 */

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function send(runtime: Runtime, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await runtime.app.fetch(
    new Request(`http://test${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }),
  );
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const submit = (runtime: Runtime, body: Record<string, unknown>, headers?: Record<string, string>) =>
  send(runtime, '/tasks', { title: 't', description: 'd', ...body }, headers);

async function count(runtime: Runtime, key?: string): Promise<number> {
  const rows = key === undefined ? await runtime.driver.all('SELECT count(*) AS n FROM tasks') : await runtime.driver.all('SELECT count(*) AS n FROM tasks WHERE debounce_key = ?', [key]);
  return Number(rows[0]!.n);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A handler that records the payload of every run, and one that holds until released. */
function recorders() {
  const runs: unknown[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const handlers: Record<string, TaskHandler> = {
    counted: async (task) => {
      runs.push(task.payload);
      return null;
    },
    held: async (task) => {
      runs.push(task.payload);
      await held;
      return null;
    },
    other: async () => null,
  };
  return { runs, handlers, release };
}

const sqldOk = await sqldAvailable();

function contract(name: string, databaseUrl: () => string) {
  describe(`debounce and throttle on ${name}`, () => {
    const runtime = async (options: { processing?: boolean; handlers?: Record<string, TaskHandler>; env?: Record<string, string> } = {}) => {
      const rt = await startRuntime({ config: testConfig({ DATABASE_URL: databaseUrl(), ...options.env }), processing: options.processing ?? false, handlers: options.handlers ?? recorders().handlers });
      if (options.processing) rt.start();
      return rt;
    };

    it('50 submits in a second: one task with the last payload, run once', async () => {
      const { runs, handlers } = recorders();
      const rt = await runtime({ processing: true, handlers });
      const key = `burst-${Math.random()}`;
      const answers: Answer[] = [];
      for (let n = 0; n < 50; n++) {
        // 2 s: a loaded machine may take more than half a second for one submit.
        answers.push(await submit(rt, { type: 'counted', title: `t${n}`, payload: { n }, debounce: { key, seconds: 2 } }));
        await sleep(20);
      }
      expect(answers[0]).toMatchObject({ status: 202, body: { debounced: false, debounce_key: key, status: 'pending' } });
      const id = answers[0]!.body.id;
      for (const answer of answers.slice(1)) expect(answer).toMatchObject({ status: 200, body: { id, debounced: true } });
      // Each replacement moved run_at: due 2 s after the latest submit.
      const last = answers[49]!.body;
      expect(Date.parse(String(last.run_at)) - Date.parse(String(last.updated_at))).toBe(2000);
      expect(last).toMatchObject({ title: 't49', payload: { n: 49 } });
      const done = await waitFor(async () => {
        const task = await rt.service.get(String(id));
        return task.status === 'completed' ? task : null;
      }, 10_000, 'the debounced task to complete');
      expect(done.attempts).toBe(1);
      await sleep(300);
      expect(runs).toEqual([{ n: 49 }]);
      const rows = await rt.driver.all('SELECT count(*) AS n FROM tasks WHERE debounce_key = ?', [key]);
      expect(Number(rows[0]!.n)).toBe(1);
    });

    it('concurrent submits of one key in one process: one task', async () => {
      const rt = await runtime();
      const key = `race-${Math.random()}`;
      const answers = await Promise.all(Array.from({ length: 40 }, (_, n) => submit(rt, { type: 'counted', payload: { n }, debounce: { key, seconds: 30 } })));
      expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
      expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
      const rows = await rt.driver.all('SELECT count(*) AS n FROM tasks WHERE debounce_key = ?', [key]);
      expect(Number(rows[0]!.n)).toBe(1);
    });

    it('throttle keeps the first task, its payload and run_at, while it is pending and for its window after', async () => {
      const { runs, handlers } = recorders();
      const rt = await runtime({ handlers });
      const key = `throttle-${Math.random()}`;
      const first = await submit(rt, { type: 'counted', payload: { n: 0 }, delay_seconds: 60, throttle: { key, seconds: 1 } });
      expect(first).toMatchObject({ status: 202, body: { throttled: false, debounce_key: key } });
      await sleep(1100);
      // Past the window, but still pending: still held.
      const second = await submit(rt, { type: 'counted', payload: { n: 1 }, throttle: { key, seconds: 1 } });
      expect(second).toMatchObject({ status: 200, body: { id: first.body.id, throttled: true, payload: { n: 0 }, run_at: first.body.run_at, version: 1 } });
      expect(await count(rt, key)).toBe(1);

      // A task created just now holds new submits for its window even once it has run.
      const key2 = `${key}-window`;
      const rt2 = await runtime({ processing: true, handlers });
      const ran = await submit(rt2, { type: 'counted', payload: { n: 10 }, throttle: { key: key2, seconds: 2 } });
      expect(ran.status).toBe(202);
      await waitFor(async () => (await rt2.service.get(String(ran.body.id))).status === 'completed', 10_000, 'the throttled task to run');
      const inWindow = await submit(rt2, { type: 'counted', payload: { n: 11 }, throttle: { key: key2, seconds: 2 } });
      expect(inWindow).toMatchObject({ status: 200, body: { id: ran.body.id, throttled: true, status: 'completed' } });
      await sleep(2100 - (Date.now() - Date.parse(String(ran.body.created_at))));
      const after = await submit(rt2, { type: 'counted', payload: { n: 12 }, throttle: { key: key2, seconds: 2 } });
      expect(after).toMatchObject({ status: 202, body: { throttled: false } });
      expect(after.body.id).not.toBe(ran.body.id);
      await waitFor(async () => (await rt2.service.get(String(after.body.id))).status === 'completed', 10_000, 'the second throttled task to run');
      expect(runs).toEqual([{ n: 10 }, { n: 12 }]);
    });

    it('a claimed task is not changed: the next submit makes a new one', async () => {
      const { runs, handlers, release } = recorders();
      const rt = await runtime({ processing: true, handlers });
      const key = `claimed-${Math.random()}`;
      const first = await submit(rt, { type: 'held', payload: { n: 0 }, debounce: { key, seconds: 0.05 } });
      await waitFor(async () => (await rt.service.get(String(first.body.id))).status === 'in_progress', 10_000, 'the first task to be claimed');
      const second = await submit(rt, { type: 'held', payload: { n: 1 }, debounce: { key, seconds: 30 } });
      expect(second).toMatchObject({ status: 202, body: { debounced: false } });
      expect(second.body.id).not.toBe(first.body.id);
      const running = await rt.service.get(String(first.body.id));
      expect(running).toMatchObject({ status: 'in_progress', payload: '{"n":0}' });
      // The new one is the key's open task now.
      const third = await submit(rt, { type: 'held', payload: { n: 2 }, debounce: { key, seconds: 30 } });
      expect(third).toMatchObject({ status: 200, body: { id: second.body.id, debounced: true, payload: { n: 2 } } });
      release();
      await waitFor(async () => (await rt.service.get(String(first.body.id))).status === 'completed', 10_000, 'the first task to complete');
      expect(runs).toEqual([{ n: 0 }]);

    });

    it('a failed attempt waiting for its retry is not changed either', async () => {
      const runs: unknown[] = [];
      const handlers: Record<string, TaskHandler> = {
        fails: async (task) => {
          runs.push(task.payload);
          throw new Error('boom');
        },
      };
      const rt = await runtime({ processing: true, handlers, env: { TASK_BACKOFF_BASE_MS: '60000', TASK_BACKOFF_MAX_MS: '60000' } });
      const key = `retry-${Math.random()}`;
      const failing = await submit(rt, { type: 'fails', payload: { n: 0 }, debounce: { key, seconds: 0.05 } });
      await waitFor(async () => {
        const task = await rt.service.get(String(failing.body.id));
        return task.status === 'pending' && task.attempts === 1;
      }, 10_000, 'the first attempt to fail');
      const next = await submit(rt, { type: 'fails', payload: { n: 1 }, debounce: { key, seconds: 30 } });
      expect(next).toMatchObject({ status: 202, body: { debounced: false } });
      expect(await rt.service.get(String(failing.body.id))).toMatchObject({ status: 'pending', payload: '{"n":0}', version: 3 });
      expect(runs).toEqual([{ n: 0 }]);
    });

    it('keys are scoped by type; cancelled tasks are not debounced into', async () => {
      const rt = await runtime();
      const key = `scoped-${Math.random()}`;
      const a = await submit(rt, { type: 'counted', payload: 1, debounce: { key, seconds: 30 } });
      const b = await submit(rt, { type: 'other', payload: 2, debounce: { key, seconds: 30 } });
      expect([a.status, b.status]).toEqual([202, 202]);
      expect(a.body.id).not.toBe(b.body.id);
      await rt.service.cancel(String(a.body.id));
      const c = await submit(rt, { type: 'counted', payload: 3, debounce: { key, seconds: 30 } });
      expect(c).toMatchObject({ status: 202, body: { debounced: false } });
      // A task without a key shows null.
      expect((await submit(rt, {})).body).toMatchObject({ debounce_key: null });
    });

    it('the OpenAPI document describes debounce, throttle and the answer flags', async () => {
      const rt = await runtime();
      type Schema = { properties?: Record<string, unknown>; allOf?: ({ $ref: string } | Schema)[] };
      const spec = (await (await rt.app.fetch(new Request('http://test/openapi.json'))).json()) as {
        components: { schemas: Record<string, Schema> };
        paths: Record<string, { post?: { responses: Record<string, { content: Record<string, { schema: { $ref: string } }> }> } }>;
      };
      const { schemas } = spec.components;
      // A schema's fields, through the `allOf` an extended schema is written as.
      const fields = (schema: Schema): string[] => [
        ...Object.keys(schema.properties ?? {}),
        ...(schema.allOf ?? []).flatMap((part) => ('$ref' in part ? fields(schemas[String(part.$ref).split('/').pop()!]!) : fields(part as Schema))),
      ];
      expect(fields(schemas.SubmitTask!)).toEqual(expect.arrayContaining(['debounce', 'throttle']));
      expect(fields(schemas.BatchTaskItem!)).toEqual(expect.arrayContaining(['debounce', 'throttle', 'idempotency_key']));
      expect(fields(schemas.Task!)).toContain('debounce_key');
      expect(fields(schemas.SubmittedTask!)).toEqual(expect.arrayContaining(['debounced', 'throttled', 'debounce_key']));
      expect(spec.paths['/tasks']!.post!.responses['200']!.content['application/json']!.schema.$ref).toBe('#/components/schemas/SubmittedTask');
    });

    it('bad input: 400 naming the field, nothing stored', async () => {
      const rt = await runtime();
      const before = await count(rt);
      const bad: [Record<string, unknown>, string][] = [
        [{ debounce: { key: 'k', seconds: 1 }, run_at: '2030-01-01T00:00:00Z' }, 'debounce cannot be combined with run_at or delay_seconds: a debounced task is due debounce.seconds after the latest submit'],
        [{ debounce: { key: 'k', seconds: 1 }, delay_seconds: 5 }, 'debounce cannot be combined with run_at or delay_seconds: a debounced task is due debounce.seconds after the latest submit'],
        [{ debounce: { key: 'k'.repeat(201), seconds: 1 } }, 'debounce.key must be at most 200 characters'],
        [{ throttle: { key: 'k'.repeat(201), seconds: 1 } }, 'throttle.key must be at most 200 characters'],
        [{ debounce: { key: '', seconds: 1 } }, 'debounce.key must not be empty'],
        [{ debounce: { key: 'k', seconds: 0 } }, 'debounce.seconds must be greater than 0'],
        [{ debounce: { key: 'k', seconds: -1 } }, 'debounce.seconds must be greater than 0'],
        [{ throttle: { key: 'k', seconds: 1e12 } }, 'throttle.seconds must be at most 31536000'],
        [{ debounce: { key: 'k' } }, 'debounce.seconds must be a number of seconds'],
        [{ debounce: { seconds: 1 } }, 'debounce.key must be a string'],
        [{ debounce: 'k' }, 'debounce must be an object {key, seconds}'],
        [{ debounce: { key: 'k', seconds: 1, extra: 1 } }, 'debounce takes key and seconds only, not "extra"'],
        [{ debounce: { key: 'k', seconds: 1 }, throttle: { key: 'k', seconds: 1 } }, 'use either debounce or throttle, not both'],
      ];
      for (const [body, message] of bad) {
        expect({ body, answer: await submit(rt, body) }).toEqual({ body, answer: { status: 400, body: { message, code: 'invalid_field' } } });
      }
      expect(await submit(rt, { debounce: { key: 'k', seconds: 1 } }, { 'idempotency-key': 'idem-1' })).toEqual({
        status: 400,
        body: { message: 'debounce cannot be combined with an idempotency key: a repeated debounced submit is already harmless (docs/debounce.md)', code: 'invalid_field' },
      });
      const batch = await send(rt, '/tasks/batch', { tasks: [{ title: 't', description: 'd' }, { title: 't', description: 'd', throttle: { key: 'k', seconds: 1 }, idempotency_key: 'idem-2' }] });
      expect(batch).toEqual({
        status: 400,
        body: { message: 'tasks[1]: throttle cannot be combined with an idempotency key: a repeated throttled submit is already harmless (docs/debounce.md)', code: 'invalid_field' },
      });
      const batchBad = await send(rt, '/tasks/batch', { tasks: [{ title: 't', description: 'd' }, { title: 't', description: 'd', debounce: { key: 'k', seconds: 1 }, delay_seconds: 1 }] });
      expect(batchBad.status).toBe(400);
      expect(batchBad.body.message).toMatch(/^tasks\[1\]: debounce cannot be combined with run_at or delay_seconds/);
      expect(await count(rt)).toBe(before);
    });

    it('batch items: debounced and throttled in request order, in one transaction', async () => {
      const rt = await runtime();
      const key = `batch-${Math.random()}`;
      const item = (n: number, extra: Record<string, unknown>) => ({ title: `t${n}`, description: 'd', type: 'counted', payload: { n }, ...extra });
      const first = await send(rt, '/tasks/batch', {
        tasks: [item(0, { debounce: { key, seconds: 30 } }), item(1, {}), item(2, { debounce: { key, seconds: 30 } }), item(3, { throttle: { key: `${key}-t`, seconds: 30 } }), item(4, { throttle: { key: `${key}-t`, seconds: 30 } })],
      });
      expect(first.status).toBe(202);
      const tasks = first.body.tasks as Record<string, unknown>[];
      expect(tasks.map((t) => [t.debounced, t.throttled, t.replayed])).toEqual([
        [false, undefined, false],
        [undefined, undefined, false],
        [true, undefined, false],
        [undefined, false, false],
        [undefined, true, false],
      ]);
      // The first item's task took the third's payload; the throttled item answers the fourth's task.
      expect(tasks[0]!.id).toBe(tasks[2]!.id);
      expect(tasks[0]).toMatchObject({ payload: { n: 2 }, title: 't2' });
      expect(tasks[4]).toMatchObject({ id: tasks[3]!.id, payload: { n: 3 } });
      expect(await rt.driver.all('SELECT count(*) AS n FROM tasks WHERE debounce_key IN (?, ?)', [key, `${key}-t`])).toEqual([{ n: 2 }]);
      // Another batch and a single submit find the same tasks: 200, nothing new stored.
      const again = await send(rt, '/tasks/batch', { tasks: [item(5, { debounce: { key, seconds: 30 } }), item(6, { throttle: { key: `${key}-t`, seconds: 30 } })] });
      expect(again.status).toBe(200);
      expect((again.body.tasks as Record<string, unknown>[]).map((t) => t.id)).toEqual([tasks[0]!.id, tasks[3]!.id]);
      expect(await submit(rt, { type: 'counted', payload: { n: 7 }, debounce: { key, seconds: 30 } })).toMatchObject({ status: 200, body: { id: tasks[0]!.id, payload: { n: 7 } } });
    });

    it('TASK_MAX_PENDING: a debounce that needs a new task is refused at the cap, a replacement is not', async () => {
      const rt = await runtime({ env: { TASK_MAX_PENDING: '2' } });
      const key = `cap-${Math.random()}`;
      await rt.driver.run('DELETE FROM tasks');
      expect((await submit(rt, { type: 'counted', debounce: { key, seconds: 30 } })).status).toBe(202);
      expect((await submit(rt, {})).status).toBe(202);
      expect(await submit(rt, { type: 'counted', debounce: { key: `${key}-2`, seconds: 30 } })).toMatchObject({ status: 429, body: { code: 'queue_full' } });
      expect(await submit(rt, { type: 'counted', throttle: { key: `${key}-3`, seconds: 30 } })).toMatchObject({ status: 429, body: { code: 'queue_full' } });
      expect(await submit(rt, { type: 'counted', payload: 1, debounce: { key, seconds: 30 } })).toMatchObject({ status: 200, body: { debounced: true, payload: 1 } });
      expect(await submit(rt, { type: 'counted', payload: 2, throttle: { key, seconds: 30 } })).toMatchObject({ status: 200, body: { throttled: true, payload: 1 } });
      expect((await send(rt, '/tasks/batch', { tasks: [{ title: 't', description: 'd', type: 'counted', debounce: { key, seconds: 30 } }] })).status).toBe(429);
      expect(await count(rt)).toBe(2);
    });
  });
}

// A file per runtime; one sqld for the file's tests (keys are unique per test).
contract('a libSQL file', () => tempDbUrl());
if (sqldOk) {
  const sqld = useSqld();
  contract('sqld', () => sqld.url);
}
