import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { listen } from '../../local/server.ts';
import { benchConfig, noopProbe, startRuntime, tempDir, type ScenarioOptions } from '../harness.ts';
import type { SendBatchesResult } from '../send-batches.ts';

const run = promisify(execFile);
const SEND = fileURLToPath(new URL('../send-batches.ts', import.meta.url));

/**
 * What big batches cost in memory (issue 19): a real node server (API-only runtime, this
 * process) with MAX_BODY_BYTES=4 MiB, so a batch body may be 64 MiB; `concurrency` copies of
 * one ~58 MB body (1,000 tasks, each a 58,000-character string payload; or, `objects`, each an
 * array of ~1,600 small objects) sent at once from another process (bench/send-batches.ts). RSS of this process: before (after a small warm-up
 * batch, settled), its peak while the batches are answered (sampled every 10 ms), and after
 * (`AFTER_MS` once the last answer arrived, idle). Reported as RSS growth per body byte sent,
 * with the longest garbage collection meanwhile (a pause of the whole process). Afterwards the
 * table holds exactly the tasks answered 202.
 */
export interface BatchMemoryResult {
  concurrency: number;
  shape: 'string' | 'objects';
  body_mb: number;
  statuses: Record<string, number>;
  retry_after: (string | null)[];
  rss_before_mb: number;
  rss_peak_mb: number;
  rss_after_mb: number;
  /** (peak − before) / bytes of every body sent. */
  growth_per_body_byte: number;
  /** (peak − before) / bytes of the bodies answered 202. */
  growth_per_accepted_byte: number;
  /** (after − before) / bytes of every body sent: what is kept. */
  kept_per_body_byte: number;
  stored: number;
  missing: number;
  seconds: number;
  /** The longest garbage collection from the first byte sent to `AFTER_MS` after the last answer. */
  gc_max_ms: number;
}

const MB = 2 ** 20;
const AFTER_MS = 5000;
const TASKS = 1000;
const PAYLOAD = 58_000;

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function batchMemory(options: ScenarioOptions, concurrency: number, shape: 'string' | 'objects' = 'string'): Promise<BatchMemoryResult> {
  const { dir, remove } = tempDir();
  try {
    const config = benchConfig(`file:${join(dir, 'tasks.db')}`, { APP_PORT: '0', MAX_BODY_BYTES: String(4 * MB), ...options.env });
    const runtime = await startRuntime(config, noopProbe(), false);
    const { server, url } = await listen(runtime);
    // Warm-up: one small batch through the same path (JIT, statement cache, first pages).
    await run(process.execPath, ['--import', 'tsx', SEND, url, '1', '100', '1000']);
    await settle(1000);
    const count = async () => Number((await runtime.driver.all('SELECT count(*) AS n FROM tasks'))[0]!.n);
    const storedBefore = await count();
    const before = process.memoryUsage.rss();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
    let gcMaxMs = 0;
    const gcs = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) gcMaxMs = Math.max(gcMaxMs, entry.duration);
    });
    gcs.observe({ entryTypes: ['gc'] });
    const t0 = performance.now();
    const { stdout } = await run(process.execPath, ['--import', 'tsx', SEND, url, String(concurrency), String(options.quick ? TASKS / 4 : TASKS), String(PAYLOAD), shape], { maxBuffer: 2 ** 20 });
    const seconds = (performance.now() - t0) / 1000;
    const sent = JSON.parse(stdout.trim().split('\n').pop()!) as SendBatchesResult;
    await settle(AFTER_MS);
    clearInterval(sampler);
    gcs.disconnect();
    peak = Math.max(peak, process.memoryUsage.rss());
    const after = process.memoryUsage.rss();
    server.close();
    const stored = (await count()) - storedBefore;
    await runtime.shutdown();
    if (sent.errors.length > 0) throw new Error(`batch requests failed: ${sent.errors.join('; ')}`);
    if (stored !== sent.accepted_tasks) throw new Error(`${sent.accepted_tasks} tasks answered 202, ${stored} stored`);
    const statuses: Record<string, number> = {};
    for (const a of sent.answers) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    const bodies = sent.body_bytes * concurrency;
    const accepted = sent.body_bytes * (statuses['202'] ?? 0);
    return {
      concurrency,
      shape,
      body_mb: sent.body_bytes / MB,
      statuses,
      retry_after: sent.answers.filter((a) => a.status === 503).map((a) => a.retry_after),
      rss_before_mb: before / MB,
      rss_peak_mb: peak / MB,
      rss_after_mb: after / MB,
      growth_per_body_byte: (peak - before) / bodies,
      growth_per_accepted_byte: accepted > 0 ? (peak - before) / accepted : Number.NaN,
      kept_per_body_byte: (after - before) / bodies,
      stored,
      missing: sent.accepted_tasks - stored,
      seconds,
      gc_max_ms: gcMaxMs,
    };
  } finally {
    remove();
  }
}
