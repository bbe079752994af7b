import { join } from 'node:path';
import type { Config } from '../../lib/config/config.ts';
import { PromMetrics } from '../../local/metrics.ts';
import { createLogger } from '../../lib/foundation/log.ts';
import { formatTaskId } from '../../lib/tasks/ids.ts';
import { listen } from '../../local/server.ts';
import { benchConfig, completions, countByStatus, noopProbe, NOOP_TYPE, startRuntime, tempDir, tinyPayload, type ScenarioOptions } from '../harness.ts';
import { median, percentile, perSecond } from '../stats.ts';

/**
 * What metrics and `?wait=` cost (issue 12):
 * - processing N no-op tasks (as `throughput`: a fresh file, N tasks enqueued first, 10
 *   workers, first handler start → N-th completion) with METRICS_ENABLED=false, with it on,
 *   and with it on while 200 `?wait=` waits (TaskService.waitUntilFinal, as the route calls it)
 *   are parked on other tasks and re-reading with their backoff. The three arms alternate
 *   round by round in one process, so drift on the machine falls on all of them.
 * - scraping `GET /metrics` over HTTP (a real node server, sequential, after 5 warm-ups):
 *   with METRICS_REFRESH_SECONDS=0, every scrape reads the task counts from the database
 *   (N rows), the worst case; and with the default 10 s, where the counts come from memory.
 */
export interface MetricsResult {
  tasks: number;
  rounds: number;
  process_off_per_s: number;
  process_on_per_s: number;
  /** median(on) / median(off) rate. */
  on_off_ratio: number;
  process_on_200_waiting_per_s: number;
  waiting_on_ratio: number;
  scrape_fresh_p50_ms: number;
  scrape_fresh_p99_ms: number;
  scrape_cached_p50_ms: number;
  scrape_cached_p99_ms: number;
  scrape_bytes: number;
  /** Every round's rate per arm, in run order. */
  rates: Record<Arm, number[]>;
  /**
   * CPU time of this process (user + system) per task processed, per arm, median over rounds.
   * Less sensitive than wall-clock rates to other load on a shared machine.
   */
  cpu_us_per_task_off: number;
  cpu_us_per_task_on: number;
  cpu_us_per_task_waiting: number;
  /** median(off) / median(on) CPU per task: the rate ratio if the process had the CPU to itself. */
  cpu_on_off_ratio: number;
  cpu: Record<Arm, number[]>;
  /** The metric call one attempt makes (outcome, handler and queue-wait histograms), timed in a loop: µs. */
  metrics_us_per_attempt: number;
  /** The calls one HTTP submit adds (the request histogram, the submitted counter): µs. */
  metrics_us_per_submit_request: number;
}

type Arm = 'off' | 'on' | 'waiting';
const WAITERS = 200;
const SCRAPES = 200;

export async function metricsCost(options: ScenarioOptions): Promise<MetricsResult> {
  // Short rounds, many of them: on a shared 2-core machine, drift between rounds is larger
  // than the 5% being measured, and alternating arms spreads it over all three.
  const n = options.quick ? 2000 : 10_000;
  const rounds = options.quick ? 1 : 6;
  const orders: Arm[][] = [['off', 'on', 'waiting'], ['on', 'waiting', 'off'], ['waiting', 'off', 'on']];
  const rates: Record<Arm, number[]> = { off: [], on: [], waiting: [] };
  const cpu: Record<Arm, number[]> = { off: [], on: [], waiting: [] };
  const { dir, remove } = tempDir();
  let scrapes: Pick<MetricsResult, 'scrape_fresh_p50_ms' | 'scrape_fresh_p99_ms' | 'scrape_cached_p50_ms' | 'scrape_cached_p99_ms' | 'scrape_bytes'> | undefined;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const arm of orders[round % orders.length]!) {
        const config = benchConfig(`file:${join(dir, `${arm}-${round}.db`)}`, {
          ...options.env,
          METRICS_ENABLED: arm === 'off' ? 'false' : 'true',
          METRICS_REFRESH_SECONDS: '0',
          APP_PORT: '0',
        });
        const last = round === rounds - 1 && arm === 'on';
        const result = await processRound(config, n, arm === 'waiting', last ? async (url) => void (scrapes = await scrapeFigures(url, config)) : undefined);
        rates[arm].push(result.rate);
        cpu[arm].push(result.cpuUsPerTask);
      }
    }
    // Ratios of medians: one round disturbed by the machine moves a median less than it moves a per-round ratio.
    const ratios = (a: Arm, b: Arm) => median(rates[a]) / median(rates[b]);
    const calls = metricCallCosts();
    return {
      rates,
      cpu,
      cpu_us_per_task_off: median(cpu.off),
      cpu_us_per_task_on: median(cpu.on),
      cpu_us_per_task_waiting: median(cpu.waiting),
      cpu_on_off_ratio: median(cpu.off) / median(cpu.on),
      metrics_us_per_attempt: calls.attempt,
      metrics_us_per_submit_request: calls.submitRequest,
      tasks: n,
      rounds,
      process_off_per_s: median(rates.off),
      process_on_per_s: median(rates.on),
      on_off_ratio: ratios('on', 'off'),
      process_on_200_waiting_per_s: median(rates.waiting),
      waiting_on_ratio: ratios('waiting', 'on'),
      ...scrapes!,
    };
  } finally {
    remove();
  }
}

/** Enqueues n, processes them; returns tasks/s. `afterwards` runs with the processed database served over HTTP. */
async function processRound(config: Config, n: number, withWaiters: boolean, afterwards?: (url: string) => Promise<void>): Promise<{ rate: number; cpuUsPerTask: number }> {
  const api = await startRuntime(config, noopProbe(), false);
  for (let i = 0; i < n; i++) await api.service.submit({ title: 'bench', description: 'metrics', type: NOOP_TYPE, payload: tinyPayload(i) });
  await api.shutdown();

  const probe = noopProbe();
  const worker = await startRuntime(config, probe);
  const parked: Promise<unknown>[] = [];
  const later: string[] = [];
  if (withWaiters) {
    for (let i = 0; i < WAITERS; i++) {
      const { task } = await worker.service.submit({ title: 'later', description: 'waited for', type: NOOP_TYPE, delaySeconds: 3600 });
      later.push(formatTaskId(task.id));
      parked.push(worker.service.waitUntilFinal(formatTaskId(task.id), 60));
    }
  }
  const cpu0 = process.cpuUsage();
  worker.start();
  const end = await completions(worker, n);
  const cpuUsed = process.cpuUsage(cpu0);
  const rate = perSecond(n, end - probe.firstStart);
  if (withWaiters) {
    if (worker.service.events.waiting !== WAITERS) throw new Error(`expected ${WAITERS} parked waits, found ${worker.service.events.waiting}`);
    await Promise.all(later.map((id) => worker.service.cancel(id)));
    await Promise.all(parked);
  }
  const counts = await countByStatus(worker);
  if (counts.completed !== n) throw new Error(`lost tasks: ${JSON.stringify(counts)}`);
  if (afterwards) {
    const { server, url } = await listen(worker);
    try {
      await afterwards(url);
    } finally {
      server.close();
    }
  }
  await worker.shutdown();
  return { rate, cpuUsPerTask: (cpuUsed.user + cpuUsed.system) / n };
}

async function timeScrapes(url: string): Promise<{ p50: number; p99: number; bytes: number }> {
  let bytes = 0;
  for (let i = 0; i < 5; i++) await (await fetch(`${url}/metrics`)).text();
  const ms: number[] = [];
  for (let i = 0; i < SCRAPES; i++) {
    const t0 = performance.now();
    const response = await fetch(`${url}/metrics`);
    const text = await response.text();
    ms.push(performance.now() - t0);
    if (response.status !== 200) throw new Error(`scrape answered ${response.status}`);
    bytes = text.length;
  }
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), bytes };
}

/** Fresh: the processing runtime itself (its histograms filled, refresh 0). Cached: an API runtime on the same file with the default refresh. */
async function scrapeFigures(url: string, config: Config) {
  const fresh = await timeScrapes(url);
  const cachedRuntime = await startRuntime({ ...config, port: 0, metricsRefreshSeconds: 10 }, noopProbe(), false);
  const { server, url: cachedUrl } = await listen(cachedRuntime);
  try {
    const cached = await timeScrapes(cachedUrl);
    return {
      scrape_fresh_p50_ms: fresh.p50,
      scrape_fresh_p99_ms: fresh.p99,
      scrape_cached_p50_ms: cached.p50,
      scrape_cached_p99_ms: cached.p99,
      scrape_bytes: fresh.bytes,
    };
  } finally {
    server.close();
    await cachedRuntime.shutdown();
  }
}

/** µs of the metric calls processTask makes per attempt, and the request middleware plus TaskService.submit per HTTP submit. */
function metricCallCosts(): { attempt: number; submitRequest: number } {
  const metrics = new PromMetrics({ refreshSeconds: 10, logger: createLogger('silent'), processMetrics: false });
  const time = (fn: (i: number) => void) => {
    for (let i = 0; i < 20_000; i++) fn(i);
    const loops = 200_000;
    const t0 = performance.now();
    for (let i = 0; i < loops; i++) fn(i);
    return ((performance.now() - t0) * 1000) / loops;
  };
  return {
    attempt: time((i) => metrics.attemptFinished({ type: NOOP_TYPE, outcome: 'completed', handlerSeconds: 0.0001 * (i % 13), queueWaitSeconds: 0.01 * (i % 5) })),
    submitRequest: time((i) => {
      metrics.tasksSubmitted(NOOP_TYPE, 1);
      metrics.httpRequest('POST', '/tasks', 202, 0.001 + (i % 7) / 1000);
    }),
  };
}
