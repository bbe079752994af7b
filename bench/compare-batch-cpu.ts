import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import * as here from './harness.ts';
import { listen } from '../local/server.ts';
import { summarise } from './stats.ts';

/**
 * Server CPU per 1,000-task `POST /tasks/batch`, this tree against another checkout, in one
 * process: both trees' API-only runtimes (fresh files, bench settings) listen side by side, and
 * bench/load-batch.ts (its own process, 10 keep-alive connections, 1,000 small tasks a request)
 * loads one, then the other, alternating for `rounds` windows of 4 s. The figure is this
 * process's CPU time in a window over the batches answered in it: on a shared machine tasks/s
 * swings with everyone else's load, CPU time per request far less.
 *
 *   git archive <commit> | tar -x -C /tmp/other && ln -s "$PWD/node_modules" /tmp/other/
 *   node --import tsx bench/compare-batch-cpu.ts /tmp/other [rounds]
 */
const [otherArg, roundsArg] = process.argv.slice(2);
if (!otherArg) throw new Error('usage: compare-batch-cpu.ts <other tree> [rounds]');
const other = resolve(otherArg);
const rounds = Number(roundsArg ?? 6);
const LOAD = fileURLToPath(new URL('./load-batch.ts', import.meta.url));
const run = promisify(execFile);

const there = (await import(pathToFileURL(join(other, 'bench/harness.ts')).href)) as typeof here;
const { listen: listenThere } = (await import(pathToFileURL(join(other, 'local/server.ts')).href)) as { listen: typeof listen };
const { dir, remove } = here.tempDir();
const trees = {
  this: (await listen(await here.startRuntime(here.benchConfig(`file:${join(dir, 'this.db')}`, { APP_PORT: '0' }), here.noopProbe(), false))).url,
  other: (await listenThere(await there.startRuntime(there.benchConfig(`file:${join(dir, 'other.db')}`, { APP_PORT: '0' }), there.noopProbe(), false))).url,
};
const cpuMs: Record<keyof typeof trees, number[]> = { this: [], other: [] };
for (let r = 0; r < rounds; r++) {
  for (const name of (r % 2 ? ['other', 'this'] : ['this', 'other']) as (keyof typeof trees)[]) {
    const before = process.cpuUsage();
    const { stdout } = await run(process.execPath, ['--import', 'tsx', LOAD, trees[name], '4', '10', '0.5', '1000'], { maxBuffer: 2 ** 20 });
    const used = process.cpuUsage(before);
    const batches = (JSON.parse(stdout.trim().split('\n').pop()!) as { accepted_total: number }).accepted_total / 1000;
    cpuMs[name].push((used.user + used.system) / 1000 / batches);
  }
}
remove();
for (const name of ['this', 'other'] as const) {
  const s = summarise(cpuMs[name]);
  process.stdout.write(`${name} (${name === 'this' ? fileURLToPath(new URL('..', import.meta.url)) : other}): ${s.median.toFixed(1)} ms CPU per batch (${s.min.toFixed(1)}-${s.max.toFixed(1)})\n`);
}
process.exit(0);
