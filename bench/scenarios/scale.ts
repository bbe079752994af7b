import Database from 'libsql';
import { join } from 'node:path';
import { ID_EPOCH_MS, IDS_PER_MS } from '../../lib/tasks/ids.ts';
import { migrateDatabase } from '../../local/database.ts';
import { benchConfig, completions, noopProbe, rssSampler, startRuntime, tempDir, type ScenarioOptions } from '../harness.ts';
import { perSecond } from '../stats.ts';

/**
 * Processing rate and peak RSS with rows already in the table. The table is filled in bulk
 * by one SQL statement (setup, not measured): `history` completed tasks and `backlog` due
 * pending ones, UUIDv7-shaped ids older than anything new. Then a runtime (10 workers, no-op
 * handler) processes `n` tasks of the backlog: first handler start → n-th completion.
 * Run once with history 0 and backlog n ("empty") and once with the big table.
 */
export interface ScaleResult {
  rows_before: number;
  history: number;
  backlog: number;
  processed: number;
  process_per_s: number;
  peak_rss_mb: number;
  seed_s: number;
}

const SEED = `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?)
INSERT INTO tasks (id, title, description, status, version, type, payload, priority, run_at, attempts,
  max_attempts, lease_expires_at, locked_by, result, created_at, started_at, completed_at, updated_at)
SELECT (? - ${ID_EPOCH_MS}) * ${IDS_PER_MS} + ? + i,
  'bench', 'seeded', ?, ?, 'noop', '{"i":1}', 0, ? + i, ?, 3, NULL, ?, ?, ? + i, ?, ?, ? + i
FROM seq`;

export function seed(path: string, status: 'completed' | 'pending', count: number, baseMs: number, idOffset: number): void {
  if (count === 0) return;
  const db = new Database(path, { timeout: 5000 });
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  const done = status === 'completed';
  db.prepare(SEED).run(
    count, baseMs, idOffset,
    status, done ? 3 : 1, baseMs, done ? 1 : 0, done ? 'seed:0' : null, done ? 'null' : null,
    baseMs, done ? baseMs : null, done ? baseMs : null, baseMs,
  );
  db.close();
}

export async function scale(options: ScenarioOptions, shape: { history: number; backlog: number; process: number }): Promise<ScaleResult> {
  const { dir, remove } = tempDir();
  try {
    const path = join(dir, 'tasks.db');
    await migrateDatabase({ url: `file:${path}` });
    const t0 = performance.now();
    const base = Date.now() - 86_400_000;
    seed(path, 'completed', shape.history, base, 0);
    seed(path, 'pending', shape.backlog, base + shape.history, shape.history);
    const seedS = (performance.now() - t0) / 1000;

    const probe = noopProbe();
    const runtime = await startRuntime(benchConfig(`file:${path}`, options.env), probe);
    const rss = rssSampler();
    runtime.start();
    const end = await completions(runtime, shape.process);
    const rate = perSecond(shape.process, end - probe.firstStart);
    const peak = rss.stop();
    await runtime.shutdown();
    return {
      rows_before: shape.history + shape.backlog,
      history: shape.history,
      backlog: shape.backlog,
      processed: shape.process,
      process_per_s: rate,
      peak_rss_mb: peak,
      seed_s: seedS,
    };
  } finally {
    remove();
  }
}
