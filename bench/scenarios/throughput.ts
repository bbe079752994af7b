import { join } from 'node:path';
import { benchConfig, completions, countByStatus, noopProbe, NOOP_TYPE, rssSampler, startRuntime, tempDir, tinyPayload, type ScenarioOptions } from '../harness.ts';
import { perSecond } from '../stats.ts';

/**
 * The workload in one process on a libSQL file:
 * 1. enqueue: N tasks through `TaskService.submit`, one at a time, each awaited (as an API
 *    handler would), tiny JSON payload, in an API-only runtime (no pool competing);
 * 2. process: a runtime with the pool (10 workers, no-op handler) drains them; the rate is
 *    first handler start → N-th completion committed.
 * And separately, end to end: submit N (awaited, one at a time) into a runtime that is
 * processing at the same time; first submit → N-th completion.
 */
export interface ThroughputResult {
  tasks: number;
  enqueue_per_s: number;
  process_per_s: number;
  process_rss_mb: number;
  end_to_end_s: number;
  end_to_end_enqueue_per_s: number;
}

export async function throughput(options: ScenarioOptions): Promise<ThroughputResult> {
  const n = options.quick ? 2000 : 20_000;
  const { dir, remove } = tempDir();
  try {
    const url = `file:${join(dir, 'tasks.db')}`;
    const config = benchConfig(url, options.env);

    // 1. enqueue
    const api = await startRuntime(config, noopProbe(), false);
    const submit = (i: number) => api.service.submit({ title: 'bench', description: 'enqueue', type: NOOP_TYPE, payload: tinyPayload(i) });
    for (let i = 0; i < 200; i++) await submit(-1); // warm-up: JIT, statement cache
    let t0 = performance.now();
    for (let i = 0; i < n; i++) await submit(i);
    const enqueueMs = performance.now() - t0;
    await api.shutdown();

    // 2. process the N (plus the 200 warm-up tasks: counted, and in the rate's denominator)
    const probe = noopProbe();
    const worker = await startRuntime(config, probe);
    const rss = rssSampler();
    worker.start();
    const end = await completions(worker, n + 200);
    const processMs = end - probe.firstStart;
    const peakRss = rss.stop();
    const counts = await countByStatus(worker);
    await worker.shutdown();
    if (counts.completed !== n + 200) throw new Error(`lost tasks: ${JSON.stringify(counts)}`);

    // 3. end to end, a fresh database
    const e2eUrl = `file:${join(dir, 'e2e.db')}`;
    const e2eProbe = noopProbe();
    const both = await startRuntime(benchConfig(e2eUrl, options.env), e2eProbe);
    both.start();
    t0 = performance.now();
    for (let i = 0; i < n; i++) {
      await both.service.submit({ title: 'bench', description: 'end to end', type: NOOP_TYPE, payload: tinyPayload(i) });
    }
    const submitted = performance.now();
    const e2eEnd = await completions(both, n);
    const e2eCounts = await countByStatus(both);
    await both.shutdown();
    if (e2eCounts.completed !== n) throw new Error(`lost tasks end to end: ${JSON.stringify(e2eCounts)}`);

    return {
      tasks: n,
      enqueue_per_s: perSecond(n, enqueueMs),
      process_per_s: perSecond(n + 200, processMs),
      process_rss_mb: peakRss,
      end_to_end_s: (e2eEnd - t0) / 1000,
      end_to_end_enqueue_per_s: perSecond(n, submitted - t0),
    };
  } finally {
    remove();
  }
}
