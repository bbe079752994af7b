import { writeFileSync } from 'node:fs';
import { runClosedLoop } from './closed-loop.ts';

/**
 * HTTP load generator, run as its own process so it does not share an event loop with the
 * server: POST <path> in a closed loop (bench/closed-loop.ts) for `seconds` after a warm-up.
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

const ids: string[] = [];
const run = await runClosedLoop({
  origin,
  path,
  body: JSON.stringify({ title: 'bench', description: 'http', type: 'noop', payload: { i: 1 } }),
  connections,
  seconds,
  warmup,
  onAnswer(status, text) {
    if (status !== 202) return;
    // The task JSON starts with its id: no JSON.parse on the load generator's hot path.
    const match = /"id":"([^"]+)"/.exec(text);
    if (match) ids.push(match[1]!);
  },
});

if (idsFile) writeFileSync(idsFile, ids.join('\n'));
const result: LoadResult = {
  path,
  connections,
  seconds: run.seconds,
  requests: run.requests,
  requests_per_s: run.requests / run.seconds,
  p50_ms: run.p50_ms,
  p99_ms: run.p99_ms,
  statuses: run.statuses,
  errors: run.errors,
  ids_recorded: ids.length,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
