import { Pool } from 'undici';
import { percentile } from './stats.ts';

/**
 * The load generators' common loop (bench/load.ts, bench/load-batch.ts): `connections`
 * keep-alive connections (undici Pool, no pipelining), each sending the next request as soon
 * as the previous answer arrived, for `seconds` after `warmup` seconds. Every answer, warm-up
 * included, goes to `onAnswer`; latencies and statuses are counted in the measured window only.
 */
export interface ClosedLoopOptions {
  origin: string;
  path: string;
  body: string;
  connections: number;
  seconds: number;
  warmup: number;
  onAnswer?(status: number, text: string): void;
}

export interface ClosedLoopResult {
  seconds: number;
  requests: number;
  p50_ms: number;
  p99_ms: number;
  statuses: Record<string, number>;
  errors: number;
}

export async function runClosedLoop(o: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const pool = new Pool(o.origin, { connections: o.connections, pipelining: 1 });
  const headers = { 'content-type': 'application/json' };
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let measuring = false;
  let stopping = false;

  async function loop(): Promise<void> {
    while (!stopping) {
      const started = performance.now();
      try {
        const res = await pool.request({ method: 'POST', path: o.path, headers, body: o.body });
        o.onAnswer?.(res.statusCode, await res.body.text());
        if (measuring) {
          latencies.push(performance.now() - started);
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        }
      } catch {
        if (measuring) errors++;
      }
    }
  }

  const loops = Array.from({ length: o.connections }, loop);
  await new Promise((resolve) => setTimeout(resolve, o.warmup * 1000));
  measuring = true;
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, o.seconds * 1000));
  measuring = false;
  const elapsed = performance.now() - t0;
  stopping = true;
  await Promise.all(loops);
  await pool.close();
  return { seconds: elapsed / 1000, requests: latencies.length, p50_ms: percentile(latencies, 50), p99_ms: percentile(latencies, 99), statuses, errors };
}
