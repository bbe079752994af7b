import { createClient } from '@libsql/client';
import { writeFileSync, unlinkSync } from 'node:fs';
import { formatTaskId } from '../lib/tasks/ids.ts';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../local/database.ts';
import { waitFor } from './helpers.ts';
import { killAll, startServe, type ServiceProcess } from './processes.ts';
import { sqldAvailable } from './sqld.ts';
import { startRestartableSqld, type RestartableSqld } from './sqld-restartable.ts';
import { mountTmpfs, tmpfsAvailable, type Tmpfs } from './tmpfs.ts';

/**
 * A real `serve` process while its database goes away (sqld SIGKILLed, then started again on
 * the same port) or fills up (a real tmpfs): clients get 503 + Retry-After or 507, never a
 * 500; the log has one warning per outage and one recovery line; task-pool is not restarted.
 */
// A missing sqld skips its test with the reason (fails it in CI).
const sqldOk = await sqldAvailable();

interface Answer {
  status: number;
  code?: string;
  retryAfter: string | null;
  id?: string;
  at: number;
}

async function submit(url: string, payload: unknown = null): Promise<Answer> {
  const response = await fetch(`${url}/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'outage', description: 'outage', type: 'noop', payload }),
  });
  const body = (await response.json()) as { id?: string; code?: string };
  return { status: response.status, code: body.code, id: body.id, retryAfter: response.headers.get('retry-after'), at: Date.now() };
}

/** `clients` loops submitting back to back until `stop()`; every answer is kept. */
function submitStream(url: string, clients: number) {
  const answers: Answer[] = [];
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    while (running) answers.push(await submit(url));
  });
  return {
    answers,
    async stop() {
      running = false;
      await Promise.all(loops);
      return answers;
    },
  };
}

const logRecords = (service: ServiceProcess) =>
  service.lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the database goes away under a stream of submits', () => {
  const services: ServiceProcess[] = [];
  let sqld: RestartableSqld | undefined;
  afterEach(async () => {
    killAll(services.splice(0));
    await sqld?.remove();
  });

  // Over each transport to sqld (local/remote-transport.ts): a WebSocket reconnects on the next
  // statement after the server is back, HTTP opens a new connection per failed one.
  it.skipIf(!sqldOk).each(['ws', 'http'])('%s: sqld killed: only 202 or 503 + Retry-After, one warning; after restart 202 again, every 202 stored', async (transport) => {
    sqld = await startRestartableSqld();
    await migrateDatabase({ url: sqld.url });
    const service = await startServe({ DATABASE_URL: sqld.url, DATABASE_TRANSPORT: transport, TASK_WORKERS: '2' });
    services.push(service);

    const stream = submitStream(service.url, 4);
    const count = (status: number, after = 0) => stream.answers.filter((a) => a.status === status && a.at > after).length;
    await waitFor(() => count(202) >= 20, 20_000, '20 tasks accepted');
    await sqld.kill();
    const killedAt = Date.now();
    await sleep(1500);
    await waitFor(() => count(503, killedAt) >= 20, 20_000, '20 answers during the outage');
    await sqld.start();
    const restartedAt = Date.now();
    await waitFor(() => count(202, restartedAt) >= 20, 20_000, '20 tasks accepted after the restart');
    const answers = await stream.stop();

    const statuses = new Set(answers.map((a) => a.status));
    expect([...statuses].sort()).toEqual([202, 503]);
    const unavailable = answers.filter((a) => a.status === 503);
    expect(unavailable.every((a) => a.code === 'db_unavailable' && a.retryAfter === '2')).toBe(true);

    // Declared once statements have succeeded for a second with no new failure.
    await service.waitForLog((r) => r.msg === 'database recovered', 10_000);
    const records = logRecords(service);
    expect(records.filter((r) => r.msg === 'unhandled error')).toEqual([]);
    expect(records.filter((r) => String(r.msg).startsWith('database is unavailable'))).toHaveLength(1);
    expect(records.filter((r) => r.msg === 'database recovered')).toHaveLength(1);

    // Every task a client was told was accepted is in the database.
    const client = createClient({ url: sqld.url });
    const accepted = answers.filter((a) => a.status === 202).map((a) => a.id!);
    const stored = new Set((await client.execute('SELECT id FROM tasks')).rows.map((row) => formatTaskId(Number(row.id))));
    client.close();
    expect(accepted.filter((id) => !stored.has(id))).toEqual([]);

    service.proc.kill('SIGTERM');
    expect(await service.exited).toBe(0);
  }, 60_000);
});

describe('the disk fills up', () => {
  const services: ServiceProcess[] = [];
  let disk: Tmpfs | undefined;
  afterEach(() => {
    killAll(services.splice(0));
    disk?.unmount();
  });

  it('SQLITE_FULL: submits 507, reads still 200; once space is freed submits are 202 again', async () => {
    if (!(await tmpfsAvailable())) return;
    disk = mountTmpfs(2 * 1024 * 1024);
    const service = await startServe({ DATABASE_URL: `file:${join(disk.dir, 'tasks.db')}`, TASK_WORKERS: '1' });
    services.push(service);
    const first = await submit(service.url);
    expect(first.status).toBe(202);

    // What is left of the disk, minus a little, goes to a ballast file the test can delete.
    const ballast = join(disk.dir, 'ballast');
    const free = (await import('node:fs')).statfsSync(disk.dir);
    writeFileSync(ballast, Buffer.alloc(Math.max(0, free.bavail * free.bsize - 64 * 1024)));

    let full: Answer | undefined;
    const big = 'x'.repeat(30_000);
    for (let i = 0; i < 200 && !full; i++) {
      const answer = await submit(service.url, big);
      if (answer.status !== 202) full = answer;
    }
    expect(full).toMatchObject({ status: 507, code: 'storage_full' });
    expect((await submit(service.url, big)).status).toBe(507);

    expect((await fetch(`${service.url}/tasks/${first.id}`)).status).toBe(200);
    expect((await fetch(`${service.url}/tasks?limit=5`)).status).toBe(200);
    expect((await fetch(`${service.url}/stats`)).status).toBe(200);

    unlinkSync(ballast);
    expect((await submit(service.url, big)).status).toBe(202);

    // Small writes (the poller's) fit between the large ones that fail on a nearly full disk:
    // still one outage, declared over a second after the last failure.
    await service.waitForLog((r) => r.msg === 'database recovered', 10_000);
    const records = logRecords(service);
    expect(records.filter((r) => r.msg === 'unhandled error')).toEqual([]);
    expect(records.filter((r) => String(r.msg).startsWith('database is full'))).toHaveLength(1);
    expect(records.filter((r) => r.msg === 'database recovered')).toHaveLength(1);

    service.proc.kill('SIGTERM');
    expect(await service.exited).toBe(0);
  }, 60_000);
});
