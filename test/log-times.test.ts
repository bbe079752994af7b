import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from './helpers.ts';
import { killAll, postTask, startServe, type ServiceProcess } from './processes.ts';

/**
 * Every time in a log line is an ISO-8601 string, like `time` itself and the API's JSON: an
 * epoch-milliseconds number (`run_at: 1796612333938`) is unreadable next to them and sorts
 * differently in a log search. Checked on the stdout of a real `serve` at debug level through
 * the paths that log times: submits, a delayed task, a retry with backoff, a schedule.
 */

const services: ServiceProcess[] = [];
afterEach(() => killAll(services.splice(0)));

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** Keys whose value is a point in time. */
const TIME_KEY = /(^time$|_at$|^occurrence$)/;
/** Epoch milliseconds from 2001-09-09 to 2286-11-20: thirteen digits. */
const isEpochMs = (value: unknown) => typeof value === 'number' && Number.isInteger(value) && value >= 1e12 && value < 1e13;

/** `msg: path=value` for every epoch-ms number anywhere, and every time-like key that is not ISO. */
function timeProblems(record: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const visit = (value: unknown, path: string, key: string) => {
    if (isEpochMs(value)) problems.push(`${String(record.msg)}: ${path}=${String(value)} is epoch milliseconds`);
    else if (TIME_KEY.test(key) && value !== null && !(typeof value === 'string' && ISO.test(value))) {
      problems.push(`${String(record.msg)}: ${path}=${JSON.stringify(value)} is not an ISO time`);
    }
    if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) visit(v, `${path}.${k}`, k);
  };
  for (const [key, value] of Object.entries(record)) visit(value, key, key);
  return problems;
}

describe('times in log lines', () => {
  it('are ISO strings: submit, delayed task, retry with backoff, schedule fired and triggered, shutdown', async () => {
    const db = join(tempDir(), 'tasks.db');
    const service = await startServe({ DATABASE_DSN: db, LOG_LEVEL: 'debug', TASK_BACKOFF_BASE_MS: '100', TASK_BACKOFF_MAX_MS: '200' });
    services.push(service);
    const { url } = service;
    const json = { 'content-type': 'application/json' };

    const done = await postTask(url, { title: 'now', description: 'd', type: 'noop' });
    const delayed = await postTask(url, { title: 'later', description: 'd', type: 'noop', delay_seconds: 0.5 });
    const failing = await postTask(url, { title: 'fails', description: 'd', type: 'fail', max_attempts: 2 });
    const put = await fetch(`${url}/schedules/every-second`, {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({ cron: '* * * * * *', task: { title: 'tick', description: 'd', type: 'noop' } }),
    });
    expect(put.status).toBe(201);
    expect((await fetch(`${url}/schedules/every-second/trigger`, { method: 'POST' })).status).toBe(202);

    const logged = (msg: string, taskId?: string) => service.waitForLog((r) => r.msg === msg && (taskId === undefined || r.task_id === taskId));
    const [retried] = await Promise.all([
      logged('task will be retried', failing.id),
      logged('task failed', failing.id),
      logged('task completed', done.id),
      logged('task completed', delayed.id),
      logged('schedule fired'),
    ]);
    // The retry's time is the backoff's: after now, within the 200 ms cap (and some slack).
    const runAt = Date.parse(String(retried.run_at));
    expect(runAt).toBeGreaterThan(Date.parse(String(retried.time)));
    expect(runAt - Date.parse(String(retried.time))).toBeLessThan(2000);
    expect((await fetch(`${url}/schedules/every-second/pause`, { method: 'POST' })).status).toBe(200);
    expect((await fetch(`${url}/schedules/every-second`, { method: 'DELETE' })).status).toBe(204);

    service.proc.kill('SIGTERM');
    expect(await service.exited).toBe(0);
    await waitFor(() => service.lines.some((l) => l.includes('"shutdown complete"')), 5000, 'the last line');

    const records = service.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const fired = records.find((r) => r.msg === 'schedule fired')!;
    expect(fired.occurrence).toMatch(ISO);
    expect(fired.next_run_at).toMatch(ISO);
    expect(records.flatMap(timeProblems)).toEqual([]);
  });
});
