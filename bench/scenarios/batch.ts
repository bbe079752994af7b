import Database from 'libsql';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { idFloor } from '../../lib/tasks/ids.ts';
import { NEXT_ID } from '../../lib/tasks/inserts.ts';
import { migrateDatabase } from '../../local/database.ts';
import { listen } from '../../local/server.ts';
import { benchConfig, noopProbe, NOOP_TYPE, startRuntime, tempDir, tinyPayload, type ScenarioOptions } from '../harness.ts';
import type { BatchLoadResult } from '../load-batch.ts';
import { perSecond } from '../stats.ts';

const run = promisify(execFile);
const LOAD = fileURLToPath(new URL('../load-batch.ts', import.meta.url));

/**
 * Batch submit (issue 13), three figures from one run:
 * 1. raw: the `libsql` package directly, 1,000-row transactions of the product's full insert
 *    (every column, UUIDv7-shaped ids) into the real, migrated table: the ceiling;
 * 2. in process: `TaskService.submitMany` with 1,000-task batches, each awaited, in an
 *    API-only runtime (the product path: tasks built, one transaction, group commit), batch
 *    for batch interleaved with (1) in the same process;
 * 3. HTTP: `POST /tasks/batch` with 1,000 tasks a request over 10 keep-alive connections
 *    (bench/load-batch.ts, its own process) to a real node server; afterwards the table holds
 *    exactly the tasks answered 202.
 * Targets: in process ≥ 0.8× raw; HTTP ≥ 0.5× in process.
 */
export interface BatchResult {
  raw_tx1000_per_s: number;
  in_process_per_s: number;
  in_process_ratio: number;
  http: BatchLoadResult;
  http_ratio: number;
  http_stored: number;
  http_missing: number;
}

const COLUMNS = 'id, title, description, status, version, type, payload, priority, run_at, attempts, max_attempts, lease_expires_at, locked_by, last_error, result, idempotency_key, request_hash, created_at, started_at, completed_at, updated_at';
const RAW_INSERT = `INSERT INTO tasks (${COLUMNS}) VALUES (${NEXT_ID}, ?, ?, 'pending', 1, ?, ?, 0, ?, 0, 3, NULL, NULL, NULL, NULL, NULL, NULL, ?, NULL, NULL, ?)`;

export async function batch(options: ScenarioOptions): Promise<BatchResult> {
  const batches = options.quick ? 3 : 30;
  const size = 1000;
  const { dir, remove } = tempDir();
  try {
    // 1. raw ceiling
    const rawPath = join(dir, 'raw.db');
    await migrateDatabase({ url: `file:${rawPath}` });
    const db = new Database(rawPath, { timeout: 5000 });
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    const insert = db.prepare(RAW_INSERT);
    // The id is assigned by the insert as the product's is (NEXT_ID), bound with the time floor.
    const id = () => idFloor(Date.now());
    const tx = db.transaction(() => {
      for (let i = 0; i < size; i++) {
        const now = Date.now();
        insert.run(id(), 'bench', 'batch', NOOP_TYPE, JSON.stringify(tinyPayload(i)), now, now, now);
      }
    });
    const config = benchConfig(`file:${join(dir, 'tasks.db')}`, options.env);
    const api = await startRuntime(config, noopProbe(), false);
    const items = () => Array.from({ length: size }, (_, i) => ({ input: { title: 'bench', description: 'batch', type: NOOP_TYPE, payload: tinyPayload(i) } }));
    tx(); // warm-up
    await api.service.submitMany(items());
    // Interleaved batch by batch, so load from elsewhere on the machine falls on both alike.
    let rawMs = 0;
    let productMs = 0;
    for (let b = 0; b < batches; b++) {
      let t0 = performance.now();
      tx();
      rawMs += performance.now() - t0;
      t0 = performance.now();
      await api.service.submitMany(items());
      productMs += performance.now() - t0;
    }
    const raw = perSecond(batches * size, rawMs);
    const inProcess = perSecond(batches * size, productMs);
    db.close();
    await api.shutdown();

    // 3. HTTP, a fresh database
    const httpConfig = benchConfig(`file:${join(dir, 'http.db')}`, { APP_PORT: '0', ...options.env });
    const server = await startRuntime(httpConfig, noopProbe(), false);
    const { server: http, url } = await listen(server);
    const seconds = options.quick ? 2 : 10;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', LOAD, url, String(seconds), '10', options.quick ? '0.5' : '1', String(size)], { maxBuffer: 2 ** 20 });
    const load = JSON.parse(stdout.trim().split('\n').pop()!) as BatchLoadResult;
    http.close();
    const stored = Number((await server.driver.all('SELECT count(*) AS n FROM tasks'))[0]!.n);
    await server.shutdown();

    return {
      raw_tx1000_per_s: raw,
      in_process_per_s: inProcess,
      in_process_ratio: inProcess / raw,
      http: load,
      http_ratio: load.tasks_per_s / inProcess,
      http_stored: stored,
      http_missing: load.accepted_total - stored,
    };
  } finally {
    remove();
  }
}
