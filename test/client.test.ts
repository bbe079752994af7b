import { describe, expect, expectTypeOf, it } from 'vitest';
import { rejection } from './support/client-errors.ts';
// The package's own export, as a user imports it (package.json "exports": "./client").
import { createClient, isFinal, TaskPoolError, type BatchResult, type BatchTask, type ScheduleJson, type TaskJson, type TaskList, type TaskTypeList } from '../lib/client/index.ts';
import type { TaskJson as ModelTaskJson } from '../lib/tasks/model.ts';
import type { TaskHandler } from '../lib/processing/handlers.ts';
import { EXIT } from '../local/cli-api.ts';
import { cli as runCli, cliJson } from './support/cli.ts';
import { freePort, waitFor } from './helpers.ts';
import { serveRuntime } from './support/serve.ts';

const TOKEN = 'api-token-0123456789';

const handlers: Record<string, TaskHandler> = {
  ok: async (task) => ({ echo: task.payload }),
  boom: async () => {
    throw new Error('boom');
  },
};

const serve = (env: Record<string, string> = {}) => serveRuntime({ env: { API_TOKEN: TOKEN, ...env }, handlers });

describe('typed client (task-pool/client) against a real server', () => {
  it('infers its types from the server\'s routes (checked by tsc)', () => {
    expectTypeOf<keyof TaskJson>().toEqualTypeOf<keyof ModelTaskJson>();
    expectTypeOf<TaskJson['status']>().toEqualTypeOf<ModelTaskJson['status']>();
    expectTypeOf<TaskList['tasks'][number]>().toEqualTypeOf<TaskJson>();
    expectTypeOf<TaskList['next_cursor']>().toEqualTypeOf<string | null>();
    expectTypeOf(createClient('http://127.0.0.1:1').get).returns.resolves.toEqualTypeOf<TaskJson>();
    expectTypeOf<ScheduleJson['next_run_at']>().toEqualTypeOf<string | null>();
    expectTypeOf<ScheduleJson['missed']>().toEqualTypeOf<'skip' | 'once' | 'all'>();
    expectTypeOf<TaskTypeList['types'][number]['paused']>().toEqualTypeOf<boolean>();
    expectTypeOf<BatchResult['tasks'][number]['replayed']>().toEqualTypeOf<boolean>();
    expectTypeOf<keyof BatchResult['tasks'][number]>().toEqualTypeOf<keyof ModelTaskJson | 'replayed' | 'debounced' | 'throttled'>();
  });

  it('submits, gets, waits, lists, cancels and retries', async () => {
    const { url } = await serve();
    const client = createClient(url, { token: TOKEN });

    const { task, replayed } = await client.submit({ title: 'one', description: 'd', type: 'ok', payload: { n: 1 } }, { idempotencyKey: 'key-1' });
    expect(replayed).toBe(false);
    const again = await client.submit({ title: 'one', description: 'd', type: 'ok', payload: { n: 1 } }, { idempotencyKey: 'key-1' });
    expect(again).toMatchObject({ replayed: true, task: { id: task.id } });

    const done = await client.get(task.id, { wait: 30 });
    expect(done.status).toBe('completed');
    expect(done.result).toEqual({ echo: { n: 1 } });
    expect((await client.get(task.id)).id).toBe(task.id);
    expect(isFinal(await client.wait(task.id, 5))).toBe(true);

    const later = (await client.submit({ title: 'later', description: 'd', type: 'ok', delay_seconds: 3600 })).task;
    const timedOut = await client.wait(later.id, 0.2);
    expect(timedOut.status).toBe('pending');
    expect(isFinal(timedOut)).toBe(false);

    const page = await client.list({ status: 'completed', limit: 1 });
    expect(page).toMatchObject({ count: 1, next_cursor: null });
    expect(page.tasks[0]!.id).toBe(task.id);
    const all = await client.list({ limit: 1 });
    expect(all.tasks[0]!.id).toBe(later.id);
    expect((await client.list({ cursor: all.next_cursor! })).tasks.map((t) => t.id)).toEqual([task.id]);

    expect((await client.cancel(later.id)).status).toBe('cancelled');
    const retried = await client.retry(later.id);
    expect(retried).toMatchObject({ status: 'pending', attempts: 0 });
    const conflict = await rejection(client.retry(later.id));
    expect(conflict).toMatchObject({ status: 409, code: 'task_not_retryable' });

    // The raw hono/client, typed from the routes, is there too.
    const raw = await client.api.tasks[':id'].$get({ param: { id: task.id }, query: {} });
    expect(raw.status).toBe(200);
  });

  it('turns 400, 401, 404 and 429 into TaskPoolError with the server\'s code and Retry-After', async () => {
    const { url } = await serve({ RATE_LIMIT_PER_MINUTE: '3' });
    const client = createClient(url, { token: TOKEN });
    expect(await rejection(client.get('no-such-task'))).toMatchObject({ status: 404, code: 'not_found', message: 'task not found' });
    expect(await rejection(client.submit({ title: 't', description: 'd', type: 'nope' }))).toMatchObject({ status: 400, code: 'unknown_type' });
    expect(await rejection(createClient(url).list())).toMatchObject({ status: 401, code: 'unauthorized' });
    // The token's budget of 3: the get, the submit, this list; the next one is refused.
    await client.list();
    const limited = await rejection(client.list());
    expect(limited).toMatchObject({ status: 429 });
    expect(limited.retryAfter).toBeGreaterThan(0);
  });
});

/** Runs `task-pool tasks …` as a real process. */
const cli = (args: string[], env: Record<string, string> = {}) => runCli(['tasks', ...args], { env });
const json = cliJson;

describe('typed client and CLI: debounce and throttle', () => {
  it('submit says debounced or throttled, with the key\'s task; the CLI takes them as flags and says so on stderr', async () => {
    const { url } = await serve();
    const client = createClient(url, { token: TOKEN });
    const first = await client.submit({ title: 'a', description: 'd', type: 'ok', payload: 1, debounce: { key: 'user:1', seconds: 600 } });
    expect(first).toMatchObject({ replayed: false, debounced: false, task: { debounce_key: 'user:1', payload: 1 } });
    expect('debounced' in first.task).toBe(false);
    const second = await client.submit({ title: 'b', description: 'd', type: 'ok', payload: 2, debounce: { key: 'user:1', seconds: 600 } });
    expect(second).toMatchObject({ replayed: false, debounced: true, task: { id: first.task.id, title: 'b', payload: 2 } });
    const held = await client.submit({ title: 'c', description: 'd', type: 'ok', throttle: { key: 'user:1', seconds: 1 } });
    expect(held).toMatchObject({ throttled: true, task: { id: first.task.id } });
    const plain = await client.submit({ title: 'p', description: 'd', type: 'ok' });
    expect(plain).toEqual({ replayed: false, task: expect.objectContaining({ debounce_key: null }) });

    const auth = ['--url', url, '--token', TOKEN];
    const flags = ['--title', 'cli', '--description', 'd', '--type', 'ok', '--delay', '0'];
    const refused = await cli(['submit', ...auth, ...flags, '--debounce-key', 'user:1', '--debounce-seconds', '5']);
    expect(refused.code).toBe(EXIT.invalid);
    expect(refused.stderr).toContain('debounce cannot be combined with run_at or delay_seconds');
    const debounced = await cli(['submit', ...auth, '--json', '--title', 'cli', '--description', 'd', '--type', 'ok', '--payload', '3', '--debounce-key', 'user:1', '--debounce-seconds', '600']);
    expect(debounced.code, debounced.stderr).toBe(EXIT.ok);
    expect(json<{ id: string; payload: unknown }>(debounced)).toMatchObject({ id: first.task.id, payload: 3 });
    expect(debounced.stderr).toBe(`debounced into the pending task ${first.task.id}\n`);
    const throttled = await cli(['submit', ...auth, '--title', 'cli', '--description', 'd', '--type', 'ok', '--throttle-key', 'user:1', '--throttle-seconds', '600']);
    expect(throttled.stderr).toBe(`throttled: task ${first.task.id} of the key holds it, nothing stored\n`);
    expect(throttled.stdout).toMatch(/^debounce_key +user:1$/m);
  });
});

describe('typed client: batches, schedules and types', () => {
  it('submits a batch (replays marked, a bad item named), runs a schedule through its life, pauses and resumes a type', async () => {
    const { url } = await serve();
    const client = createClient(url, { token: TOKEN });

    const batch = await client.submitBatch([
      { title: 'a', description: 'd', type: 'ok' },
      { title: 'b', description: 'd', type: 'ok', idempotency_key: 'b-1' },
    ]);
    expect(batch.count).toBe(2);
    expect(batch.tasks.map((t) => t.replayed)).toEqual([false, false]);
    const replay = await client.submitBatch([{ title: 'b', description: 'd', type: 'ok', idempotency_key: 'b-1' }]);
    expect(replay.tasks[0]).toMatchObject({ id: batch.tasks[1]!.id, replayed: true });
    const bad = await rejection(client.submitBatch([{ title: 'x', description: 'd' }, { title: 'y' } as BatchTask]));
    expect(bad).toMatchObject({ status: 400, message: 'tasks[1]: description is required' });
    for (const task of batch.tasks) expect((await client.wait(task.id, 20)).status).toBe('completed');

    const created = await client.schedules.put('nightly', { cron: '30 2 * * *', timezone: 'Europe/Berlin', task: { title: 'report', description: 'd', type: 'ok' } });
    expect(created).toMatchObject({ created: true, schedule: { name: 'nightly', timezone: 'Europe/Berlin', paused: false, version: 1 } });
    const replaced = await client.schedules.put('nightly', { cron: '0 3 * * *', task: { title: 'report', description: 'd', type: 'ok' } });
    expect(replaced).toMatchObject({ created: false, schedule: { cron: '0 3 * * *', timezone: 'UTC', version: 2 } });
    expect(await client.schedules.get('nightly')).toEqual(replaced.schedule);
    expect(await client.schedules.list({ limit: 10 })).toMatchObject({ count: 1, next_cursor: null, schedules: [{ name: 'nightly' }] });
    expect((await client.schedules.pause('nightly')).paused).toBe(true);
    expect((await client.schedules.resume('nightly')).paused).toBe(false);
    const triggered = await client.schedules.trigger('nightly');
    expect(triggered).toMatchObject({ title: 'report', type: 'ok' });
    expect((await client.wait(triggered.id, 20)).status).toBe('completed');
    await client.schedules.delete('nightly');
    expect(await rejection(client.schedules.get('nightly'))).toMatchObject({ status: 404, code: 'not_found' });
    // Names go into the path encoded: `/` is a bad name (400), not another route (404).
    expect(await rejection(client.schedules.get('no/such'))).toMatchObject({ status: 400 });

    expect(await client.types.pause('mail/send')).toMatchObject({ type: 'mail/send', paused: true });
    const { types } = await client.types.list();
    expect(types.find((t) => t.type === 'mail/send')).toMatchObject({ paused: true });
    expect(types.find((t) => t.type === 'ok')).toMatchObject({ paused: false, counts: { completed: 3, pending: 0 } });
    expect(await client.types.resume('mail/send')).toEqual({ type: 'mail/send', paused: false, paused_at: null });
  });
});

describe('task-pool tasks … against a real server', () => {
  it('every command, as JSON and as a table', async () => {
    const { url, runtime } = await serve();
    const auth = ['--url', url, '--token', TOKEN];

    const submitted = json<{ id: string; status: string }>(await cli(['submit', ...auth, '--json', '--title', 'a', '--description', 'b', '--type', 'ok', '--payload', '{"x":1}']));
    // The server's worker was idle: the submit's own insert claimed the task (lib/processing/poller.ts, reserve).
    expect(submitted.status).toBe('in_progress');
    const [waitedTable, later, failing] = await Promise.all([
      cli(['submit', ...auth, '--title', 'w', '--description', 'b', '--type', 'ok', '--wait', '20']),
      cli(['submit', ...auth, '--json', '--title', 'later', '--description', 'b', '--type', 'ok', '--delay', '3600']).then((r) => json<{ id: string }>(r)),
      cli(['submit', ...auth, '--json', '--title', 'f', '--description', 'b', '--type', 'boom', '--max-attempts', '1']).then((r) => json<{ id: string }>(r)),
    ]);
    expect(waitedTable.code, waitedTable.stderr).toBe(EXIT.ok);
    expect(waitedTable.stdout).toMatch(/^status +completed$/m);
    await waitFor(async () => (await runtime.repo.get(Number(submitted.id)))?.status === 'completed', 10_000, 'first task to complete');
    // Before listing pending tasks: the failing one must have run (it is claimed at once, but not at a known moment).
    await waitFor(async () => (await runtime.repo.get(Number(failing.id)))?.status === 'failed', 10_000, 'the failing task to fail');

    const [got, gotTable, list, listTable, waitDone, waitFailed, waitTimeout, attempts, attemptsTable] = await Promise.all([
      cli(['get', submitted.id, ...auth, '--json']).then((r) => json<{ id: string; result: unknown }>(r)),
      cli(['get', submitted.id, ...auth]),
      cli(['list', ...auth, '--json', '--status', 'pending']).then((r) => json<{ count: number; tasks: { id: string }[] }>(r)),
      cli(['list', ...auth, '--limit', '2']),
      cli(['wait', submitted.id, ...auth, '--json']),
      cli(['wait', failing.id, ...auth, '--timeout', '20']),
      cli(['wait', later.id, ...auth, '--timeout', '0.2']),
      cli(['attempts', submitted.id, ...auth, '--json']).then((r) => json<{ count: number; attempts: { attempt: number; outcome: string; error: string | null }[] }>(r)),
      cli(['attempts', failing.id, ...auth]),
    ]);
    expect(attempts).toMatchObject({ count: 1, attempts: [{ attempt: 1, outcome: 'completed', error: null }] });
    expect(attemptsTable.code, attemptsTable.stderr).toBe(EXIT.ok);
    expect(attemptsTable.stdout.split('\n')).toEqual([
      expect.stringMatching(/^attempt +outcome +worker +started_at +ended_at$/),
      expect.stringMatching(/^1 +failed +\S+ +\S+Z +\S+Z$/),
      '  error: boom',
      '1 attempt',
      '',
    ]);
    expect(got).toMatchObject({ id: submitted.id, result: { echo: { x: 1 } } });
    expect(gotTable.stdout).toMatch(new RegExp(`^id +${submitted.id}$`, 'm'));
    expect(gotTable.stdout).toMatch(/^result +\{"echo":\{"x":1\}\}$/m);
    expect(list.tasks.map((t) => t.id)).toEqual([later.id]);
    expect(listTable.code).toBe(EXIT.ok);
    expect(listTable.stdout.split('\n')[0]).toMatch(/^id +status +type +attempts +created_at +title$/);
    expect(listTable.stdout).toMatch(/^2 tasks; next page: --cursor \S+$/m);
    expect(waitDone.code).toBe(EXIT.ok);
    expect(JSON.parse(waitDone.stdout)).toMatchObject({ status: 'completed' });
    expect(waitFailed.code).toBe(EXIT.failed);
    expect(waitFailed.stdout).toMatch(/^status +failed$/m);
    expect(waitTimeout.code).toBe(EXIT.notFinal);
    expect(waitTimeout.stdout).toMatch(/^status +pending$/m);

    const cancelled = json<{ status: string }>(await cli(['cancel', later.id, ...auth, '--json']));
    expect(cancelled.status).toBe('cancelled');
    const retried = await cli(['retry', later.id, ...auth]);
    expect(retried.code).toBe(EXIT.ok);
    expect(retried.stdout).toMatch(/^status +pending$/m);

    // The token and URL may come from the environment instead of flags.
    const fromEnv = await cli(['get', submitted.id, '--json'], { TASK_POOL_URL: url, TASK_POOL_TOKEN: TOKEN });
    expect(json<{ id: string }>(fromEnv).id).toBe(submitted.id);
  }, 120_000);

  it('errors: exit status and one message on stderr for 404, 401, 409, 400, 429, a usage error and no server', async () => {
    const { url } = await serve();
    const limited = await serve({ RATE_LIMIT_PER_MINUTE: '1' });
    const closedPort = await freePort();
    const [notFound, noToken, wrongToken, badType, usage, unreachable] = await Promise.all([
      cli(['get', 'no-such-task', '--url', url, '--token', TOKEN]),
      cli(['list', '--url', url]),
      cli(['list', '--url', url, '--token', 'wrong-token-0123456789']),
      cli(['submit', '--url', url, '--token', TOKEN, '--title', 't', '--description', 'd', '--type', 'nope']),
      cli(['submit', '--url', url, '--token', TOKEN, '--title', 't', '--description', 'd', '--priority', 'high']),
      cli(['list', '--url', `http://127.0.0.1:${closedPort}`]),
    ]);
    expect(notFound).toMatchObject({ code: EXIT.notFound, stdout: '', stderr: 'task-pool: 404 not_found: task not found\n' });
    expect(noToken).toMatchObject({ code: EXIT.unauthorized, stderr: 'task-pool: 401 unauthorized: missing or invalid bearer token\n' });
    expect(wrongToken.code).toBe(EXIT.unauthorized);
    expect(badType).toMatchObject({ code: EXIT.invalid, stderr: 'task-pool: 400 unknown_type: unknown task type "nope"\n' });
    expect(usage.code).toBe(EXIT.invalid);
    expect(usage.stderr).toMatch(/priority must be a number/);
    expect(unreachable.code).toBe(EXIT.error);
    expect(unreachable.stderr).toMatch(/^task-pool: fetch failed/);

    const task = json<{ id: string }>(await cli(['submit', '--url', url, '--token', TOKEN, '--json', '--title', 't', '--description', 'd', '--type', 'ok']));
    await cli(['wait', task.id, '--url', url, '--token', TOKEN]);
    const conflict = await cli(['cancel', task.id, '--url', url, '--token', TOKEN]);
    expect(conflict).toMatchObject({ code: EXIT.conflict, stderr: 'task-pool: 409 task_finished: task is already completed\n' });

    const first = await cli(['list', '--url', limited.url, '--token', TOKEN]);
    expect(first.code).toBe(EXIT.ok);
    // One request a minute: a CLI run takes seconds on a loaded machine, so the minute can turn
    // between two runs. Use the minute's request up directly, then run the CLI; again if the
    // minute turned meanwhile (a third turn in a row would fail the test).
    let second = await cli(['list', '--url', limited.url, '--token', TOKEN]);
    for (let attempt = 0; attempt < 2 && second.code === EXIT.ok; attempt++) {
      await fetch(`${limited.url}/tasks`, { headers: { authorization: `Bearer ${TOKEN}` } });
      second = await cli(['list', '--url', limited.url, '--token', TOKEN]);
    }
    expect(second.code).toBe(EXIT.rateLimited);
    expect(second.stderr).toMatch(/^task-pool: 429 rate_limited: .+ \(retry after \d+ s\)\n$/);
  }, 120_000);
});
