import { join } from 'node:path';
import { submitTaskBody } from '../../lib/api/routes/tasks.ts';
import { benchConfig, NOOP_TYPE, noopProbe, startRuntime, tempDir, type ScenarioOptions } from '../harness.ts';
import { median, perSecond } from '../stats.ts';

/**
 * The cost of a debounced or throttled submit (lib/tasks/debounce.ts) against a plain one, in
 * one process through what POST /tasks runs after reading its body (`submitTaskBody`:
 * validation, the service, the repository, group commit; no HTTP, whose parsing would hide the
 * difference), 50 submits in flight, a fresh file per arm and round, arms alternating round by
 * round so drift on a shared machine falls on all of them. Submits/s (wall) and CPU time of
 * the process per submit, which other processes on the machine disturb far less.
 *
 * - `plain`: no key (the common path, which must not pay for the feature).
 * - `debounce_new`: a new key per submit: the replacement finds nothing, the guarded insert
 *   stores (the first submit of every burst).
 * - `debounce_replace`: 100 keys in turn: after the first 100, every submit replaces (the rest
 *   of a burst).
 * - `throttle_held`: 100 keys in turn: after the first 100, every guarded insert stores nothing
 *   and the key's task is read.
 */
export interface DebounceResult {
  submits: number;
  rounds: number;
  per_s: Record<Arm, number>;
  cpu_us_per_submit: Record<Arm, number>;
  /** median(plain) / median(arm), wall and CPU: how many plain submits one keyed submit costs. */
  cost_vs_plain: Record<Exclude<Arm, 'plain'>, { wall: number; cpu: number }>;
  rates: Record<Arm, number[]>;
  cpu: Record<Arm, number[]>;
}

type Arm = 'plain' | 'debounce_new' | 'debounce_replace' | 'throttle_held';
const ARMS: Arm[] = ['plain', 'debounce_new', 'debounce_replace', 'throttle_held'];
const IN_FLIGHT = 50;

function body(arm: Arm, i: number): Record<string, unknown> {
  const base = { title: 'bench', description: 'debounce', type: NOOP_TYPE, payload: { i } };
  switch (arm) {
    case 'plain':
      return base;
    case 'debounce_new':
      return { ...base, debounce: { key: `k${i}`, seconds: 600 } };
    case 'debounce_replace':
      return { ...base, debounce: { key: `k${i % 100}`, seconds: 600 } };
    case 'throttle_held':
      return { ...base, throttle: { key: `k${i % 100}`, seconds: 600 } };
  }
}

export async function debounce(options: ScenarioOptions): Promise<DebounceResult> {
  const n = options.quick ? 2000 : 10_000;
  const rounds = options.quick ? 1 : 6;
  const rates = Object.fromEntries(ARMS.map((a) => [a, [] as number[]])) as Record<Arm, number[]>;
  const cpu = Object.fromEntries(ARMS.map((a) => [a, [] as number[]])) as Record<Arm, number[]>;
  const { dir, remove } = tempDir();
  try {
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round.
      const order = ARMS.map((_, i) => ARMS[(i + round) % ARMS.length]!);
      for (const arm of order) {
        const runtime = await startRuntime(benchConfig(`file:${join(dir, `${arm}-${round}.db`)}`, options.env), noopProbe(), false);
        let next = 0;
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: IN_FLIGHT }, async () => {
            while (next < n) await submitTaskBody(runtime, body(arm, next++));
          }),
        );
        const ms = performance.now() - t0;
        const used = process.cpuUsage(cpu0);
        const rows = await runtime.driver.all('SELECT count(*) AS n FROM tasks');
        const expected = arm === 'plain' || arm === 'debounce_new' ? n : 100;
        if (Number(rows[0]!.n) !== expected) throw new Error(`${arm}: ${rows[0]!.n} tasks stored, expected ${expected}`);
        await runtime.shutdown();
        rates[arm].push(perSecond(n, ms));
        cpu[arm].push((used.user + used.system) / n);
      }
    }
    const per_s = Object.fromEntries(ARMS.map((a) => [a, median(rates[a])])) as Record<Arm, number>;
    const cpu_us_per_submit = Object.fromEntries(ARMS.map((a) => [a, median(cpu[a])])) as Record<Arm, number>;
    const cost = (arm: Exclude<Arm, 'plain'>) => ({ wall: per_s.plain / per_s[arm], cpu: cpu_us_per_submit[arm] / cpu_us_per_submit.plain });
    return {
      submits: n,
      rounds,
      per_s,
      cpu_us_per_submit,
      cost_vs_plain: { debounce_new: cost('debounce_new'), debounce_replace: cost('debounce_replace'), throttle_held: cost('throttle_held') },
      rates,
      cpu,
    };
  } finally {
    remove();
  }
}
