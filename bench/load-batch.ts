import { Pool } from 'undici';
import { percentile } from './stats.ts';

/**
 * HTTP load for POST /tasks/batch, as its own process: `connections` keep-alive connections,
 * each sending the next batch of `size` tasks as soon as the previous answer arrived, for
 * `seconds` after a warm-up. Prints one JSON line (tasks accepted in the measured window and
 * in total, so the caller can check every accepted task was stored).
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

const body = JSON.stringify({ tasks: Array.from({ length: size }, (_, i) => ({ title: 'bench', description: 'http batch', type: 'noop', payload: { i } })) });
const headers = { 'content-type': 'application/json' };
const pool = new Pool(origin, { connections, pipelining: 1 });

const latencies: number[] = [];
const statuses: Record<string, number> = {};
let errors = 0;
let acceptedTotal = 0;
let measuring = false;
let stopping = false;

async function loop(): Promise<void> {
  while (!stopping) {
    const started = performance.now();
    try {
      const res = await pool.request({ method: 'POST', path: '/tasks/batch', headers, body });
      await res.body.text();
      if (res.statusCode === 202) acceptedTotal += size;
      if (measuring) {
        latencies.push(performance.now() - started);
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      }
    } catch {
      if (measuring) errors++;
    }
  }
}

const loops = Array.from({ length: connections }, loop);
await new Promise((resolve) => setTimeout(resolve, warmup * 1000));
measuring = true;
const t0 = performance.now();
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
measuring = false;
const elapsed = performance.now() - t0;
stopping = true;
await Promise.all(loops);
await pool.close();

const result: BatchLoadResult = {
  connections,
  size,
  seconds: elapsed / 1000,
  requests: latencies.length,
  tasks_per_s: ((statuses['202'] ?? 0) * size * 1000) / elapsed,
  p50_ms: percentile(latencies, 50),
  p99_ms: percentile(latencies, 99),
  statuses,
  errors,
  accepted_total: acceptedTotal,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
