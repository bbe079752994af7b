import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../local/database.ts';
import { tempDir, waitFor } from './helpers.ts';
import { killAll, startServe, type ServiceProcess } from './processes.ts';
import { sqldAvailable, startSqld, type Sqld } from './sqld.ts';

/**
 * Flow control across processes (docs/flow-control.md): three real `task-pool serve` processes
 * share one database, a libSQL file and then a real sqld, and claim concurrently.
 * - parallelism 2 on one key: the handlers' own start and end times (the `timed` fixture
 *   appends them to a file) never show more than 2 running at once;
 * - rate 5 per second: no 1-second window holds more than 5 starts (the claims' started_at,
 *   which the limit is defined on: a handler starts a few ms after its claim, by varying delays);
 * - turns: key A with 10,000 pending and key B with 10, same priority: each of B's tasks is in
 *   one of the first two claim batches of the process that claimed it (a batch: one claim
 *   statement, so one locked_by and one started_at). TASK_QUEUE_SIZE 50 keeps batches at
 *   TASK_POLL_BATCH_SIZE (10): a claim is never larger than the pool's free capacity, and
 *   smaller batches take B in proportion (one in two), so in more of them.
 * Each storage starts three processes of one worker for the first, and three of five workers for
 * the other two (separate keys and types).
 */

const sqldOk = await sqldAvailable();

interface Storage {
  name: string;
  env(): Promise<Record<string, string>>;
  stop?(): Promise<void>;
}

let sqld: Sqld | undefined;
// Made in beforeAll, where tempDir() (removed after a test) cannot be used.
let fileDir: string | undefined;
const storages: Storage[] = [
  {
    name: 'a libSQL file',
    env: async () => ({ DATABASE_DSN: join((fileDir = mkdtempSync(join(tmpdir(), 'task-pool-flow-'))), 'tasks.db') }),
    stop: async () => rmSync(fileDir!, { recursive: true, force: true }),
  },
  ...(sqldOk
    ? [{
        name: 'sqld',
        env: async () => {
          sqld = await startSqld();
          await migrateDatabase({ url: sqld.url });
          return { DATABASE_URL: sqld.url };
        },
        stop: async () => sqld?.stop(),
      }]
    : []),
];

async function call<T>(url: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

async function submit(url: string, tasks: unknown[]): Promise<void> {
  for (let i = 0; i < tasks.length; i += 1000) await call(url, 'POST', '/tasks/batch', { tasks: tasks.slice(i, i + 1000) });
}

interface Row { id: string; status: string; started_at: string | null; locked_by: string | null; flow_control: { key: string } | null }

async function tasksOfType(url: string, type: string): Promise<Row[]> {
  const all: Row[] = [];
  let cursor: string | null = null;
  do {
    const page: { tasks: Row[]; next_cursor: string | null } = await call(url, 'GET', `/tasks?type=${type}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    all.push(...page.tasks);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

/**
 * Three `serve` processes on the storage for the tests of one describe block, started in its
 * beforeAll and killed (with the storage) in its afterAll: their urls.
 */
function threeProcesses(storage: Storage, processEnv: Record<string, string>): { urls: string[]; scratch: string } {
  const services: ServiceProcess[] = [];
  const urls: string[] = [];
  // For files the handlers write: removed once the processes are dead, since tasks left over
  // from a test (key A's backlog in the turns test) go on running, and writing, after it.
  const scratch = mkdtempSync(join(tmpdir(), 'task-pool-flow-scratch-'));
  beforeAll(async () => {
    const env = await storage.env();
    // One after another: three tsx start-ups at once on a loaded 2-core machine took more
    // than the 20 s a start-up is given.
    for (let i = 0; i < 3; i++) {
      const service = await startServe({ ...env, ...processEnv, TASK_POLL_INTERVAL_SECONDS: '1' });
      services.push(service);
      urls.push(service.url);
    }
  }, 90_000);
  afterAll(async () => {
    killAll(services);
    await storage.stop?.();
    rmSync(scratch, { recursive: true, force: true, maxRetries: 5 });
  });
  return { urls, scratch };
}

for (const storage of storages) {
  describe.skipIf(storage.name === 'sqld' && !sqldOk)(`flow control, three serve processes of one worker each on ${storage.name}`, () => {
    // One worker and no queue each: together they could run 3 at once, so the limit of 2 is
    // what holds them, and no process can hold both of the key's slots. (With free workers, the
    // process whose tasks of the key end claims the next at once and keeps the key's slots to
    // itself; the others, looking every FLOW_RECHECK_MS, find it full: nothing would cross
    // processes.)
    const { urls } = threeProcesses(storage, { TASK_WORKERS: '1', TASK_QUEUE_SIZE: '0' });

    it('parallelism 2: 300 tasks of one key, never more than 2 running at once', async () => {
      const file = join(tempDir(), 'timed.log');
      writeFileSync(file, '');
      await submit(urls[0]!, Array.from({ length: 300 }, (_, i) => ({
        title: `p${i}`, description: 'parallelism', type: 'timed', payload: { file, ms: 5 }, flow_control: { key: 'A', parallelism: 2 },
      })));
      await waitFor(async () => (await tasksOfType(urls[1]!, 'timed')).every((t) => t.status === 'completed'), 90_000, '300 tasks completed');
      const events = readFileSync(file, 'utf8').trim().split('\n').map((line) => {
        const [what, , pid, , , at] = line.split(' ');
        return { what: what as 'start' | 'end', pid: Number(pid), at: Number(at) };
      });
      expect(events.filter((e) => e.what === 'start')).toHaveLength(300);
      // Most running at once, by the handlers' own clocks: an end at the same ms as a start counts first.
      events.sort((a, b) => a.at - b.at || (a.what === 'end' ? -1 : 1));
      let running = 0;
      let most = 0;
      for (const e of events) most = Math.max(most, (running += e.what === 'start' ? 1 : -1));
      expect(most).toBe(2);
      // More than one process took part.
      expect(new Set(events.map((e) => e.pid)).size).toBeGreaterThan(1);
    }, 120_000);
  });

  describe.skipIf(storage.name === 'sqld' && !sqldOk)(`flow control, three serve processes on ${storage.name}`, () => {
    const { urls, scratch } = threeProcesses(storage, { TASK_WORKERS: '5', TASK_POLL_BATCH_SIZE: '10', TASK_QUEUE_SIZE: '50' });

    it('rate 5 per second: no 1-second window with more than 5 starts', async () => {
      await submit(urls[1]!, Array.from({ length: 20 }, (_, i) => ({
        title: `r${i}`, description: 'rate', type: 'noop', flow_control: { key: 'R', rate: 5, period_seconds: 1 },
      })));
      const done = await waitFor(async () => {
        const rows = await tasksOfType(urls[2]!, 'noop');
        return rows.length === 20 && rows.every((t) => t.status === 'completed') ? rows : null;
      }, 60_000, '20 rate-limited tasks completed');
      const starts = done.map((t) => Date.parse(t.started_at!)).sort((a, b) => a - b);
      for (let i = 0; i < starts.length; i++) {
        const inWindow = starts.filter((s) => s >= starts[i]! && s < starts[i]! + 1000).length;
        expect(inWindow, `starts in [${starts[i]}, +1 s)`).toBeLessThanOrEqual(5);
      }
      // 20 starts at 5 a second take more than 3 seconds.
      expect(starts.at(-1)! - starts[0]!).toBeGreaterThanOrEqual(3000);
    }, 90_000);

    it('turns: key B\'s 10 tasks start within the first two batches, beside key A\'s 10,000', async () => {
      // Paused while submitting, so both keys are pending when the claims begin.
      await call(urls[0]!, 'POST', '/types/record/pause');
      const file = join(scratch, 'record.log');
      await submit(urls[0]!, Array.from({ length: 10_000 }, (_, i) => ({ title: `a${i}`, description: 'A', type: 'record', payload: { file }, flow_control: { key: 'fair-A' } })));
      await submit(urls[0]!, Array.from({ length: 10 }, (_, i) => ({ title: `b${i}`, description: 'B', type: 'record', payload: { file }, flow_control: { key: 'fair-B' } })));
      await call(urls[0]!, 'POST', '/types/record/resume');
      const rows = await waitFor(async () => {
        const all = await tasksOfType(urls[1]!, 'record');
        return all.filter((t) => t.flow_control!.key === 'fair-B').every((t) => t.started_at !== null) ? all : null;
      }, 60_000, 'key B started');
      // Each process's claim batches in order (one claim statement: one locked_by, one started_at).
      const batches = new Map<string, number[]>();
      for (const row of rows) {
        if (row.started_at === null) continue;
        const at = Date.parse(row.started_at);
        const list = batches.get(row.locked_by!) ?? [];
        if (!list.includes(at)) list.push(at);
        batches.set(row.locked_by!, list);
      }
      for (const list of batches.values()) list.sort((a, b) => a - b);
      for (const b of rows.filter((t) => t.flow_control!.key === 'fair-B')) {
        const index = batches.get(b.locked_by!)!.indexOf(Date.parse(b.started_at!));
        const shape = batches.get(b.locked_by!)!.slice(0, 4).map((at) => rows.filter((r) => r.locked_by === b.locked_by && r.started_at !== null && Date.parse(r.started_at) === at).map((r) => r.flow_control!.key.slice(-1)).join(''));
        expect(index, `task ${b.id}: batch ${index + 1} of ${b.locked_by}: ${shape.join(' | ')}`).toBeLessThan(2);
      }
    }, 120_000);
  });
}
