import { writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import { percentile } from './stats.ts';

/**
 * HTTP load generator, run as its own process so it does not share an event loop with the
 * server: `connections` keep-alive connections (undici Pool, no pipelining), each sending the
 * next request as soon as the previous answer arrived, for `seconds` after a warm-up.
 * Prints one JSON line; the ids of 202 answers (warm-up included) go to `idsFile` so the
 * caller can check every one of them was stored.
 *
 *   node --import tsx bench/load.ts <origin> <path> <seconds> <connections> <warmupSeconds> [idsFile]
 */
export interface LoadResult {
  path: string;
  connections: number;
  seconds: number;
  requests: number;
  requests_per_s: number;
  p50_ms: number;
  p99_ms: number;
  statuses: Record<string, number>;
  errors: number;
  ids_recorded: number;
}

const [originArg, pathArg, secondsArg, connectionsArg, warmupArg, idsFile] = process.argv.slice(2);
if (!originArg || !pathArg) throw new Error('usage: load.ts <origin> <path> <seconds> <connections> <warmupSeconds> [idsFile]');
const origin: string = originArg;
const path: string = pathArg;
const seconds = Number(secondsArg ?? 10);
const connections = Number(connectionsArg ?? 50);
const warmup = Number(warmupArg ?? 1);

const body = JSON.stringify({ title: 'bench', description: 'http', type: 'noop', payload: { i: 1 } });
const headers = { 'content-type': 'application/json' };
const pool = new Pool(origin, { connections, pipelining: 1 });

const latencies: number[] = [];
const statuses: Record<string, number> = {};
const ids: string[] = [];
let errors = 0;
let measuring = false;
let stopping = false;

async function loop(): Promise<void> {
  while (!stopping) {
    const started = performance.now();
    try {
      const res = await pool.request({ method: 'POST', path, headers, body });
      const text = await res.body.text();
      if (res.statusCode === 202) {
        // The task JSON starts with its id: no JSON.parse on the load generator's hot path.
        const match = /"id":"([^"]+)"/.exec(text);
        if (match) ids.push(match[1]!);
      }
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

if (idsFile) writeFileSync(idsFile, ids.join('\n'));
const result: LoadResult = {
  path,
  connections,
  seconds: elapsed / 1000,
  requests: latencies.length,
  requests_per_s: (latencies.length * 1000) / elapsed,
  p50_ms: percentile(latencies, 50),
  p99_ms: percentile(latencies, 99),
  statuses,
  errors,
  ids_recorded: ids.length,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
