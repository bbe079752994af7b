import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

/**
 * Issue 24: what one claim of one task costs on sqld over the WebSocket, through the product's
 * TaskRepository (group commit, the kept write stream), with the flow arm and without it (the
 * keyless claim: TaskRepository.claimDueTasks), and optionally a baseline tree's claim.
 *
 *   node --import tsx bench/keyless-claim.ts [--baseline /path/to/main-worktree] [--trials 3]
 *
 * Each trial is a child process per tree with its own sqld and 4,000 pending tasks without a
 * key; trials alternate between the trees. In a child, 20 rounds alternate two arms of 50
 * claims (limit 1) each: `full`, the claim with its flow arm (and, on this tree, the question
 * whether a task with a key is pending, in the same transaction), forced by
 * `noteFlowPending()` before each; and `keyless`, a claim right after another, so the answer
 * is fresh. A baseline tree without `noteFlowPending` sends its one claim in both arms. Times
 * are from the call to its answer, medians and p90 per arm. Then pickup, on the same sqld
 * emptied: one idle processing runtime (bench/harness.ts, no-op handler), 10 warm-up submits,
 * then 200 submits 20 ms apart, each timed from the submit call to its handler's start.
 */

interface ArmTimes {
  full_p50_ms: number;
  full_p90_ms: number;
  keyless_p50_ms: number;
  keyless_p90_ms: number;
  pickup_p50_ms: number;
  pickup_p99_ms: number;
}

const CLAIMS_PER_ARM = 50;
const ROUNDS = 20;
const TASKS = 4000;
const PICKUPS = 200;

async function child(root: string): Promise<ArmTimes> {
  const from = (path: string) => import(pathToFileURL(join(root, path)).href);
  const { startSqldProcess } = await from('test/support/sqld-process.ts');
  const { openDatabase } = await from('local/database.ts');
  const { GroupCommitDriver } = await from('lib/db/group-commit.ts');
  const { TaskRepository } = await from('lib/tasks/repository.ts');
  const { TaskService } = await from('lib/tasks/service.ts');
  const { createLogger } = await from('lib/foundation/log.ts');
  const harness = await from('bench/harness.ts');
  const { dir, remove } = harness.tempDir();
  const sqld = await startSqldProcess({ dbPath: join(dir, 'sqld') });
  try {
    const driver = await openDatabase({ url: sqld.url.replace(/^http:/, 'ws:'), transport: 'ws' });
    const repo = new TaskRepository(new GroupCommitDriver(driver));
    const service = new TaskService(repo, { maxAttempts: 3, maxPending: 0 }, createLogger('silent'));
    const inputs = Array.from({ length: TASKS }, (_, i) => ({ input: { title: `t${i}`, description: '', type: 'simulate' } }));
    for (let i = 0; i < TASKS; i += 500) await service.submitMany(inputs.slice(i, i + 500));
    const claim = () => repo.claimDueTasks({ limit: 1, workerId: 'bench', leaseMs: 600_000 });
    const times: Record<'full' | 'keyless', number[]> = { full: [], keyless: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const arm of round % 2 ? (['keyless', 'full'] as const) : (['full', 'keyless'] as const)) {
        for (let i = 0; i < CLAIMS_PER_ARM; i++) {
          if (arm === 'full') repo.noteFlowPending?.();
          else await claim(); // not timed: makes the answer fresh (a full claim when it was not)
          const t0 = performance.now();
          const claimed = await claim();
          times[arm].push(performance.now() - t0);
          if (claimed.length !== 1) throw new Error(`claimed ${claimed.length}, not 1`);
        }
      }
    }
    await driver.run('DELETE FROM tasks');
    await driver.close();

    const pickups: number[] = [];
    const submittedAt: number[] = [];
    const probe = harness.noopProbe((payload: unknown) => {
      const seq = (payload as { seq: number }).seq;
      if (seq >= 0) pickups.push(performance.now() - submittedAt[seq]!);
    });
    const runtime = await harness.startRuntime(harness.benchConfig(sqld.url.replace(/^http:/, 'ws:'), { DATABASE_TRANSPORT: 'ws' }), probe);
    runtime.start();
    try {
      const submit = (seq: number) => runtime.service.submit({ title: 'bench', description: 'pickup', type: harness.NOOP_TYPE, payload: { seq } });
      for (let i = 0; i < 10; i++) await submit(-1);
      await harness.completions(runtime, 10);
      for (let seq = 0; seq < PICKUPS; seq++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        submittedAt[seq] = performance.now();
        await submit(seq);
      }
      await harness.completions(runtime, PICKUPS + 10);
    } finally {
      await runtime.shutdown();
    }
    if (pickups.length !== PICKUPS) throw new Error(`pickup: ${pickups.length} of ${PICKUPS} started`);

    const at = (values: number[], q: number) => Math.round([...values].sort((a, b) => a - b)[Math.floor(values.length * q)]! * 1000) / 1000;
    return {
      full_p50_ms: at(times.full, 0.5),
      full_p90_ms: at(times.full, 0.9),
      keyless_p50_ms: at(times.keyless, 0.5),
      keyless_p90_ms: at(times.keyless, 0.9),
      pickup_p50_ms: at(pickups, 0.5),
      pickup_p99_ms: at(pickups, 0.99),
    };
  } finally {
    await sqld.stop();
    remove();
  }
}

const run = promisify(execFile);

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const childAt = args.indexOf('--child');
  if (childAt >= 0) {
    process.stdout.write(JSON.stringify(await child(args[childAt + 1]!)));
    return;
  }
  const option = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const here = resolve(import.meta.dirname, '..');
  const baseline = option('--baseline');
  const trials = Number(option('--trials') ?? 3);
  const trees = baseline ? { branch: here, baseline: resolve(baseline) } : { branch: here };
  console.log(`load ${loadavg()[0]!.toFixed(2)} at start`);
  for (let trial = 1; trial <= trials; trial++) {
    for (const [name, root] of Object.entries(trees)) {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', join(here, 'bench/keyless-claim.ts'), '--child', root], { cwd: here, maxBuffer: 1 << 20 });
      console.log(`trial ${trial} ${name}: ${stdout}`);
    }
  }
  console.log(`load ${loadavg()[0]!.toFixed(2)} at end`);
}

await main();
