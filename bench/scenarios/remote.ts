import { createClient } from '@libsql/client';
import { join } from 'node:path';
import { migrateDatabase } from '../../local/database.ts';
import { transportUrl } from '../../local/remote-transport.ts';
import { benchConfig, noopProbe, NOOP_TYPE, processBacklog, startRuntime, tempDir, tinyPayload, type ScenarioOptions } from '../harness.ts';
import { startSqldProcess } from '../../test/support/sqld-process.ts';
import { perSecond } from '../stats.ts';

/**
 * Remote libSQL: a real sqld on this machine, reached through @libsql/client over the
 * product's default transport for it, a WebSocket (local/remote-transport.ts; the `transport`
 * scenario compares it with HTTP). Measured: the raw client ceiling (single-row
 * inserts, 100-row batches), then the product: N tasks submitted through TaskService.submit
 * by 50 concurrent callers (group commit), then processed by the pool (10 workers, no-op
 * handler): first handler start → N-th completion.
 */
export interface RemoteResult {
  tasks: number;
  raw_single_insert_per_s: number;
  raw_batch100_insert_per_s: number;
  enqueue_concurrent_per_s: number;
  process_per_s: number;
}

const INSERT = `INSERT INTO tasks (id, title, description, status, version, type, payload, priority, run_at,
  attempts, max_attempts, created_at, updated_at) VALUES (?, 'bench', 'ceiling', 'pending', 1, 'noop', '{"i":1}', 0, ?, 0, 3, ?, ?)`;

export async function remote(options: ScenarioOptions): Promise<RemoteResult> {
  const n = options.quick ? 500 : 5000;
  const { dir, remove } = tempDir();
  const sqld = await startSqldProcess({ dbPath: join(dir, 'sqld') });
  try {
    // The raw ceiling writes to its own table (sqld serves one database), same columns.
    const client = createClient({ url: transportUrl(sqld.url, 'ws') });
    await client.execute(`CREATE TABLE raw (id TEXT PRIMARY KEY, title TEXT, description TEXT, status TEXT, version INT, type TEXT,
      payload TEXT, priority INT, run_at INT, attempts INT, max_attempts INT, created_at INT, updated_at INT)`);
    const raw = INSERT.replace('INSERT INTO tasks', 'INSERT INTO raw');
    const singles = options.quick ? 100 : 500;
    let t0 = performance.now();
    for (let i = 0; i < singles; i++) await client.execute({ sql: raw, args: [`s${i}`, i, i, i] });
    const single = perSecond(singles, performance.now() - t0);
    const batches = options.quick ? 5 : 30;
    t0 = performance.now();
    for (let b = 0; b < batches; b++) {
      await client.batch(Array.from({ length: 100 }, (_, i) => ({ sql: raw, args: [`b${b}-${i}`, i, i, i] })), 'write');
    }
    const batch100 = perSecond(batches * 100, performance.now() - t0);
    client.close();

    await migrateDatabase({ url: sqld.url });
    const config = benchConfig(sqld.url, options.env);
    const api = await startRuntime(config, noopProbe(), false);
    let next = 0;
    t0 = performance.now();
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < n) {
          const i = next++;
          await api.service.submit({ title: 'bench', description: 'remote', type: NOOP_TYPE, payload: tinyPayload(i) });
        }
      }),
    );
    const enqueue = perSecond(n, performance.now() - t0);
    await api.shutdown();

    const rate = await processBacklog(config, n);
    return { tasks: n, raw_single_insert_per_s: single, raw_batch100_insert_per_s: batch100, enqueue_concurrent_per_s: enqueue, process_per_s: rate };
  } finally {
    await sqld.stop();
    remove();
  }
}
