import Database from 'libsql';
import { join } from 'node:path';
import { formatTaskId, ID_EPOCH_MS, IDS_PER_MS } from '../../lib/tasks/ids.ts';
import { migrateDatabase } from '../../local/database.ts';
import { listen } from '../../local/server.ts';
import { benchConfig, noopProbe, startRuntime, tempDir, type ScenarioOptions } from '../harness.ts';
import { percentile } from '../stats.ts';

/**
 * The dashboard's pages with 1,000,000 rows in the table (--quick: 50,000): each page is
 * requested one at a time over HTTP from the real node server (local/server.ts `listen`, an
 * API-only runtime with the dashboard, as `serve` has it), after a warm-up, and timed from
 * sending the request to the last byte of the HTML.
 *
 * The table (one SQL statement, setup, not timed): rows created evenly over the last 24 hours
 * (one every 86 ms: ~41,700 in the last hour), UUIDv7-shaped ids from their creation time;
 * 10% pending (due), 10% failed (five different errors), 80% completed, each finished 5–17 ms
 * after it started; eight types. So the overview's hour holds ~33,000 completions and ~4,200
 * failures, the pending count 100,000 (its cap) and the completed count stops at its cap.
 */
export interface DashboardResult {
  rows: number;
  seed_s: number;
  samples: number;
  /** p50 and p95 in ms per page. */
  pages: Record<string, { p50_ms: number; p95_ms: number; bytes: number }>;
}

const SEED = `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?)
INSERT INTO tasks (id, title, description, status, version, type, payload, priority, run_at, attempts, max_attempts,
  lease_expires_at, locked_by, last_error, result, created_at, started_at, completed_at, updated_at)
SELECT (c - ${ID_EPOCH_MS}) * ${IDS_PER_MS} + (i % ${IDS_PER_MS}), 'order ' || i, 'seeded', st, 2, 'type' || (i % 8), '{"i":1}', 0, c,
  CASE WHEN st = 'pending' THEN 0 ELSE 1 END, 3, NULL, CASE WHEN st = 'pending' THEN NULL ELSE 'bench:1' END,
  CASE WHEN st = 'failed' THEN 'error number ' || (i % 5) END, NULL, c,
  CASE WHEN st = 'pending' THEN NULL ELSE c + 5 END, CASE WHEN st = 'pending' THEN NULL ELSE c + 10 + (i % 13) END, c
FROM (SELECT i, ? + i * ? / ? AS c, CASE i % 10 WHEN 0 THEN 'pending' WHEN 1 THEN 'failed' ELSE 'completed' END AS st FROM seq)`;

export async function dashboardPages(options: ScenarioOptions): Promise<DashboardResult> {
  const rows = options.quick ? 50_000 : 1_000_000;
  const samples = options.quick ? 20 : 200;
  const { dir, remove } = tempDir();
  try {
    const path = join(dir, 'tasks.db');
    await migrateDatabase({ url: `file:${path}` });
    const t0 = performance.now();
    const db = new Database(path, { timeout: 5000 });
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    const span = 86_400_000;
    const start = Date.now() - span;
    db.prepare(SEED).run(rows, start, span, rows);
    const pendingId = formatTaskId((db.prepare("SELECT id FROM tasks WHERE status = 'pending' ORDER BY id DESC LIMIT 1 OFFSET 500").get() as { id: number }).id);
    db.close();
    const seedS = (performance.now() - t0) / 1000;

    // One client asks 205 times per page: the dashboard's own page limit (300 a minute) would
    // answer 429 from the second page on, as RATE_LIMIT_PER_MINUTE would for the API.
    const runtime = await startRuntime(benchConfig(`file:${path}`, { APP_PORT: '0', DASHBOARD_RATE_LIMIT_PER_MINUTE: '0', ...options.env }), noopProbe(), false);
    const { server, url } = await listen(runtime);
    const pages: Record<string, string> = {
      overview: '/ui',
      'tasks, status + type': '/ui/tasks?status=failed&type=type3',
      'tasks, status': '/ui/tasks?status=pending',
      'tasks, created range + type': `/ui/tasks?type=type5&from=${isoMinute(start + span / 2)}&to=${isoMinute(start + span / 2 + 3_600_000)}`,
      'tasks, title search (bounded scan)': '/ui/tasks?title=order%2099',
      'task detail (pending, due)': `/ui/tasks/${pendingId}`,
      failed: '/ui/failed',
      // Tasks per type and status: one sample of COUNT_CAP rows per status, and one seek per type.
      types: '/ui/types',
      // No workflow runs in this table: the runs list's range over the type index finds none.
      runs: '/ui/runs',
    };
    const result: DashboardResult['pages'] = {};
    for (const [name, pagePath] of Object.entries(pages)) {
      const times: number[] = [];
      let bytes = 0;
      for (let i = 0; i < samples + 5; i++) {
        const begin = performance.now();
        const response = await fetch(`${url}${pagePath}`);
        const body = await response.text();
        const ms = performance.now() - begin;
        if (response.status !== 200) throw new Error(`${pagePath} answered ${response.status}: ${body.slice(0, 300)}`);
        bytes = body.length;
        if (i >= 5) times.push(ms);
      }
      result[name] = { p50_ms: percentile(times, 50), p95_ms: percentile(times, 95), bytes };
    }
    server.close();
    await runtime.shutdown();
    return { rows, seed_s: seedS, samples, pages: result };
  } finally {
    remove();
  }
}

const isoMinute = (ms: number) => new Date(ms).toISOString().slice(0, 16);
