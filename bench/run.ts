import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { DashboardResult } from './scenarios/dashboard.ts';
import type { DriverCeiling } from './scenarios/driver.ts';
import type { HttpResult } from './scenarios/http.ts';
import type { HttpDeliveryResult } from './scenarios/http-delivery.ts';
import type { LatencyResult } from './scenarios/latency.ts';
import type { MetricsResult } from './scenarios/metrics.ts';
import type { RemoteResult } from './scenarios/remote.ts';
import type { ScaleResult } from './scenarios/scale.ts';
import type { SchedulesResult } from './scenarios/schedules.ts';
import type { BatchResult } from './scenarios/batch.ts';
import type { BatchMemoryResult } from './scenarios/batch-memory.ts';
import type { PagesResult } from './scenarios/pages.ts';
import type { RetentionResult } from './scenarios/retention.ts';
import type { ThroughputResult } from './scenarios/throughput.ts';
import type { WorkflowsResult } from './scenarios/workflows.ts';
import type { RemoteWorkflowsResult } from './scenarios/remote-workflows.ts';
import type { AttemptsResult } from './scenarios/attempts.ts';
import type { DebounceResult } from './scenarios/debounce.ts';
import type { TransportResult } from './scenarios/transport.ts';
import type { FlowControlResult } from './scenarios/flow-control.ts';
import { BENCH_ENV } from './harness.ts';
import { currentLoad, describeMachine, summarise, type Summary } from './stats.ts';

/**
 * `npm run bench [-- --quick] [-- --repeat N] [-- --only a,b] [-- --env KEY=VALUE ...]`
 *
 * Runs every scenario (bench/scenarios/) `repeat` times, each trial in a fresh process,
 * round-robin so a burst of load on the machine does not hit one scenario's every trial.
 * Prints a table of medians and ranges with each figure's ratio to the raw driver ceiling
 * measured in the same run, and writes bench/results/latest.json.
 *
 * Exit status: 1 when a trial failed or lost a task (an error), never because a figure missed
 * its target: --quick is CI's smoke test, and speed on a shared runner is not a verdict.
 */
const SCENARIOS = ['driver', 'throughput', 'throughput-defaults', 'latency', 'http', 'scale-empty', 'scale-1m', 'remote', 'schedules', 'http-delivery', 'dashboard', 'metrics', 'batch', 'batch-memory', 'batch-memory-3', 'batch-memory-objects', 'retention', 'pages', 'workflows', 'remote-workflows', 'attempts', 'debounce', 'transport', 'flow-control'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    repeat: { type: 'string' },
    only: { type: 'string' },
    env: { type: 'string', multiple: true },
    out: { type: 'string' },
  },
});
const quick = values.quick ?? false;
const repeat = Number(values.repeat ?? (quick ? 1 : 3));
const only = values.only ? (values.only.split(',') as Scenario[]) : [...SCENARIOS];
const env = Object.fromEntries((values.env ?? []).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

for (const name of only) if (!SCENARIOS.includes(name)) throw new Error(`unknown scenario ${name}; one of ${SCENARIOS.join(', ')}`);

function trial(name: Scenario): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, name, JSON.stringify({ quick, env })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice('BENCH_RESULT '.length)));
      else reject(new Error(`${name} failed (exit ${code}):\n${stderr.slice(-4000)}`));
    });
  });
}

const machine = describeMachine();
const started = new Date().toISOString();
const runs: Partial<Record<Scenario, unknown[]>> = {};
const errors: string[] = [];
process.stderr.write(`task-pool bench (${quick ? 'quick' : 'full'}, ${repeat}x): ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, load ${machine.load_start}\n`);
for (let r = 0; r < repeat; r++) {
  for (const name of only) {
    const t0 = performance.now();
    try {
      const result = await trial(name);
      (runs[name] ??= []).push(result);
      process.stderr.write(`  ${name} #${r + 1}: ${((performance.now() - t0) / 1000).toFixed(1)} s, load ${currentLoad()}\n`);
    } catch (error) {
      errors.push(error instanceof Error ? error.message : String(error));
      process.stderr.write(`  ${name} #${r + 1}: ERROR ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
}
machine.load_end = currentLoad();

// ---- summary ---------------------------------------------------------------------------

interface Row {
  metric: string;
  unit: string;
  summary: Summary;
  target?: string;
  met?: boolean;
  /** The figure over the matching raw ceiling's median (same run). */
  ratio?: number;
  ratio_to?: string;
}

const pick = <T, K extends keyof T>(name: Scenario, key: K): number[] => ((runs[name] ?? []) as T[]).map((r) => Number(r[key]));
const rows: Row[] = [];
const add = (metric: string, unit: string, samples: number[], target?: { text: string; ok: (median: number) => boolean }, ratio?: { to: string; ceiling: number }) => {
  if (samples.length === 0) return;
  const summary = summarise(samples);
  rows.push({
    metric,
    unit,
    summary,
    target: target?.text,
    // --quick judges nothing: sizes are too small for the targets to mean anything.
    met: target && !quick ? target.ok(summary.median) : undefined,
    ratio: ratio && Number.isFinite(ratio.ceiling) ? summary.median / ratio.ceiling : undefined,
    ratio_to: ratio?.to,
  });
};
const med = (samples: number[]) => (samples.length ? summarise(samples).median : Number.NaN);

const ceilingSingle = med(pick<DriverCeiling, 'single_insert_per_s'>('driver', 'single_insert_per_s'));
const ceilingCycle = med(pick<DriverCeiling, 'claim_complete_per_s'>('driver', 'claim_complete_per_s'));
const ceilingSinglePrevious = med(pick<DriverCeiling, 'single_insert_previous_schema_per_s'>('driver', 'single_insert_previous_schema_per_s'));
add('raw libsql: single-row inserts', '/s', pick<DriverCeiling, 'single_insert_per_s'>('driver', 'single_insert_per_s'));
add('raw libsql: single-row inserts, previous schema (UUID key)', '/s', pick<DriverCeiling, 'single_insert_previous_schema_per_s'>('driver', 'single_insert_previous_schema_per_s'));
add('raw libsql: inserts in 100-row transactions', '/s', pick<DriverCeiling, 'tx100_insert_per_s'>('driver', 'tx100_insert_per_s'));
add('raw libsql: inserts in 25-row tx', '/s', pick<DriverCeiling, 'tx25_insert_per_s'>('driver', 'tx25_insert_per_s'));
add('raw libsql: claim 10 + complete 10 per tx', 'tasks/s', pick<DriverCeiling, 'claim_complete_per_s'>('driver', 'claim_complete_per_s'));

add('enqueue (submit, one at a time, awaited)', '/s', pick<ThroughputResult, 'enqueue_per_s'>('throughput', 'enqueue_per_s'),
  { text: '>= 20,000', ok: (m) => m >= 20_000 }, { to: 'raw single-row inserts', ceiling: ceilingSingle });
const enqueue = pick<ThroughputResult, 'enqueue_per_s'>('throughput', 'enqueue_per_s');
add('  enqueue / raw single-row, previous schema (issue 13)', 'x', enqueue.map((e) => e / ceilingSinglePrevious).filter(Number.isFinite),
  { text: '>= 0.85', ok: (m) => m >= 0.85 });
add('processing (10 workers, no-op)', 'tasks/s', pick<ThroughputResult, 'process_per_s'>('throughput', 'process_per_s'),
  { text: '>= 20,000', ok: (m) => m >= 20_000 }, { to: 'raw claim+complete', ceiling: ceilingCycle });
add('  processing / raw claim+complete (issue 13)', 'x', pick<ThroughputResult, 'process_per_s'>('throughput', 'process_per_s').map((p) => p / ceilingCycle).filter(Number.isFinite),
  { text: '>= 0.6', ok: (m) => m >= 0.6 });
add('end to end (first submit -> last completion)', 's', pick<ThroughputResult, 'end_to_end_s'>('throughput', 'end_to_end_s'),
  { text: '<= 2.0', ok: (m) => m <= 2.0 });
add('  enqueue rate while processing', '/s', pick<ThroughputResult, 'end_to_end_enqueue_per_s'>('throughput', 'end_to_end_enqueue_per_s'),
  undefined, { to: 'raw single-row inserts', ceiling: ceilingSingle });
add('processing, seed defaults (queue 10, batch 10)', 'tasks/s', pick<ThroughputResult, 'process_per_s'>('throughput-defaults', 'process_per_s'),
  undefined, { to: 'raw claim+complete', ceiling: ceilingCycle });
add('end to end, seed defaults', 's', pick<ThroughputResult, 'end_to_end_s'>('throughput-defaults', 'end_to_end_s'));
add('processing peak RSS (empty table)', 'MB', pick<ThroughputResult, 'process_rss_mb'>('throughput', 'process_rss_mb'));
add('idle pickup latency p50', 'ms', pick<LatencyResult, 'p50_ms'>('latency', 'p50_ms'), { text: '<= 1', ok: (m) => m <= 1 });
add('idle pickup latency p99', 'ms', pick<LatencyResult, 'p99_ms'>('latency', 'p99_ms'), { text: '<= 5', ok: (m) => m <= 5 });

const http = (runs.http ?? []) as HttpResult[];
add('HTTP trivial Hono route, 50 conns', 'req/s', http.map((h) => h.trivial.requests_per_s));
const ceilingTx25 = med(pick<DriverCeiling, 'tx25_insert_per_s'>('driver', 'tx25_insert_per_s'));
add('HTTP POST /tasks, 50 conns', 'req/s', http.map((h) => h.tasks.requests_per_s), undefined, { to: 'raw 25-row tx inserts', ceiling: ceilingTx25 });
add('  POST /tasks / trivial route', 'x', http.map((h) => h.ratio), { text: '>= 0.6', ok: (m) => m >= 0.6 });
add('  POST /tasks p99', 'ms', http.map((h) => h.tasks.p99_ms), { text: '<= 20', ok: (m) => m <= 20 });
add('  POST /tasks errors + non-202', 'count', http.map((h) => h.tasks.errors + h.tasks.requests - (h.tasks.statuses['202'] ?? 0)), { text: '0', ok: (m) => m === 0 });
add('  202s not found in the database', 'count', http.map((h) => h.missing), { text: '0', ok: (m) => m === 0 });

const scaleEmpty = pick<ScaleResult, 'process_per_s'>('scale-empty', 'process_per_s');
const scaleBig = pick<ScaleResult, 'process_per_s'>('scale-1m', 'process_per_s');
const bigRows = ((runs['scale-1m'] ?? []) as ScaleResult[])[0]?.rows_before ?? 0;
add('processing, table empty', 'tasks/s', scaleEmpty, undefined, { to: 'raw claim+complete', ceiling: ceilingCycle });
add(`processing, ${bigRows.toLocaleString('en-US')} rows in table`, 'tasks/s', scaleBig, undefined, { to: 'raw claim+complete', ceiling: ceilingCycle });
if (scaleEmpty.length && scaleBig.length) {
  const ratios = scaleBig.map((b, i) => b / (scaleEmpty[i] ?? scaleEmpty[0]!));
  add('  big / empty', 'x', ratios, { text: '>= 0.8', ok: (m) => m >= 0.8 });
}
add('peak RSS, table empty', 'MB', pick<ScaleResult, 'peak_rss_mb'>('scale-empty', 'peak_rss_mb'));
add(`peak RSS, ${bigRows.toLocaleString('en-US')} rows in table`, 'MB', pick<ScaleResult, 'peak_rss_mb'>('scale-1m', 'peak_rss_mb'));

const remoteBatch = med(pick<RemoteResult, 'raw_batch100_insert_per_s'>('remote', 'raw_batch100_insert_per_s'));
add('raw sqld client: single-row inserts', '/s', pick<RemoteResult, 'raw_single_insert_per_s'>('remote', 'raw_single_insert_per_s'));
add('raw sqld client: 100-row batches', '/s', pick<RemoteResult, 'raw_batch100_insert_per_s'>('remote', 'raw_batch100_insert_per_s'));
add('sqld: enqueue, 50 concurrent submitters', '/s', pick<RemoteResult, 'enqueue_concurrent_per_s'>('remote', 'enqueue_concurrent_per_s'), undefined, { to: 'raw 100-row batches', ceiling: remoteBatch });
add('sqld: processing (10 workers, no-op)', 'tasks/s', pick<RemoteResult, 'process_per_s'>('remote', 'process_per_s'),
  { text: '>= 2,000', ok: (m) => m >= 2000 }, { to: 'raw 100-row batches', ceiling: remoteBatch });

// Issue 24: each transport to sqld, raw ceilings and the product, interleaved in one trial.
const transportRuns = (runs.transport ?? []) as TransportResult[];
if (transportRuns.length > 0) {
  const fig = (t: 'ws' | 'http', key: keyof TransportResult['ws']) => transportRuns.map((r) => r[t][key]);
  // The enqueue target is against the fastest transport's raw single-row insert (issue 24):
  // over the WebSocket, on one kept stream (bench/scenarios/transport.ts), the fastest of all.
  const fastestSingle = Math.max(med(fig('ws', 'raw_single_insert_per_s')), med(fig('ws', 'raw_stream_single_insert_per_s')), med(fig('http', 'raw_single_insert_per_s')));
  for (const t of ['ws', 'http'] as const) {
    const kept = t === 'ws';
    const single = med(fig(t, kept ? 'raw_stream_single_insert_per_s' : 'raw_single_insert_per_s'));
    const cycle = med(fig(t, kept ? 'raw_stream_claim_complete_per_row_per_s' : 'raw_claim_complete_per_row_per_s'));
    const cycleJson = Math.max(med(fig(t, 'raw_claim_complete_json_per_s')), kept ? med(fig(t, 'raw_stream_claim_complete_json_per_s')) : 0);
    if (kept) {
      add('transport ws, one kept stream: raw single-row inserts, awaited one at a time', '/s', fig(t, 'raw_stream_single_insert_per_s'));
      add('transport ws, one kept stream: the product\'s own INSERT of a task (its schema), raw', '/s', fig(t, 'raw_stream_product_insert_per_s'), undefined, { to: 'raw single-row, kept stream', ceiling: single });
      add('transport ws, one kept stream: raw 100-row batches', 'rows/s', fig(t, 'raw_stream_batch100_rows_per_s'));
      add('transport ws, one kept stream: raw claim 100 + complete 100 (per-row UPDATEs)', 'tasks/s', fig(t, 'raw_stream_claim_complete_per_row_per_s'));
      add('transport ws, one kept stream: raw claim 100 + complete 100 (one json_each UPDATE)', 'tasks/s', fig(t, 'raw_stream_claim_complete_json_per_s'));
    }
    add(`transport ${t}: raw single-row inserts, awaited one at a time`, '/s', fig(t, 'raw_single_insert_per_s'));
    if (t === 'http') add('  the same over Node\'s global fetch (@libsql/client\'s default)', '/s', fig(t, 'raw_single_insert_global_fetch_per_s'), undefined, { to: 'raw single-row, http', ceiling: single });
    add(`transport ${t}: raw 100-row batches`, 'rows/s', fig(t, 'raw_batch100_rows_per_s'));
    add(`transport ${t}: raw claim 100 + complete 100 (a batch of per-row UPDATEs)`, 'tasks/s', fig(t, 'raw_claim_complete_per_row_per_s'));
    add(`transport ${t}: raw claim 100 + complete 100 (one json_each UPDATE)`, 'tasks/s', fig(t, 'raw_claim_complete_json_per_s'));
    add(`transport ${t}: sqld enqueue (submit in process, one at a time, awaited)`, '/s', fig(t, 'enqueue_per_s'), undefined, { to: `raw single-row, ${kept ? 'kept stream' : t}`, ceiling: single });
    add(`  enqueue / fastest transport's raw single-row insert`, 'x', fig(t, 'enqueue_per_s').map((e) => e / fastestSingle), { text: '>= 0.85', ok: (m) => m >= 0.85 });
    if (kept) add('  enqueue / the same INSERT of a task sent raw on a kept stream', 'x', fig(t, 'enqueue_per_s').map((e) => e / med(fig(t, 'raw_stream_product_insert_per_s'))));
    add(`transport ${t}: sqld processing (10 workers, no-op)`, 'tasks/s', fig(t, 'process_per_s'), undefined, { to: `raw claim+complete per-row, ${kept ? 'kept stream' : t}`, ceiling: cycle });
    add(`  processing / fastest raw claim+complete json_each, ${t}`, 'x', fig(t, 'process_per_s').map((p) => p / cycleJson), { text: '>= 0.6', ok: (m) => m >= 0.6 });
    if (kept) {
      add('transport ws: sqld processing, TASK_QUEUE_SIZE=300 (a claim in flight while a batch runs)', 'tasks/s', fig(t, 'process_deep_queue_per_s'), { text: '>= 35,000 (graphile-worker here)', ok: (m) => m >= 35_000 });
      add('  the same / fastest raw claim+complete json_each, ws', 'x', fig(t, 'process_deep_queue_per_s').map((p) => p / cycleJson), { text: '>= 0.6', ok: (m) => m >= 0.6 });
    }
    add(`transport ${t}: sqld pickup latency p50 (idle, 20 ms apart)`, 'ms', fig(t, 'pickup_p50_ms'), { text: '<= 2', ok: (m) => m <= 2 });
    add(`  pickup latency p99`, 'ms', fig(t, 'pickup_p99_ms'), { text: '<= 10', ok: (m) => m <= 10 });
  }
}

add('schedules: fire 10,000 every-minute schedules, all due', 's', pick<SchedulesResult, 'fire_s'>('schedules', 'fire_s'), { text: '<= 2.0', ok: (m) => m <= 2.0 });
add('  fired', 'schedules/s', pick<SchedulesResult, 'fired_per_s'>('schedules', 'fired_per_s'));
add('processing with 10,000 schedules / without', 'x', pick<SchedulesResult, 'process_ratio'>('schedules', 'process_ratio'), { text: '>= 0.9', ok: (m) => m >= 0.9 });
add('  processing without schedules', 'tasks/s', pick<SchedulesResult, 'process_per_s_without'>('schedules', 'process_per_s_without'), undefined, { to: 'raw claim+complete', ceiling: ceilingCycle });
add('  processing with 10,000 schedules', 'tasks/s', pick<SchedulesResult, 'process_per_s_with'>('schedules', 'process_per_s_with'), undefined, { to: 'raw claim+complete', ceiling: ceilingCycle });

add('bare fetch loop, 50 concurrent, loopback 200', 'req/s', pick<HttpDeliveryResult, 'bare_fetch_per_s'>('http-delivery', 'bare_fetch_per_s'));
add('http tasks delivered (50 workers, signed)', 'tasks/s', pick<HttpDeliveryResult, 'deliveries_per_s'>('http-delivery', 'deliveries_per_s'),
  { text: '>= 5,000', ok: (m) => m >= 5000 });
add('  http tasks / bare fetch loop', 'x', pick<HttpDeliveryResult, 'ratio'>('http-delivery', 'ratio'), { text: '>= 0.6', ok: (m) => m >= 0.6 });
add('bare undici request() loop (the transport), same', 'req/s', pick<HttpDeliveryResult, 'bare_request_per_s'>('http-delivery', 'bare_request_per_s'));
add('  http tasks / bare request() loop', 'x', pick<HttpDeliveryResult, 'ratio_to_request'>('http-delivery', 'ratio_to_request'));

const dashboard = (runs.dashboard ?? []) as DashboardResult[];
const dashboardRows = dashboard[0]?.rows ?? 0;
for (const name of Object.keys(dashboard[0]?.pages ?? {})) {
  // The issue's target: the overview and a list filtered by status and type, p95 <= 50 ms.
  const target = name === 'overview' || name === 'tasks, status + type' ? { text: '<= 50', ok: (m: number) => m <= 50 } : undefined;
  add(`dashboard ${name}, ${dashboardRows.toLocaleString('en-US')} rows, p95`, 'ms', dashboard.map((d) => d.pages[name]!.p95_ms), target);
}
add('metrics off: processing (10 workers, no-op)', 'tasks/s', pick<MetricsResult, 'process_off_per_s'>('metrics', 'process_off_per_s'));
add('metrics on: processing', 'tasks/s', pick<MetricsResult, 'process_on_per_s'>('metrics', 'process_on_per_s'));
add('  metrics on / off (same run)', 'x', pick<MetricsResult, 'on_off_ratio'>('metrics', 'on_off_ratio'), { text: '>= 0.95', ok: (m) => m >= 0.95 });
add('metrics on + 200 parked ?wait=: processing', 'tasks/s', pick<MetricsResult, 'process_on_200_waiting_per_s'>('metrics', 'process_on_200_waiting_per_s'));
add('  with 200 waiting / without', 'x', pick<MetricsResult, 'waiting_on_ratio'>('metrics', 'waiting_on_ratio'));
add('  CPU per task, metrics off', 'µs', pick<MetricsResult, 'cpu_us_per_task_off'>('metrics', 'cpu_us_per_task_off'));
add('  CPU per task, metrics on', 'µs', pick<MetricsResult, 'cpu_us_per_task_on'>('metrics', 'cpu_us_per_task_on'));
add('  CPU per task, on + 200 waiting', 'µs', pick<MetricsResult, 'cpu_us_per_task_waiting'>('metrics', 'cpu_us_per_task_waiting'));
add('  CPU off / on (rate ratio on a free core)', 'x', pick<MetricsResult, 'cpu_on_off_ratio'>('metrics', 'cpu_on_off_ratio'), { text: '>= 0.95', ok: (m) => m >= 0.95 });
add('  metric calls per attempt', 'µs', pick<MetricsResult, 'metrics_us_per_attempt'>('metrics', 'metrics_us_per_attempt'));
add('  metric calls per HTTP submit', 'µs', pick<MetricsResult, 'metrics_us_per_submit_request'>('metrics', 'metrics_us_per_submit_request'));
const att = (runs.attempts ?? []) as AttemptsResult[];
add('attempt history on (TASK_ATTEMPTS_KEPT=20): processing', 'tasks/s', att.map((a) => a.process_per_s.on), undefined, { to: 'raw claim+complete', ceiling: ceilingCycle });
add('attempt history off (0): processing', 'tasks/s', att.map((a) => a.process_per_s.off));
add('  history on / off (same run, interleaved)', 'x', att.map((a) => a.on_off_ratio), { text: '>= 0.95', ok: (m) => m >= 0.95 });
add('  history on / schema without its triggers', 'x', att.map((a) => a.on_no_triggers_ratio), { text: '>= 0.95', ok: (m) => m >= 0.95 });
add('  CPU off / on', 'x', att.map((a) => a.cpu_on_off_ratio));
add('  CPU per task, history on', 'µs', att.map((a) => a.cpu_us_per_task.on));
add('  CPU per task, history off', 'µs', att.map((a) => a.cpu_us_per_task.off));
add('  CPU per task, schema without its triggers', 'µs', att.map((a) => a.cpu_us_per_task.no_triggers));
add('attempt history: failing once then completing, on / off', 'x', att.map((a) => a.failing_on_off_ratio));
add('  CPU off / on, failing once then completing', 'x', att.map((a) => a.failing_cpu_on_off_ratio));
add('attempt triggers raw: claim 100 + complete 100, with / without', 'x', att.map((a) => a.triggers.ratio), { text: '>= 0.95', ok: (m) => m >= 0.95 });
add('  CPU without / with (rate ratio on a free core)', 'x', att.map((a) => a.triggers.cpu_ratio), { text: '>= 0.95', ok: (m) => m >= 0.95 });
add('attempt history raw: table beside tasks, failing path', 'attempts/s', att.map((a) => a.storage.table_attempts_per_s));
add('attempt history raw: array on the row (River), failing path', 'attempts/s', att.map((a) => a.storage.array_attempts_per_s));
add('  CPU per attempt: table', 'µs', att.map((a) => a.storage.table_cpu_us_per_attempt));
add('  CPU per attempt: array', 'µs', att.map((a) => a.storage.array_cpu_us_per_attempt));
add('  bytes the claim reads per task: table', 'B', att.map((a) => a.storage.table_claim_bytes_per_task));
add('  bytes the claim reads per task: array', 'B', att.map((a) => a.storage.array_claim_bytes_per_task));
const deb = (runs.debounce ?? []) as DebounceResult[];
add('submit in process, plain (50 in flight)', 'submits/s', deb.map((d) => d.per_s.plain));
add('  debounce, a new key each (replacement misses, insert)', 'submits/s', deb.map((d) => d.per_s.debounce_new));
add('  debounce, 100 keys (replacements)', 'submits/s', deb.map((d) => d.per_s.debounce_replace));
add('  throttle, 100 keys (held back)', 'submits/s', deb.map((d) => d.per_s.throttle_held));
add('  CPU per submit: plain', 'µs', deb.map((d) => d.cpu_us_per_submit.plain));
add('  CPU ÷ plain: debounce new key', 'x', deb.map((d) => d.cost_vs_plain.debounce_new.cpu));
add('  CPU ÷ plain: debounce replace', 'x', deb.map((d) => d.cost_vs_plain.debounce_replace.cpu));
add('  CPU ÷ plain: throttle held', 'x', deb.map((d) => d.cost_vs_plain.throttle_held.cpu));
const flow = (runs['flow-control'] ?? []) as FlowControlResult[];
add('flow control: processing, no key (10 workers, no-op)', 'tasks/s', flow.map((f) => f.process_per_s.plain), undefined, { to: 'raw claim+complete', ceiling: ceilingCycle });
add('flow control: 1,000 keys at parallelism 1', 'tasks/s', flow.map((f) => f.process_per_s.keys_1000));
add('  1,000 keys / no key (same run, interleaved)', 'x', flow.map((f) => f.keys_plain_ratio), { text: '>= 0.8', ok: (m) => m >= 0.8 });
add('flow control: one key at parallelism 10', 'tasks/s', flow.map((f) => f.process_per_s.one_key));
add('  one key / no key', 'x', flow.map((f) => f.one_key_plain_ratio));
add('  CPU per task, no key', 'µs', flow.map((f) => f.cpu_us_per_task.plain));
add('  CPU per task, 1,000 keys', 'µs', flow.map((f) => f.cpu_us_per_task.keys_1000));
add('  CPU no key / 1,000 keys', 'x', flow.map((f) => f.cpu_plain_keys_ratio), { text: '>= 0.8', ok: (m) => m >= 0.8 });
add('flow control: the claim of 100 alone, no key', 'ms', flow.map((f) => f.claim.ms_per_claim.plain));
add('flow control: the claim of 100 alone, 1,000 keys', 'ms', flow.map((f) => f.claim.ms_per_claim.keys_1000));
add('  CPU per claimed task, no key', 'µs', flow.map((f) => f.claim.cpu_us_per_task.plain));
add('  CPU per claimed task, 1,000 keys', 'µs', flow.map((f) => f.claim.cpu_us_per_task.keys_1000));
add('GET /metrics, counts read per scrape, p99', 'ms', pick<MetricsResult, 'scrape_fresh_p99_ms'>('metrics', 'scrape_fresh_p99_ms'), { text: '<= 20', ok: (m) => m <= 20 });
add('GET /metrics, counts cached, p99', 'ms', pick<MetricsResult, 'scrape_cached_p99_ms'>('metrics', 'scrape_cached_p99_ms'), { text: '<= 20', ok: (m) => m <= 20 });

const batchRuns = (runs.batch ?? []) as BatchResult[];
add('batch: raw libsql, 1,000-row transactions (interleaved)', '/s', batchRuns.map((b) => b.raw_tx1000_per_s));
add('batch: submitMany, 1,000-task batches, in process', '/s', batchRuns.map((b) => b.in_process_per_s));
add('  in process / raw', 'x', batchRuns.map((b) => b.in_process_ratio), { text: '>= 0.8', ok: (m) => m >= 0.8 });
add('batch: POST /tasks/batch, 1,000 a request, 10 conns', 'tasks/s', batchRuns.map((b) => b.http.tasks_per_s));
add('  HTTP / in process', 'x', batchRuns.map((b) => b.http_ratio), { text: '>= 0.5', ok: (m) => m >= 0.5 });
add('  accepted but not stored', 'count', batchRuns.map((b) => b.http_missing), { text: '0', ok: (m) => m === 0 });

for (const name of ['batch-memory', 'batch-memory-3', 'batch-memory-objects'] as const) {
  const memoryRuns = (runs[name] ?? []) as BatchMemoryResult[];
  const first = memoryRuns[0];
  if (!first) continue;
  add(`batch memory: ${first.concurrency} x ${first.body_mb.toFixed(1)} MiB POST /tasks/batch (${first.shape} payloads) at once, RSS growth / body bytes sent`, 'x', memoryRuns.map((m) => m.growth_per_body_byte));
  add('  RSS growth / bytes of the bodies answered 202', 'x', memoryRuns.map((m) => m.growth_per_accepted_byte));
  add('  RSS before', 'MB', memoryRuns.map((m) => m.rss_before_mb));
  add('  RSS peak while answered', 'MB', memoryRuns.map((m) => m.rss_peak_mb));
  add('  RSS 5 s after the last answer', 'MB', memoryRuns.map((m) => m.rss_after_mb));
  add('  kept 5 s after / body bytes sent', 'x', memoryRuns.map((m) => m.kept_per_body_byte));
  add('  longest garbage collection', 'ms', memoryRuns.map((m) => m.gc_max_ms));
  add('  refused (503)', 'count', memoryRuns.map((m) => m.statuses['503'] ?? 0));
  add('  accepted but not stored', 'count', memoryRuns.map((m) => m.missing), { text: '0', ok: (m) => m === 0 });
}

const retentionRuns = (runs.retention ?? []) as RetentionResult[];
add('retention: processing, history kept', 'tasks/s', retentionRuns.map((r) => r.process_per_s_without));
add('retention: processing, history deleted alongside', 'tasks/s', retentionRuns.map((r) => r.process_per_s_with));
add('  with / without', 'x', retentionRuns.map((r) => r.ratio), { text: '>= 0.9', ok: (m) => m >= 0.9 });
add('retention: processing, history kept, no retention index', 'tasks/s', retentionRuns.map((r) => r.process_per_s_without_index));
add('  history kept: with the index / without', 'x', retentionRuns.map((r) => r.process_per_s_without / r.process_per_s_without_index));
add('retention: steady load, page bytes growth, second half', 'bytes', retentionRuns.map((r) => r.steady_growth_second_half_bytes));

const pagesRuns = (runs.pages ?? []) as PagesResult[];
for (const schema of ['today', 'today_without_tasks_finished', 'previous_uuid']) {
  add(`pages (${schema}): WAL frames per submit`, 'frames', pagesRuns.map((p) => p.frames[schema]!.submit));
  add(`pages (${schema}): per claimed task (claims of 10)`, 'frames', pagesRuns.map((p) => p.frames[schema]!.claim));
  add(`pages (${schema}): per completion, 1 / tx`, 'frames', pagesRuns.map((p) => p.frames[schema]!.complete_1));
  add(`pages (${schema}): per completion, 10 / tx`, 'frames', pagesRuns.map((p) => p.frames[schema]!.complete_10));
  add(`pages (${schema}): raw single-row inserts`, '/s', pagesRuns.map((p) => p.rates[schema]!.insert_per_s));
  add(`pages (${schema}): raw claim 10 + complete 10`, 'tasks/s', pagesRuns.map((p) => p.rates[schema]!.claim_complete_per_s));
}
add('claim+complete, claim without the paused subquery', 'tasks/s', pagesRuns.map((p) => p.paused.before_issue));
add('  with it, 0 paused types', 'tasks/s', pagesRuns.map((p) => p.paused.none));
add('  with it, 3 paused types', 'tasks/s', pagesRuns.map((p) => p.paused.three));
add('  2,000 paused tasks ahead in claim order', 'tasks/s', pagesRuns.map((p) => p.paused.backlog_ahead));

// Issue 20: each workflow figure against its ceiling measured in the same trial (same process).
const wf = (runs.workflows ?? []) as WorkflowsResult[];
const wfTasks = wf.map((w) => w.tasks_per_s);
add('workflows: no-op tasks, 10 workers (interleaved with runs)', 'tasks/s', wfTasks, undefined, { to: 'raw claim+complete', ceiling: ceilingCycle });
add('workflows: 10-step runs of no-op steps', 'steps/s', wf.map((w) => w.steps_per_s), undefined, { to: 'no-op tasks (same trials)', ceiling: med(wfTasks) });
add('  steps/s / tasks/s (same process)', 'x', wf.map((w) => w.steps_tasks_ratio), { text: '>= 0.5', ok: (m) => m >= 0.5 });
add('workflows: wake-up after a sleep, lateness p50', 'ms', wf.map((w) => w.sleep_late_p50_ms), { text: '<= 20', ok: (m) => m <= 20 });
add('  lateness p99', 'ms', wf.map((w) => w.sleep_late_p99_ms), { text: '<= 100', ok: (m) => m <= 100 });
add('  lateness max', 'ms', wf.map((w) => w.sleep_late_max_ms));
add('  the process stalled meanwhile (> 20 ms), times', 'count', wf.map((w) => w.sleep_stalls));
add('  longest stall', 'ms', wf.map((w) => w.sleep_stall_max_ms));
add('  lateness minus stalls, p50', 'ms', wf.map((w) => w.sleep_late_unstalled_p50_ms));
add('  lateness minus stalls, p99', 'ms', wf.map((w) => w.sleep_late_unstalled_p99_ms));
add('workflows: sendEvent -> step after the wait, p50', 'ms', wf.map((w) => w.event_p50_ms), { text: '<= 20', ok: (m) => m <= 20 });
add('  event -> step p99', 'ms', wf.map((w) => w.event_p99_ms));
const sleepers = (wf[0]?.sleepers ?? 0).toLocaleString('en-US');
add('workflows: RSS, idle runtime (after GC)', 'MB', wf.map((w) => w.rss_idle_mb));
add(`  RSS with ${sleepers} runs sleeping`, 'MB', wf.map((w) => w.rss_sleeping_mb));
add('  RSS with / idle', 'x', wf.map((w) => w.rss_ratio), { text: '<= 1.10', ok: (m) => m <= 1.1 });
add('  heap used, idle', 'MB', wf.map((w) => w.heap_idle_mb));
add(`  heap used with ${sleepers} sleeping`, 'MB', wf.map((w) => w.heap_sleeping_mb));
add('workflows: processing without sleeping runs', 'tasks/s', wf.map((w) => w.process_per_s_without_sleepers), undefined, { to: 'raw claim+complete', ceiling: ceilingCycle });
add(`  with ${sleepers} runs sleeping`, 'tasks/s', wf.map((w) => w.process_per_s_with_sleepers), undefined, { to: 'raw claim+complete', ceiling: ceilingCycle });
add('  with / without (interleaved)', 'x', wf.map((w) => w.process_ratio_sleepers), { text: '>= 0.9', ok: (m) => m >= 0.9 });
add('  tasks submitted one at a time, processed, without', 'tasks/s', wf.map((w) => w.trickle_per_s_without_sleepers));
add(`  the same, ${sleepers} runs sleeping`, 'tasks/s', wf.map((w) => w.trickle_per_s_with_sleepers));
add('  one at a time: with / without', 'x', wf.map((w) => w.trickle_ratio_sleepers), { text: '>= 0.9', ok: (m) => m >= 0.9 });
add('  one short claim (nothing due), without them', 'µs', wf.map((w) => w.short_claim_us_without));
add(`  one short claim, ${sleepers} runs sleeping`, 'µs', wf.map((w) => w.short_claim_us_with));
add('  next-due query, without them', 'µs', wf.map((w) => w.next_run_at_us_without));
add(`  next-due query, ${sleepers} runs sleeping`, 'µs', wf.map((w) => w.next_run_at_us_with));

// Issue 22: remote workflow steps against http deliveries, alternating in the same trial.
const rw = (runs['remote-workflows'] ?? []) as RemoteWorkflowsResult[];
add('remote workflows: http tasks delivered (50 workers, signed)', 'tasks/s', rw.map((r) => r.deliveries_per_s));
add('remote workflows: steps through a loopback serve() app', 'steps/s', rw.map((r) => r.steps_per_s));
add('  remote steps / http deliveries (same trials)', 'x', rw.map((r) => r.ratio), { text: '>= 0.6', ok: (m) => m >= 0.6 });

const fmt = (v: number) => (Number.isNaN(v) ? '-' : Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
const table = [
  ['metric', 'median', 'range', 'unit', 'target', 'met', 'ratio to ceiling'],
  ...rows.map((r) => [
    r.metric,
    fmt(r.summary.median),
    r.summary.runs.length > 1 ? `${fmt(r.summary.min)}-${fmt(r.summary.max)}` : '',
    r.unit,
    r.target ?? '',
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
    r.ratio === undefined ? '' : `${(r.ratio * 100).toFixed(0)}% of ${r.ratio_to}`,
  ]),
];
const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
const out = table.map((row) => row.map((cell, i) => (i === 0 || i >= 3 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd());
process.stdout.write(
  `\ntask-pool bench — ${quick ? 'quick (smoke: sizes are small, speed is not judged)' : 'full'}, ${repeat} run(s) each\n` +
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gb} GB, Node ${machine.node}, ${machine.platform}; ` +
    `load ${machine.load_start} -> ${machine.load_end}\n` +
    `storage: libSQL file, WAL, synchronous=NORMAL (native libsql driver); sqld over a WebSocket (the default transport) for the remote rows; the transport rows compare it with HTTP\n` +
    `settings: ${Object.entries({ ...BENCH_ENV, ...env }).map(([k, v]) => `${k}=${v}`).join(' ')}\n\n` +
    `${out.join('\n')}\n`,
);

mkdirSync(RESULTS, { recursive: true });
const report = { started_at: started, finished_at: new Date().toISOString(), mode: quick ? 'quick' : 'full', repeat, settings: { ...BENCH_ENV, ...env }, machine, summary: rows, runs, errors };
writeFileSync(values.out ?? `${RESULTS}latest.json`, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`\nwrote ${values.out ?? 'bench/results/latest.json'}\n`);
if (errors.length > 0) {
  process.stderr.write(`\n${errors.length} trial(s) failed:\n${errors.join('\n\n')}\n`);
  process.exit(1);
}
