import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { median } from './stats.ts';

/**
 * Processing without flow control, this tree against another checkout (main), alternating:
 * each trial is its own process (`node --import tsx bench/compare-processing.ts --trial <root>`)
 * that enqueues 10,000 no-op tasks (batches of 500) into a fresh file with that tree's code,
 * then processes them with its runtime (bench settings: 10 workers, claims of 100); first
 * handler start → last completion, and the process's CPU time per task. Then the claim of 100
 * alone, through that tree's repository, each batch completed before the next claim (CPU per
 * claimed task). Medians over `trials` of each (bench/README.md, "Flow control").
 *
 *   git worktree add /tmp/main-tree main && ln -s "$PWD/node_modules" /tmp/main-tree/
 *   node --import tsx bench/compare-processing.ts /tmp/main-tree [trials]
 */
const run = promisify(execFile);
const HERE = fileURLToPath(new URL('..', import.meta.url));

interface Trial { rate: number; cpu_us: number; claim_cpu_us: number }

async function trial(root: string, n: number): Promise<Trial> {
  const { join } = await import('node:path');
  const harness = await import(join(root, 'bench/harness.ts'));
  const { createRuntime } = await import(join(root, 'local/runtime.ts'));
  const { openDatabase } = await import(join(root, 'local/database.ts'));
  const { GroupCommitDriver } = await import(join(root, 'lib/db/group-commit.ts'));
  const { TaskRepository } = await import(join(root, 'lib/tasks/repository.ts'));
  const { dir, remove } = harness.tempDir();
  const enqueue = async (url: string) => {
    const api = await createRuntime({ config: harness.benchConfig(url), handlers: { [harness.NOOP_TYPE]: async () => null }, processing: false });
    for (let i = 0; i < n; i += 500) {
      await api.service.submitMany(Array.from({ length: 500 }, (_, j) => ({ input: { title: 'bench', description: 'plain', type: harness.NOOP_TYPE, payload: harness.tinyPayload(i + j) } })));
    }
    await api.shutdown();
  };
  try {
    const url = `file:${join(dir, 'process.db')}`;
    await enqueue(url);
    const probe = harness.noopProbe();
    const worker = await createRuntime({ config: harness.benchConfig(url), handlers: { [harness.NOOP_TYPE]: probe.handler } });
    const cpu0 = process.cpuUsage();
    worker.start();
    const end = await harness.completions(worker, n);
    const cpu = process.cpuUsage(cpu0);
    await worker.shutdown();

    const claimUrl = `file:${join(dir, 'claim.db')}`;
    await enqueue(claimUrl);
    const driver = await openDatabase({ url: claimUrl });
    const repo = new TaskRepository(new GroupCommitDriver(driver));
    let claimCpu = 0;
    let claimed = 0;
    for (;;) {
      const c0 = process.cpuUsage();
      const tasks = await repo.claimDueTasks({ limit: 100, workerId: 'bench', leaseMs: 600_000 });
      const c1 = process.cpuUsage(c0);
      claimCpu += c1.user + c1.system;
      if (tasks.length === 0) break;
      claimed += tasks.length;
      await repo.transitionMany(tasks.map((task: { id: number }) => ({ task, to: 'completed', fields: { completedAt: Date.now(), leaseExpiresAt: null } })));
    }
    await driver.close();
    return { rate: n / ((end - probe.firstStart) / 1000), cpu_us: (cpu.user + cpu.system) / n, claim_cpu_us: claimCpu / claimed };
  } finally {
    remove();
  }
}

if (process.argv[2] === '--trial') {
  console.log(`TRIAL ${JSON.stringify(await trial(resolve(process.argv[3]!), 10_000))}`);
} else {
  const other = resolve(process.argv[2] ?? '');
  const trials = Number(process.argv[3] ?? 5);
  const results: Record<'other' | 'this', Trial[]> = { other: [], this: [] };
  for (let i = 0; i < trials; i++) {
    for (const [name, root] of [['other', other], ['this', HERE]] as const) {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--trial', root], { cwd: root, maxBuffer: 1 << 24 });
      results[name].push(JSON.parse(stdout.split('\n').find((l) => l.startsWith('TRIAL '))!.slice(6)) as Trial);
    }
  }
  const m = (name: 'other' | 'this', key: keyof Trial) => median(results[name].map((t) => t[key]));
  console.log(JSON.stringify({
    other, trials,
    rate: { other: m('other', 'rate'), this: m('this', 'rate'), ratio: m('this', 'rate') / m('other', 'rate') },
    cpu_us: { other: m('other', 'cpu_us'), this: m('this', 'cpu_us') },
    claim_cpu_us: { other: m('other', 'claim_cpu_us'), this: m('this', 'claim_cpu_us') },
    runs: results,
  }, null, 2));
}
