import { join } from 'node:path';
import type { Config } from '../../lib/config/config.ts';
import type { FlowControl } from '../../lib/tasks/model.ts';
import { GroupCommitDriver } from '../../lib/db/group-commit.ts';
import { TaskRepository } from '../../lib/tasks/repository.ts';
import { migrateDatabase, openDatabase } from '../../local/database.ts';
import { createRuntime } from '../../local/runtime.ts';
import { benchConfig, NOOP_TYPE, processBacklogCpu, tempDir, tinyPayload, type ScenarioOptions } from '../harness.ts';
import { median } from '../stats.ts';

/**
 * Flow control (issue 23, items 1, 2 and 6; docs/flow-control.md), in one process, arms
 * alternating round by round so drift on a shared machine falls on all of them. Each arm: N
 * no-op tasks in a fresh file, enqueued first (batches of 500), then processed by 10 workers
 * (the bench settings: claims of up to 100), first handler start → N-th completion, and the
 * process's CPU time per task.
 *
 * - `plain`: no flow control (the claim's flow arm finds no key: one seek in an empty index).
 * - `keys_1000`: the same tasks spread over 1,000 keys at parallelism 1 each (task i on key
 *   i mod 1000). Every claim walks the 1,000 keys and reads each one's limits and running
 *   count; at most 10 run at once anyway (10 workers), so parallelism 1 per key never binds.
 *   Target: ≥ 0.8× `plain`.
 * - `one_key`: all tasks on one key with parallelism 10 (the worker count: the limit holds
 *   every claim to the free room of one key).
 * - **The claim alone**: the repository's claim of 100 over the same 10,000 tasks, each batch
 *   completed in one transaction before the next claim (not timed), with no key and over 1,000
 *   keys at parallelism 1, alternating, 3 rounds: ms per claim and the process's CPU per
 *   claimed task (the native driver works on this thread).
 */
export interface FlowControlResult {
  tasks: number;
  rounds: number;
  process_per_s: Record<Arm, number>;
  cpu_us_per_task: Record<Arm, number>;
  /** median(keys_1000) / median(plain). */
  keys_plain_ratio: number;
  one_key_plain_ratio: number;
  cpu_plain_keys_ratio: number;
  rates: Record<Arm, number[]>;
  cpu: Record<Arm, number[]>;
  claim: { ms_per_claim: { plain: number; keys_1000: number }; cpu_us_per_task: { plain: number; keys_1000: number }; rounds: Record<string, number[]> };
}

type Arm = 'plain' | 'keys_1000' | 'one_key';
const ORDERS: Arm[][] = [
  ['plain', 'keys_1000', 'one_key'],
  ['keys_1000', 'one_key', 'plain'],
  ['one_key', 'plain', 'keys_1000'],
];

function flowOf(arm: Arm, i: number): FlowControl | undefined {
  if (arm === 'keys_1000') return { key: `tenant-${i % 1000}`, parallelism: 1 };
  if (arm === 'one_key') return { key: 'one', parallelism: 10 };
  return undefined;
}

export async function flowControl(options: ScenarioOptions): Promise<FlowControlResult> {
  const n = options.quick ? 2000 : 10_000;
  const rounds = options.quick ? 1 : 6;
  const rates: Record<Arm, number[]> = { plain: [], keys_1000: [], one_key: [] };
  const cpu: Record<Arm, number[]> = { plain: [], keys_1000: [], one_key: [] };
  const { dir, remove } = tempDir();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const arm of ORDERS[round % ORDERS.length]!) {
        const config = benchConfig(`file:${join(dir, `${arm}-${round}.db`)}`, options.env);
        await enqueue(config, n, arm);
        const result = await processRound(config, n);
        rates[arm].push(result.rate);
        cpu[arm].push(result.cpuUsPerTask);
      }
    }
    const claim = await claimAlone(dir, n, options.quick ? 1 : 3);
    const med = (arm: Arm) => median(rates[arm]);
    return {
      claim,
      tasks: n,
      rounds,
      process_per_s: { plain: med('plain'), keys_1000: med('keys_1000'), one_key: med('one_key') },
      cpu_us_per_task: { plain: median(cpu.plain), keys_1000: median(cpu.keys_1000), one_key: median(cpu.one_key) },
      keys_plain_ratio: med('keys_1000') / med('plain'),
      one_key_plain_ratio: med('one_key') / med('plain'),
      cpu_plain_keys_ratio: median(cpu.plain) / median(cpu.keys_1000),
      rates,
      cpu,
    };
  } finally {
    remove();
  }
}

async function enqueue(config: Config, n: number, arm: Arm): Promise<void> {
  const api = await createRuntime({ config, handlers: { [NOOP_TYPE]: async () => null }, processing: false });
  for (let i = 0; i < n; i += 500) {
    const items = Array.from({ length: Math.min(500, n - i) }, (_, j) => ({
      input: { title: 'bench', description: 'flow control', type: NOOP_TYPE, payload: tinyPayload(i + j), flowControl: flowOf(arm, i + j) },
    }));
    await api.service.submitMany(items);
  }
  await api.shutdown();
}

async function processRound(config: Config, n: number): Promise<{ rate: number; cpuUsPerTask: number }> {
  return processBacklogCpu(config, n);
}

/** The claim of 100 alone, over `n` tasks with no key and over 1,000 keys at parallelism 1. */
async function claimAlone(dir: string, n: number, rounds: number): Promise<FlowControlResult['claim']> {
  const r: Record<string, number[]> = { ms_plain: [], ms_keys_1000: [], cpu_plain: [], cpu_keys_1000: [] };
  for (let round = 0; round < rounds; round++) {
    for (const arm of round % 2 === 0 ? (['plain', 'keys_1000'] as const) : (['keys_1000', 'plain'] as const)) {
      const url = `file:${join(dir, `claim-${arm}-${round}.db`)}`;
      await migrateDatabase({ url });
      const driver = await openDatabase({ url });
      const repo = new TaskRepository(new GroupCommitDriver(driver));
      await enqueue(benchConfig(url), n, arm);
      let claims = 0;
      let claimed = 0;
      let ms = 0;
      let cpuUs = 0;
      for (;;) {
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        const tasks = await repo.claimDueTasks({ limit: 100, workerId: 'bench', leaseMs: 600_000 });
        const c1 = process.cpuUsage(c0);
        ms += performance.now() - t0;
        cpuUs += c1.user + c1.system;
        claims++;
        if (tasks.length === 0) break;
        claimed += tasks.length;
        await repo.transitionMany(tasks.map((task) => ({ task, to: 'completed' as const, fields: { completedAt: Date.now(), leaseExpiresAt: null } })));
      }
      await driver.close();
      if (claimed !== n) throw new Error(`claimed ${claimed} of ${n}`);
      r[`ms_${arm}`]!.push(ms / claims);
      r[`cpu_${arm}`]!.push(cpuUs / claimed);
    }
  }
  return {
    ms_per_claim: { plain: median(r.ms_plain!), keys_1000: median(r.ms_keys_1000!) },
    cpu_us_per_task: { plain: median(r.cpu_plain!), keys_1000: median(r.cpu_keys_1000!) },
    rounds: r,
  };
}
