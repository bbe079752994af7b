import Database from 'libsql';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { migrateDatabase } from '../../local/database.ts';
import { benchConfig, completions, countByStatus, noopProbe, NOOP_TYPE, startRuntime, tempDir, tinyPayload, type ScenarioOptions } from '../harness.ts';
import { perSecond } from '../stats.ts';
import { seed } from './scale.ts';

/**
 * Retention (issue 13), two measurements:
 * 1. Processing with retention deleting alongside vs without: two files seeded alike (200,000
 *    completed tasks finished 30 days ago, then 20,000 due no-op tasks); one runtime keeps
 *    history (TASK_RETENTION_COMPLETED=0), the other deletes it (7d) on its poll interval
 *    (0.5 s here, so sweeps land inside the measured window: 10% of each interval at most).
 *    Rate: first handler start → 20,000th completion. Target: with ≥ 0.9× without.
 * 2. The file under steady load: a processing runtime with TASK_RETENTION_COMPLETED=3s takes
 *    2,000 tasks/s (batches of 100 every 50 ms) for 40 s; every 2 s the main file's size, the
 *    WAL's, and page_count/freelist_count. Freed pages are reused, so the file stops growing
 *    once deletion keeps pace (after about the retention age plus a sweep).
 */
export interface RetentionResult {
  process_per_s_without: number;
  process_per_s_with: number;
  ratio: number;
  deleted_during: number;
  /** History kept, and the retention index dropped: what the index costs processing. */
  process_per_s_without_index: number;
  steady: { t_s: number; db_bytes: number; wal_bytes: number; page_bytes: number; free_bytes: number; rows: number }[];
  steady_submitted: number;
  steady_growth_second_half_bytes: number;
}

async function processRate(path: string, env: Record<string, string>, n: number): Promise<{ rate: number; deleted: number }> {
  const probe = noopProbe();
  const runtime = await startRuntime(benchConfig(`file:${path}`, env), probe);
  runtime.start();
  const end = await completions(runtime, n);
  const rate = perSecond(n, end - probe.firstStart);
  const deleted = runtime.retention.deleted;
  const counts = await countByStatus(runtime);
  await runtime.shutdown();
  if ((counts.pending ?? 0) + (counts.in_progress ?? 0) !== 0) throw new Error(`unfinished tasks left: ${JSON.stringify(counts)}`);
  return { rate, deleted };
}

export async function retention(options: ScenarioOptions): Promise<RetentionResult> {
  const history = options.quick ? 20_000 : 200_000;
  const backlog = options.quick ? 2000 : 20_000;
  const { dir, remove } = tempDir();
  try {
    const without = join(dir, 'without.db');
    const withRetention = join(dir, 'with.db');
    const noIndex = join(dir, 'no-index.db');
    const old = Date.now() - 30 * 86_400_000;
    for (const path of [without, withRetention, noIndex]) {
      await migrateDatabase({ url: `file:${path}` });
      seed(path, 'completed', history, old, 0);
      seed(path, 'pending', backlog, Date.now() - 60_000, history);
    }
    // What the retention index costs processing (each completion enters it): the same, without it.
    const db = new Database(noIndex);
    db.exec('DROP INDEX tasks_finished');
    db.close();

    const env = { TASK_POLL_INTERVAL_SECONDS: '0.5', ...options.env };
    const a = await processRate(without, { ...env, TASK_RETENTION_COMPLETED: '0' }, backlog);
    const b = await processRate(withRetention, { ...env, TASK_RETENTION_COMPLETED: '7d' }, backlog);
    const c = await processRate(noIndex, { ...env, TASK_RETENTION_COMPLETED: '0' }, backlog);

    // 2. steady load
    const steadyPath = join(dir, 'steady.db');
    const runtime = await startRuntime(benchConfig(`file:${steadyPath}`, { ...env, TASK_RETENTION_COMPLETED: '3s' }), noopProbe());
    runtime.start();
    const seconds = options.quick ? 10 : 40;
    const started = performance.now();
    const steady: RetentionResult['steady'] = [];
    let submitted = 0;
    let nextSample = 0;
    while (performance.now() - started < seconds * 1000) {
      await runtime.service.submitMany(Array.from({ length: 100 }, (_, i) => ({ input: { title: 'steady', description: 'retention', type: NOOP_TYPE, payload: tinyPayload(i) } })));
      submitted += 100;
      const t = (performance.now() - started) / 1000;
      if (t >= nextSample) {
        const [size] = await runtime.driver.all('SELECT p.page_count * s.page_size AS bytes, f.freelist_count * s.page_size AS free FROM pragma_page_count() p, pragma_page_size() s, pragma_freelist_count() f');
        const rows = Number((await runtime.driver.all('SELECT count(*) AS n FROM tasks'))[0]!.n);
        steady.push({
          t_s: Math.round(t * 10) / 10,
          db_bytes: statSync(steadyPath).size,
          wal_bytes: existsSync(`${steadyPath}-wal`) ? statSync(`${steadyPath}-wal`).size : 0,
          page_bytes: Number(size!.bytes),
          free_bytes: Number(size!.free),
          rows,
        });
        nextSample += 2;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await runtime.shutdown();
    const half = steady.filter((s) => s.t_s >= seconds / 2);
    return {
      process_per_s_without: a.rate,
      process_per_s_with: b.rate,
      ratio: b.rate / a.rate,
      deleted_during: b.deleted,
      process_per_s_without_index: c.rate,
      steady,
      steady_submitted: submitted,
      steady_growth_second_half_bytes: half.length > 1 ? half[half.length - 1]!.page_bytes - half[0]!.page_bytes : 0,
    };
  } finally {
    remove();
  }
}
