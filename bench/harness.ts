import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config, type EnvRecord } from '../lib/config/config.ts';
import type { TaskHandler } from '../lib/processing/handlers.ts';
import { createRuntime, type Runtime } from '../local/runtime.ts';
import { perSecond } from './stats.ts';

/**
 * What every scenario shares: a temp directory, the configuration a user would set for this
 * workload (10 workers, no-op handler, quiet logs) and a way to wait for N completions.
 * Everything measured runs through `createRuntime`: the service, repository, pool, poller and
 * handler registry the product uses.
 */

export interface ScenarioOptions {
  quick: boolean;
  /** Extra env for the runtime (e.g. TASK_QUEUE_SIZE), to compare settings. */
  env?: EnvRecord;
}

export function tempDir(prefix = 'task-pool-bench-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The bench's settings: TASK_WORKERS=10 (the concurrency); TASK_QUEUE_SIZE=100 and
 * TASK_POLL_BATCH_SIZE=100 (claimed tasks waiting in memory: bigger claims and bigger
 * completion commits; the `throughput-defaults` scenario measures the seed defaults 10/10);
 * LOG_LEVEL=warn (an info line per task would measure stdout, not the queue); rate limiting
 * off (it is per client and one load generator is one client). Everything else is the
 * product default unless a scenario passes `env`.
 */
export const BENCH_ENV: EnvRecord = {
  TASK_WORKERS: '10',
  TASK_QUEUE_SIZE: '100',
  TASK_POLL_BATCH_SIZE: '100',
  LOG_LEVEL: 'warn',
  RATE_LIMIT_PER_MINUTE: '0',
};

export function benchConfig(databaseUrl: string, env: EnvRecord = {}): Config {
  return loadConfig({
    DATABASE_URL: databaseUrl,
    ...BENCH_ENV,
    SIMULATE_MIN_MS: '0',
    SIMULATE_MAX_MS: '0',
    ...env,
  });
}

/** The no-op handler the workload names, registered through the handler registry. */
export const NOOP_TYPE = 'noop';

export interface Probe {
  /** performance.now() of the first handler start, NaN before. */
  firstStart: number;
  started: number;
  handler: TaskHandler;
}

export function noopProbe(onStart?: (payload: unknown) => void): Probe {
  const probe: Probe = {
    firstStart: Number.NaN,
    started: 0,
    handler: async (task) => {
      if (probe.started++ === 0) probe.firstStart = performance.now();
      onStart?.(task.payload);
      return null;
    },
  };
  return probe;
}

export async function startRuntime(config: Config, probe: Probe, processing = true): Promise<Runtime> {
  return createRuntime({ config, handlers: { [NOOP_TYPE]: probe.handler }, processing });
}

/**
 * Resolves with performance.now() once `runtime.pool.counts.completed` reaches `count`
 * (a completion is counted after its version-checked write committed). Checked every
 * millisecond, so the figure is at most ~1 ms late.
 */
export function completions(runtime: Runtime, count: number, timeoutMs = 300_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const timer = setInterval(() => {
      const c = runtime.pool.counts;
      if (c.completed >= count) {
        clearInterval(timer);
        resolve(performance.now());
      } else if (Date.now() > deadline || c.failed + c.lost > 0) {
        clearInterval(timer);
        reject(new Error(`after ${timeoutMs} ms: ${JSON.stringify(c)} of ${count}`));
      }
    }, 1);
  });
}

/**
 * Processes what `config`'s database holds: a processing runtime with the no-op handler runs
 * until `count` tasks completed; the rate is first handler start → last completion. Throws
 * when fewer than `count` ended completed.
 */
export async function processBacklog(config: Config, count: number): Promise<number> {
  const probe = noopProbe();
  const worker = await startRuntime(config, probe);
  worker.start();
  const end = await completions(worker, count);
  const rate = perSecond(count, end - probe.firstStart);
  const counts = await countByStatus(worker);
  await worker.shutdown();
  if ((counts.completed ?? 0) < count) throw new Error(`lost tasks: ${JSON.stringify(counts)}`);
  return rate;
}

/**
 * As processBacklog, also timing the process's CPU (user + system) from start to the `count`th
 * completion, per task; throws unless exactly `count` ended completed.
 */
export async function processBacklogCpu(config: Config, count: number): Promise<{ rate: number; cpuUsPerTask: number }> {
  const probe = noopProbe();
  const worker = await startRuntime(config, probe);
  const cpu0 = process.cpuUsage();
  worker.start();
  const end = await completions(worker, count);
  const cpuUsed = process.cpuUsage(cpu0);
  const counts = await countByStatus(worker);
  await worker.shutdown();
  if (counts.completed !== count) throw new Error(`lost tasks: ${JSON.stringify(counts)}`);
  return { rate: perSecond(count, end - probe.firstStart), cpuUsPerTask: (cpuUsed.user + cpuUsed.system) / count };
}

/** Samples RSS every 50 ms until stopped; returns the peak in MB. */
export function rssSampler(): { stop: () => number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
  return {
    stop: () => {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage.rss());
      return Math.round((peak / 2 ** 20) * 10) / 10;
    },
  };
}

/** Counts rows by status straight from the database: the bench's "nothing lost" check. */
export async function countByStatus(runtime: Runtime): Promise<Record<string, number>> {
  const rows = await runtime.driver.all('SELECT status, count(*) AS n FROM tasks GROUP BY status');
  return Object.fromEntries(rows.map((r) => [String(r.status), Number(r.n)]));
}

export const tinyPayload = (i: number) => ({ i });
