import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createClient, type BatchResult, type ScheduleJson, type ScheduleList, type TaskJson, type TaskTypeList, type TaskTypePause } from '../lib/client/index.ts';
import type { TaskHandler } from '../lib/processing/handlers.ts';
import { EXIT } from '../local/cli-api.ts';
import { freePort, tempDir, waitFor } from './helpers.ts';
import { cli, cliJson } from './support/cli.ts';
import { serveRuntime } from './support/serve.ts';

/**
 * `task-pool schedules …`, `types …` and `batch` as real processes against a real server:
 * the same options, output (tables, `--json`), error lines and exit statuses as `tasks …`
 * (test/client.test.ts). Independent runs go in parallel: each is a Node process with tsx.
 */

const TOKEN = 'api-token-0123456789';
const handlers: Record<string, TaskHandler> = { ok: async (task) => ({ echo: task.payload }) };

async function server() {
  const { url, runtime } = await serveRuntime({ env: { API_TOKEN: TOKEN }, handlers });
  return { url, runtime, client: createClient(url, { token: TOKEN }), auth: ['--url', url, '--token', TOKEN] };
}

describe('task-pool schedules … against a real server', () => {
  it('put from flags, from a file and from stdin (flags on top); list, get, pause, resume, trigger, delete', async () => {
    const { auth, client } = await server();
    const file = join(tempDir(), 'hourly.json');
    writeFileSync(file, JSON.stringify({ cron: '0 * * * *', missed: 'skip', task: { title: 'from the file', description: 'd', type: 'ok', priority: 1 } }));

    const [nightly, hourly, third] = await Promise.all([
      cli(['schedules', 'put', 'nightly', ...auth, '--json', '--cron', '30 2 * * *', '--timezone', 'Europe/Berlin', '--missed', 'all',
        '--title', 'report', '--description', 'nightly report', '--type', 'ok', '--payload', '{"n":1}', '--priority', '3', '--delay', '60', '--max-attempts', '2']),
      cli(['schedules', 'put', 'hourly', ...auth, '--file', file, '--title', 'override', '--paused']),
      cli(['schedules', 'create', 'third', ...auth, '--json', '--file', '-'], { stdin: JSON.stringify({ cron: '*/5 * * * *', task: { title: 't', description: 'd', type: 'ok' } }) }),
    ]);
    expect(cliJson<ScheduleJson>(nightly)).toMatchObject({
      name: 'nightly', cron: '30 2 * * *', timezone: 'Europe/Berlin', missed: 'all', paused: false, version: 1,
      task: { title: 'report', description: 'nightly report', type: 'ok', payload: { n: 1 }, priority: 3, delay_seconds: 60, max_attempts: 2 },
    });
    expect(hourly.code, hourly.stderr).toBe(EXIT.ok);
    expect(hourly.stdout).toMatch(/^name +hourly$/m);
    expect(hourly.stdout).toMatch(/^missed +skip$/m);
    expect(hourly.stdout).toMatch(/^paused +true$/m);
    expect(hourly.stdout).toMatch(/^task +\{"title":"override","description":"d","type":"ok","priority":1\}$/m);
    expect(cliJson<ScheduleJson>(third)).toMatchObject({ name: 'third', cron: '*/5 * * * *', timezone: 'UTC' });

    const [page, next, got, triggered] = await Promise.all([
      cli(['schedules', 'list', ...auth, '--limit', '2']),
      cli(['schedules', 'list', ...auth, '--json', '--cursor', 'nightly']),
      cli(['schedules', 'get', 'nightly', ...auth]),
      cli(['schedules', 'trigger', 'hourly', ...auth]),
    ]);
    expect(page.code, page.stderr).toBe(EXIT.ok);
    const lines = page.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^name +cron +timezone +missed +paused +next_run_at +task$/);
    expect(lines[1]).toMatch(/^hourly +0 \* \* \* \* +UTC +skip +true +\S+Z +ok: override$/);
    expect(lines[2]).toMatch(/^nightly +30 2 \* \* \* +Europe\/Berlin +all +false +\S+Z +ok: report$/);
    expect(lines[3]).toBe('2 schedules; next page: --cursor nightly');
    expect(cliJson<ScheduleList>(next)).toMatchObject({ count: 1, next_cursor: null, schedules: [{ name: 'third' }] });
    expect(got.stdout).toMatch(/^cron +30 2 \* \* \*$/m);
    expect(got.stdout).toMatch(/^next_run_at +\d{4}-\d\d-\d\dT01:30:00\.000Z$/m);
    expect(triggered.code, triggered.stderr).toBe(EXIT.ok);
    expect(triggered.stdout).toMatch(/^title +override$/m);
    const taskId = /^id +(\S+)$/m.exec(triggered.stdout)![1]!;
    expect((await client.wait(taskId, 20)).status).toBe('completed');

    const [paused, deleted] = await Promise.all([cli(['schedules', 'pause', 'nightly', ...auth, '--json']), cli(['schedules', 'delete', 'third', ...auth])]);
    expect(cliJson<ScheduleJson>(paused).paused).toBe(true);
    expect(deleted).toMatchObject({ code: EXIT.ok, stdout: 'schedule third deleted\n', stderr: '' });

    const [resumed, gone, deletedJson] = await Promise.all([
      cli(['schedules', 'resume', 'nightly', ...auth]),
      cli(['schedules', 'get', 'third', ...auth]),
      cli(['schedules', 'delete', 'hourly', ...auth, '--json']),
    ]);
    expect(resumed.stdout).toMatch(/^paused +false$/m);
    expect(gone).toMatchObject({ code: EXIT.notFound, stdout: '', stderr: 'task-pool: 404 not_found: schedule not found\n' });
    expect(cliJson(deletedJson)).toEqual({ name: 'hourly', deleted: true });
    expect((await client.schedules.list()).schedules.map((s) => s.name)).toEqual(['nightly']);
  }, 180_000);

  it('errors: the server\'s 400 naming the field, an unreadable or non-JSON file, a bad choice, no token', async () => {
    const { url, auth } = await server();
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.json'), 'cron: 1 * * * *');
    const [badCron, noTitle, missingFile, notJson, badChoice, noToken] = await Promise.all([
      cli(['schedules', 'put', 's', ...auth, '--cron', 'x', '--title', 't', '--description', 'd']),
      cli(['schedules', 'put', 's', ...auth, '--cron', '0 * * * *', '--description', 'd']),
      cli(['schedules', 'put', 's', ...auth, '--file', join(dir, 'missing.json')]),
      cli(['schedules', 'put', 's', ...auth, '--file', join(dir, 'bad.json')]),
      cli(['schedules', 'put', 's', ...auth, '--cron', '0 * * * *', '--missed', 'sometimes']),
      cli(['schedules', 'list', '--url', url]),
    ]);
    expect(badCron).toMatchObject({ code: EXIT.invalid, stdout: '' });
    expect(badCron.stderr).toMatch(/^task-pool: 400 invalid_field: cron must have 5 fields .*\n$/);
    expect(noTitle).toMatchObject({ code: EXIT.invalid, stderr: 'task-pool: 400 invalid_field: task.title is required\n' });
    expect(missingFile.code).toBe(EXIT.invalid);
    expect(missingFile.stderr).toMatch(/^task-pool: cannot read .*missing\.json: ENOENT/);
    expect(notJson.code).toBe(EXIT.invalid);
    expect(notJson.stderr).toMatch(/^task-pool: .*bad\.json is not JSON: /);
    expect(badChoice.code).toBe(EXIT.invalid);
    expect(badChoice.stderr).toMatch(/sometimes.*Allowed choices are skip, once, all/s);
    expect(noToken).toMatchObject({ code: EXIT.unauthorized, stderr: 'task-pool: 401 unauthorized: missing or invalid bearer token\n' });
  }, 180_000);
});

describe('task-pool types … against a real server', () => {
  it('pause holds a type\'s tasks, list shows it, resume lets them run; as tables and as JSON', async () => {
    const { auth, client } = await server();
    const [pausedTable, pausedOther] = await Promise.all([
      cli(['types', 'pause', 'ok', ...auth]),
      // Any name may be paused (workers elsewhere may have the handler), `/` included.
      cli(['types', 'pause', 'mail/send', ...auth, '--json']),
    ]);
    expect(pausedTable.code, pausedTable.stderr).toBe(EXIT.ok);
    expect(pausedTable.stdout).toMatch(/^type +ok\npaused +true\npaused_at +\S+Z\n$/);
    expect(cliJson<TaskTypePause>(pausedOther)).toMatchObject({ type: 'mail/send', paused: true });

    const { task } = await client.submit({ title: 'held', description: 'd', type: 'ok' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await client.get(task.id)).status).toBe('pending');

    const [table, json] = await Promise.all([cli(['types', 'list', ...auth]), cli(['types', 'list', ...auth, '--json'])]);
    expect(table.code, table.stderr).toBe(EXIT.ok);
    const rows = table.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^type +paused +pending +in_progress +completed +failed +cancelled +oldest_pending_s$/);
    expect(rows).toContainEqual(expect.stringMatching(/^ok +true +1 +0 +0 +0 +0 +\d+\.\d$/));
    expect(rows).toContainEqual(expect.stringMatching(/^mail\/send +true +0 +0 +0 +0 +0 +-$/));
    expect(rows.at(-1)).toMatch(/^\d+ types$/);
    const list = cliJson<TaskTypeList>(json);
    expect(list.types.find((t) => t.type === 'ok')).toMatchObject({ paused: true, counts: { pending: 1 } });

    const resumed = cliJson<TaskTypePause>(await cli(['types', 'resume', 'ok', ...auth, '--json']));
    expect(resumed).toEqual({ type: 'ok', paused: false, paused_at: null });
    expect((await client.wait(task.id, 20)).status).toBe('completed');
  }, 180_000);
});

describe('task-pool batch against a real server', () => {
  it('reads a JSON array, {"tasks": [...]} or JSON Lines from a file or stdin; replays are marked; a bad item stores nothing', async () => {
    const { auth, client } = await server();
    const dir = tempDir();
    const file = join(dir, 'tasks.json');
    writeFileSync(file, JSON.stringify([{ title: 'one', description: 'd', type: 'ok' }, { title: 'two', description: 'd', type: 'ok', priority: 5 }]));
    const keyed = { title: 'keyed', description: 'd', type: 'ok', idempotency_key: 'batch-key-1' };

    const [fromFile, wrapped, lines] = await Promise.all([
      cli(['batch', file, ...auth]),
      cli(['batch', '-', ...auth, '--json'], { stdin: JSON.stringify({ tasks: [keyed] }) }),
      cli(['batch', ...auth, '--json'], { stdin: '{"title":"l1","description":"d","type":"ok"}\n\n{"title":"l2","description":"d","type":"ok"}\n' }),
    ]);
    expect(fromFile.code, fromFile.stderr).toBe(EXIT.ok);
    const rows = fromFile.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^id +status +type +replayed +title$/);
    expect(rows[1]).toMatch(/^\d{16} +pending +ok +false +one$/);
    expect(rows[2]).toMatch(/^\d{16} +pending +ok +false +two$/);
    expect(rows[3]).toBe('2 tasks: 2 stored, 0 replayed');
    const first = cliJson<BatchResult>(wrapped);
    expect(first).toMatchObject({ count: 1, tasks: [{ title: 'keyed', replayed: false }] });
    expect(cliJson<BatchResult>(lines).tasks.map((t) => t.title)).toEqual(['l1', 'l2']);
    await waitFor(async () => (await client.list({ status: 'completed' })).count === 5, 20_000, 'five completed tasks');

    const stored = (await client.list()).count;
    const closedPort = await freePort();
    const [replay, badItem, empty, garbage, missing, unreachable] = await Promise.all([
      cli(['batch', ...auth], { stdin: JSON.stringify([keyed]) }),
      cli(['batch', ...auth], { stdin: JSON.stringify([{ title: 'fine', description: 'd', type: 'ok' }, { title: 'no description', type: 'ok' }]) }),
      cli(['batch', ...auth], { stdin: '  \n' }),
      cli(['batch', ...auth], { stdin: '{"title": "x",\n' }),
      cli(['batch', join(dir, 'missing.json'), ...auth]),
      cli(['batch', file, '--url', `http://127.0.0.1:${closedPort}`]),
    ]);
    expect(replay.code, replay.stderr).toBe(EXIT.ok);
    expect(replay.stdout).toMatch(new RegExp(`^${first.tasks[0]!.id} +completed +ok +true +keyed$`, 'm'));
    expect(replay.stdout).toMatch(/^1 task: 0 stored, 1 replayed$/m);
    expect(badItem).toMatchObject({ code: EXIT.invalid, stdout: '', stderr: 'task-pool: 400 invalid_field: tasks[1]: description is required\n' });
    expect(empty).toMatchObject({ code: EXIT.invalid, stderr: 'task-pool: stdin holds no tasks\n' });
    expect(garbage.code).toBe(EXIT.invalid);
    expect(garbage.stderr).toMatch(/^task-pool: stdin is neither JSON nor JSON Lines: line 1: /);
    expect(missing.code).toBe(EXIT.invalid);
    expect(missing.stderr).toMatch(/^task-pool: cannot read .*missing\.json: ENOENT/);
    expect(unreachable.code).toBe(EXIT.error);
    expect(unreachable.stderr).toMatch(/^task-pool: fetch failed/);
    // All or nothing: the bad batch's good item was not stored either.
    expect((await client.list()).count).toBe(stored);
    const titles = (await client.list()).tasks.map((t: TaskJson) => t.title);
    expect(titles).not.toContain('fine');
  }, 180_000);
});

describe('task-pool --flow-* flags against a real server', () => {
  it('tasks submit and schedules put carry flow_control; a flag without --flow-key or a bad value fails naming it', async () => {
    const { auth } = await server();
    const [task, schedule, orphan, bad] = await Promise.all([
      cli(['tasks', 'submit', ...auth, '--json', '--title', 't', '--description', 'd', '--type', 'ok', '--delay', '3600',
        '--flow-key', 'acme', '--flow-parallelism', '2', '--flow-rate', '5', '--flow-period', '1']),
      cli(['schedules', 'put', 'flowing', ...auth, '--json', '--cron', '0 * * * *', '--title', 't', '--description', 'd', '--type', 'ok', '--flow-key', 'nightly']),
      cli(['tasks', 'submit', ...auth, '--title', 't', '--description', 'd', '--flow-parallelism', '2']),
      cli(['tasks', 'submit', ...auth, '--title', 't', '--description', 'd', '--flow-key', 'k', '--flow-parallelism', '-1']),
    ]);
    expect(cliJson<TaskJson>(task).flow_control).toEqual({ key: 'acme', parallelism: 2, rate: 5, period_seconds: 1 });
    expect(cliJson<ScheduleJson>(schedule).task).toMatchObject({ flow_control: { key: 'nightly' } });
    expect(orphan.code).not.toBe(EXIT.ok);
    expect(orphan.stderr).toContain('--flow-parallelism, --flow-rate and --flow-period need --flow-key');
    expect(bad.code).not.toBe(EXIT.ok);
    expect(bad.stderr).toContain('flow_control.parallelism');
  });
});
