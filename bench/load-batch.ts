import { runClosedLoop } from './closed-loop.ts';

/**
 * HTTP load for POST /tasks/batch, as its own process: batches of `size` tasks in a closed
 * loop (bench/closed-loop.ts) for `seconds` after a warm-up. Prints one JSON line (tasks
 * accepted in the measured window and in total, so the caller can check every accepted task
 * was stored).
 *
 *   node --import tsx bench/load-batch.ts <origin> <seconds> <connections> <warmupSeconds> <size>
 */
export interface BatchLoadResult {
  connections: number;
  size: number;
  seconds: number;
  requests: number;
  tasks_per_s: number;
  p50_ms: number;
  p99_ms: number;
  statuses: Record<string, number>;
  errors: number;
  /** Tasks answered 202, warm-up included. */
  accepted_total: number;
}

const [origin, secondsArg, connectionsArg, warmupArg, sizeArg] = process.argv.slice(2);
if (!origin) throw new Error('usage: load-batch.ts <origin> <seconds> <connections> <warmupSeconds> <size>');
const seconds = Number(secondsArg ?? 10);
const connections = Number(connectionsArg ?? 10);
const warmup = Number(warmupArg ?? 1);
const size = Number(sizeArg ?? 1000);

let acceptedTotal = 0;
const run = await runClosedLoop({
  origin,
  path: '/tasks/batch',
  body: JSON.stringify({ tasks: Array.from({ length: size }, (_, i) => ({ title: 'bench', description: 'http batch', type: 'noop', payload: { i } })) }),
  connections,
  seconds,
  warmup,
  onAnswer(status) {
    if (status === 202) acceptedTotal += size;
  },
});

const result: BatchLoadResult = {
  connections,
  size,
  seconds: run.seconds,
  requests: run.requests,
  tasks_per_s: ((run.statuses['202'] ?? 0) * size) / run.seconds,
  p50_ms: run.p50_ms,
  p99_ms: run.p99_ms,
  statuses: run.statuses,
  errors: run.errors,
  accepted_total: acceptedTotal,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
