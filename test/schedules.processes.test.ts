import { createClient } from '@libsql/client';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.ts';
import { killAll, startServe, type ServiceProcess } from './processes.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * Schedules across real `task-pool serve` processes: three on one libSQL file and three on
 * one sqld fire an every-second schedule for ~10 s, and each occurrence has exactly one task
 * (by idempotency key and by count), none missing; a process stopped across five or more
 * occurrences and restarted follows each missed policy.
 */

async function put(url: string, name: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${url}/schedules/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (response.status !== 201) throw new Error(`PUT answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>;
}

async function scheduleKeys(databaseUrl: string, name: string): Promise<string[]> {
  const client = createClient({ url: databaseUrl });
  try {
    const result = await client.execute({ sql: 'SELECT idempotency_key FROM tasks WHERE idempotency_key LIKE ? ORDER BY idempotency_key', args: [`schedule:${name}:%`] });
    return result.rows.map((r) => String(r.idempotency_key));
  } finally {
    client.close();
  }
}

const fired = (service: ServiceProcess, name: string) =>
  service.lines
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return {};
      }
    })
    .filter((r) => r.msg === 'schedule fired' && r.schedule === name);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function threeInstancesFireOnce(databaseUrl: string, services: ServiceProcess[]): Promise<void> {
  const instances = await Promise.all(
    [0, 1, 2].map(async () => {
      const service = await startServe({ DATABASE_URL: databaseUrl });
      services.push(service);
      return service;
    }),
  );
  const created = await put(instances[0]!.url, 'tick', { cron: '* * * * * *', missed: 'all', task: { title: 'tick', description: 'every second' } });
  const first = Date.parse(created.next_run_at as string);
  await sleep(10_000);
  // Delete through another instance: nothing fires after this returns.
  expect((await fetch(`${instances[2]!.url}/schedules/tick`, { method: 'DELETE' })).status).toBe(204);
  const keys = await scheduleKeys(databaseUrl, 'tick');
  await sleep(1500);
  expect(await scheduleKeys(databaseUrl, 'tick')).toEqual(keys);

  const occurrences = keys.map((k) => Date.parse(k.slice('schedule:tick:'.length)));
  expect(occurrences[0]).toBe(first);
  expect(occurrences.length).toBeGreaterThanOrEqual(9);
  expect(occurrences).toEqual(occurrences.map((_, i) => first + i * 1000)); // none missing, none twice
  // Each occurrence's task was inserted by exactly one process; the log lines say which.
  const perProcess = instances.map((s) => fired(s, 'tick').reduce((n, r) => n + Number(r.tasks), 0));
  expect(perProcess.reduce((a, b) => a + b, 0)).toBe(keys.length);
  const stats = (await (await fetch(`${instances[1]!.url}/stats`)).json()) as { schedules: unknown };
  expect(stats.schedules).toEqual({ total: 0, paused: 0 });

  for (const instance of instances) instance.proc.kill('SIGTERM');
  expect(await Promise.all(instances.map((i) => i.exited))).toEqual([0, 0, 0]);
}

describe('three serve processes, one every-second schedule', () => {
  const services: ServiceProcess[] = [];
  afterEach(() => killAll(services.splice(0)));

  it('on one libSQL file: one task per occurrence, none missing', async () => {
    await threeInstancesFireOnce(`file:${join(tempDir(), 'tasks.db')}`, services);
  });
});

const sqldUp = await sqldAvailable();

describe.skipIf(!sqldUp)('three serve processes on one sqld', () => {
  const sqld = useSqld();
  const services: ServiceProcess[] = [];
  afterEach(() => killAll(services.splice(0)));

  it('one task per occurrence, none missing', async () => {
    await threeInstancesFireOnce(sqld.url, services);
  });
});

describe('downtime: the process is stopped across five or more occurrences', () => {
  const services: ServiceProcess[] = [];
  afterEach(() => killAll(services.splice(0)));

  it('after a restart: skip 0, once 1, all one per missed occurrence; next_run_at in the future', async () => {
    const databaseUrl = `file:${join(tempDir(), 'tasks.db')}`;
    const env = { DATABASE_URL: databaseUrl };
    const before = await startServe(env);
    services.push(before);
    for (const missed of ['skip', 'once', 'all']) {
      await put(before.url, missed, { cron: '* * * * * *', missed, task: { title: missed, description: 'downtime' } });
    }
    for (const missed of ['skip', 'once', 'all']) await before.waitForLog((r) => r.msg === 'schedule fired' && r.schedule === missed);
    before.proc.kill('SIGTERM');
    expect(await before.exited).toBe(0);
    const keysBefore = Object.fromEntries(await Promise.all(['skip', 'once', 'all'].map(async (m) => [m, await scheduleKeys(databaseUrl, m)] as const)));
    await sleep(5500);

    const after = await startServe(env);
    services.push(after);
    for (const missed of ['skip', 'once', 'all']) {
      const record = await after.waitForLog((r) => r.msg === 'schedule fired' && r.schedule === missed);
      const lastBefore = Date.parse(keysBefore[missed]!.at(-1)!.slice(`schedule:${missed}:`.length));
      const next = Date.parse(record.next_run_at as string);
      const firedAt = Date.parse(record.time as string);
      // next_run_at is the first occurrence after the fire was planned; the log line comes after
      // the commit, so on a loaded machine it may be later than next_run_at, by less than a period.
      expect(next).toBeGreaterThan(firedAt - 1000);
      // Every occurrence after the last one before the stop and before next_run_at was missed.
      const missedCount = (next - lastBefore) / 1000 - 1;
      expect(missedCount).toBeGreaterThanOrEqual(5);
      const keys = await scheduleKeys(databaseUrl, missed);
      const catchUp = keys.slice(keysBefore[missed]!.length).filter((k) => Date.parse(k.slice(`schedule:${missed}:`.length)) < next);
      const expected = { skip: 0, once: 1, all: missedCount }[missed]!;
      expect({ missed, tasks: record.tasks, stored: catchUp.length }).toEqual({ missed, tasks: expected, stored: expected });
      if (missed === 'once') expect(Date.parse(catchUp[0]!.slice('schedule:once:'.length))).toBe(next - 1000);
    }
    after.proc.kill('SIGTERM');
    expect(await after.exited).toBe(0);
  });
});
