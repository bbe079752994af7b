import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { benchConfig, completions, noopProbe, NOOP_TYPE, startRuntime, tempDir, type ScenarioOptions } from '../harness.ts';
import { percentile } from '../stats.ts';

/**
 * Idle pickup latency: the pool is idle, a task is submitted every 20 ms; the time from
 * calling `submit` to the handler starting (commit, wake-up, claim, dispatch), in ms.
 */
export interface LatencyResult {
  samples: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

export async function pickupLatency(options: ScenarioOptions): Promise<LatencyResult> {
  const n = options.quick ? 50 : 200;
  const { dir, remove } = tempDir();
  try {
    const submittedAt: number[] = [];
    const latencies: number[] = [];
    const probe = noopProbe((payload) => {
      const seq = (payload as { seq: number }).seq;
      if (seq >= 0) latencies.push(performance.now() - submittedAt[seq]!);
    });
    const runtime = await startRuntime(benchConfig(`file:${join(dir, 'tasks.db')}`, options.env), probe);
    runtime.start();
    // Warm-up, not measured: the first submits pay for JIT and statement preparation.
    for (let i = 0; i < 20; i++) {
      await runtime.service.submit({ title: 'bench', description: 'warm-up', type: NOOP_TYPE, payload: { seq: -1 } });
      await sleep(5);
    }
    for (let seq = 0; seq < n; seq++) {
      await sleep(20);
      submittedAt[seq] = performance.now();
      await runtime.service.submit({ title: 'bench', description: 'latency', type: NOOP_TYPE, payload: { seq } });
    }
    await completions(runtime, n + 20);
    await runtime.shutdown();
    if (latencies.length !== n) throw new Error(`${latencies.length} of ${n} tasks started`);
    return { samples: n, p50_ms: percentile(latencies, 50), p99_ms: percentile(latencies, 99), max_ms: Math.max(...latencies) };
  } finally {
    remove();
  }
}
