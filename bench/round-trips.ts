import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

/**
 * Issue 24 (items 2 and 4): processing against its raw claim + complete ceiling, on a file and
 * on sqld over `http://` and `ws://`, for this tree and a baseline tree (a worktree of main),
 * in one run. Every figure is its own child process (a fresh database, a fresh sqld), and the
 * trials go round-robin over all of them, so load from elsewhere lands on every arm alike.
 *
 *   node --import tsx bench/round-trips.ts --baseline /path/to/main-worktree [--trials 5] [--tasks 20000]
 *
 * Arms, each N tasks (seeded with TaskService.submitMany, not timed):
 * - raw (this tree's schema, the `libsql` package on a file, `@libsql/client` on sqld): claim
 *   100 due tasks (`UPDATE … WHERE id IN (SELECT … LIMIT 100) RETURNING id, version`, through
 *   the claim index), then complete those 100 in one transaction, until none is left; the
 *   completion either one version-checked UPDATE per task (`rows`) or one statement for the
 *   100 (`json`, the statement lib/tasks/completions.ts writes); and `json, every column`:
 *   the same, the claim returning every column the product's claim reads;
 * - product (each tree's bench harness): a processing runtime, 10 workers, no-op handler,
 *   TASK_QUEUE_SIZE=100, TASK_POLL_BATCH_SIZE=100 (bench/harness.ts): first handler start →
 *   N-th completion committed.
 * Each arm also reports the CPU time of its process per task (seeding excluded): on a busy
 * machine the CPU ratio says more than the rate ratio, which other processes' load bends.
 */

type Storage = 'file' | 'http' | 'ws';
const STORAGES: Storage[] = ['file', 'http', 'ws'];

interface ChildResult {
  per_s: number;
  cpu_us_per_task?: number;
}

const run = promisify(execFile);

const claimSql = (returning: string) => `UPDATE tasks SET status = 'in_progress', version = version + 1, locked_by = ?, lease_expires_at = ?, started_at = ?,
    attempts = attempts + 1, updated_at = ?
  WHERE id IN (SELECT id FROM tasks INDEXED BY tasks_claim_pending WHERE status = 'pending' AND flow_key IS NULL AND run_at <= ? ORDER BY priority DESC, run_at, id LIMIT 100)
  RETURNING ${returning}`;
const COMPLETE_ROW = `UPDATE tasks SET status = 'completed', version = version + 1, updated_at = ?, completed_at = ?, result = 'null',
  lease_expires_at = NULL, last_error = NULL WHERE id = ? AND version = ?`;
const COMPLETE_JSON = `UPDATE tasks SET status = 'completed', version = version + 1, updated_at = c.value ->> 3, completed_at = c.value ->> 3,
  result = c.value ->> 2, lease_expires_at = NULL, last_error = NULL FROM json_each(?) AS c
  WHERE tasks.id = c.value ->> 0 AND tasks.version = c.value ->> 1 RETURNING tasks.id`;

async function child(kind: string, storage: Storage, root: string, tasks: number): Promise<ChildResult> {
  const from = (path: string) => import(pathToFileURL(join(root, path)).href);
  const harness = await from('bench/harness.ts');
  const { migrateDatabase } = await from('local/database.ts');
  const { dir, remove } = harness.tempDir();
  let sqld: { url: string; stop(): Promise<void> } | undefined;
  try {
    let url = `file:${join(dir, 'tasks.db')}`;
    if (storage !== 'file') {
      const { startSqldProcess } = await from('test/support/sqld-process.ts');
      sqld = await startSqldProcess({ dbPath: join(dir, 'sqld') });
      url = storage === 'ws' ? sqld!.url.replace(/^http:/, 'ws:') : sqld!.url;
    }
    await migrateDatabase({ url });
    const config = harness.benchConfig(url);
    // Seed (not timed): the product's batch submit, the same rows for every arm.
    const api = await harness.startRuntime(config, harness.noopProbe(), false);
    for (let i = 0; i < tasks; i += 1000) {
      const items = Array.from({ length: Math.min(1000, tasks - i) }, (_, j) => ({ input: { title: 'bench', description: 'round trips', type: harness.NOOP_TYPE, payload: { i: i + j } } }));
      await api.service.submitMany(items);
    }
    await api.shutdown();

    if (kind === 'product') {
      const cpu = process.cpuUsage();
      const rate = await harness.processBacklog(config, tasks);
      const used = process.cpuUsage(cpu);
      return { per_s: rate, cpu_us_per_task: Math.round(((used.user + used.system) / tasks) * 10) / 10 };
    }
    const json = kind !== 'raw-rows';
    // raw-full: the claim returns every column the product's claim reads (the same select
    // list), so the difference to the product is the JavaScript around the statements.
    const { COLUMNS_READ } = await from('lib/tasks/repository.ts');
    const returning = kind === 'raw-full' ? `id, version, ${COLUMNS_READ as string}` : 'id, version';
    const cpu = process.cpuUsage();
    const per_s = storage === 'file' ? await rawFile(url.slice('file:'.length), tasks, json, returning) : await rawClient(url, tasks, json, returning);
    const used = process.cpuUsage(cpu);
    return { per_s, cpu_us_per_task: Math.round(((used.user + used.system) / tasks) * 10) / 10 };
  } finally {
    await sqld?.stop();
    remove();
  }
}

async function rawFile(path: string, tasks: number, json: boolean, returning: string): Promise<number> {
  const { default: Database } = await import('libsql');
  const db = new Database(path);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  const claim = db.prepare(claimSql(returning)).raw(true);
  const completeRow = db.prepare(COMPLETE_ROW);
  const completeJson = db.prepare(COMPLETE_JSON);
  const completeAll = db.transaction((rows: number[][]) => {
    const now = Date.now();
    if (json) completeJson.all(JSON.stringify(rows.map((r) => [r[0], r[1], 'null', now])));
    else for (const row of rows) completeRow.run(now, now, row[0], row[1]);
  });
  let done = 0;
  const t0 = performance.now();
  for (;;) {
    const now = Date.now();
    const rows = claim.all('raw', now + 30_000, now, now, now) as unknown as number[][];
    if (rows.length === 0) break;
    completeAll(rows);
    done += rows.length;
  }
  const ms = performance.now() - t0;
  db.close();
  if (done !== tasks) throw new Error(`raw: ${done} of ${tasks}`);
  return (done / ms) * 1000;
}

async function rawClient(url: string, tasks: number, json: boolean, returning: string): Promise<number> {
  const { createClient } = await import('@libsql/client');
  const client = createClient({ url });
  let done = 0;
  const t0 = performance.now();
  for (;;) {
    const now = Date.now();
    const claimed = await client.execute({ sql: claimSql(returning), args: ['raw', now + 30_000, now, now, now] });
    if (claimed.rows.length === 0) break;
    const rows = claimed.rows.map((r) => [Number(r[0]), Number(r[1])] as const);
    const at = Date.now();
    if (json) await client.batch([{ sql: COMPLETE_JSON, args: [JSON.stringify(rows.map(([id, version]) => [id, version, 'null', at]))] }], 'write');
    else await client.batch(rows.map(([id, version]) => ({ sql: COMPLETE_ROW, args: [at, at, id, version] })), 'write');
    done += rows.length;
  }
  const ms = performance.now() - t0;
  client.close();
  if (done !== tasks) throw new Error(`raw: ${done} of ${tasks}`);
  return (done / ms) * 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const tasks = Number(flag('tasks') ?? 20_000);
  const childKind = flag('child');
  if (childKind) {
    const result = await child(childKind, flag('storage') as Storage, resolve(flag('root')!), tasks);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  }
  const here = resolve(import.meta.dirname, '..');
  const baseline = flag('baseline');
  const trials = Number(flag('trials') ?? 5);
  const only = (flag('storages')?.split(',') as Storage[] | undefined) ?? STORAGES;
  const arms: { name: string; kind: string; root: string }[] = [
    { name: 'raw rows', kind: 'raw-rows', root: here },
    { name: 'raw json', kind: 'raw-json', root: here },
    { name: 'raw json, every column', kind: 'raw-full', root: here },
    ...(baseline ? [{ name: 'baseline', kind: 'product', root: resolve(baseline) }] : []),
    { name: 'this tree', kind: 'product', root: here },
  ];
  const results = new Map<string, ChildResult[]>();
  const load = [loadavg()[0]!];
  for (let trial = 0; trial < trials; trial++) {
    for (const storage of only) {
      // Rotate the order of the arms trial by trial.
      for (let k = 0; k < arms.length; k++) {
        const arm = arms[(k + trial) % arms.length]!;
        const { stdout } = await run(process.execPath, ['--import', 'tsx', join(here, 'bench/round-trips.ts'), '--child', arm.kind, '--storage', storage, '--root', arm.root, '--tasks', String(tasks)], {
          cwd: arm.root,
          maxBuffer: 1 << 24,
        });
        const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildResult;
        const key = `${storage} | ${arm.name}`;
        (results.get(key) ?? results.set(key, []).get(key)!).push(result);
        process.stderr.write(`trial ${trial + 1} ${key}: ${Math.round(result.per_s)}/s${result.cpu_us_per_task ? `, ${result.cpu_us_per_task} µs CPU/task` : ''}\n`);
      }
    }
    load.push(loadavg()[0]!);
  }
  console.log(`\n${tasks} tasks, ${trials} interleaved trials, 1-min load ${load.map((l) => l.toFixed(1)).join(' → ')}\n`);
  console.log('| storage | arm | median tasks/s | range | × raw rows | × raw json | × raw json, every column | CPU µs/task (median) |');
  console.log('|---|---|---|---|---|---|---|---|');
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  for (const storage of only) {
    const ceiling = (name: string) => median(results.get(`${storage} | ${name}`)!.map((r) => r.per_s));
    const [rows, json, full] = [ceiling('raw rows'), ceiling('raw json'), ceiling('raw json, every column')];
    for (const arm of arms) {
      const all = results.get(`${storage} | ${arm.name}`)!;
      const rates = all.map((r) => r.per_s);
      const m = median(rates);
      const cpu = median(all.map((r) => r.cpu_us_per_task!)).toFixed(1);
      console.log(`| ${storage} | ${arm.name} | ${fmt(m)} | ${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))} | ${(m / rows).toFixed(2)} | ${(m / json).toFixed(2)} | ${(m / full).toFixed(2)} | ${cpu} |`);
    }
  }
}

await main();
