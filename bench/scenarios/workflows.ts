import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Config } from '../../lib/config/config.ts';
import { parseTaskId } from '../../lib/tasks/ids.ts';
import { defineWorkflow, runType, type Workflow } from '../../lib/workflows/define.ts';
import { createRuntime, type Runtime } from '../../local/runtime.ts';
import { benchConfig, completions, countByStatus, noopProbe, NOOP_TYPE, tempDir, tinyPayload, type Probe, type ScenarioOptions } from '../harness.ts';
import { percentile, perSecond } from '../stats.ts';

/**
 * Workflows (lib/workflows/, issue 20), in one process on libSQL files, each figure against a
 * ceiling measured in the same process:
 *
 * 4a. memory: a runtime that processed a warm-up (no-op tasks and 10-step runs), idle: RSS
 *     and heap after a full GC; then SLEEPERS runs each take one step and sleep an hour, all
 *     suspended at once: RSS and heap again. Target: RSS with them within 10% of idle. Runs
 *     first, on this process's fresh heap.
 * 4b. claim path: N no-op tasks processed by a runtime with those SLEEPERS sleeping runs in
 *     its database (their workflow registered, its wake-up timer set) vs a database without
 *     them; the two alternate round by round. The same with tasks submitted one at a time
 *     into the processing runtime (every claim short). Target ≥ 0.9x for both. And one short
 *     claim (nothing due) and the next-due query timed alone, with and without them.
 * 1.  steps vs tasks: N no-op tasks processed by a runtime with 10 workers (first handler
 *     start → last completion) vs M runs of a 10-step workflow of no-op steps (first step
 *     start → last run completed), alternating, each round on a fresh file; each figure is
 *     its count over the sum of its rounds. Target: steps/s ≥ 0.5x tasks/s.
 * 2.  wake-up lateness: runs started 10 ms apart, each sleeping 200–500 ms; lateness = the
 *     step after the sleep starting − the sleep's end as recorded. Targets p50 ≤ 20 ms,
 *     p99 ≤ 100 ms.
 * 3.  event → resumed step: runs suspended on waitForEvent, each with its own key; one
 *     `WorkflowService.sendEvent` every 20 ms; from calling it to the step after the wait
 *     starting. Target p50 ≤ 20 ms.
 *
 * Nothing lost: every run of 1–3 must end completed with each step run exactly once (counted
 * in the step functions and in workflow_steps); every sleeper must still be pending on its
 * sleep, its first step run once; every task completed. Otherwise the trial throws.
 */
export interface WorkflowsResult {
  sleepers: number;
  rss_idle_mb: number;
  rss_sleeping_mb: number;
  /** RSS with the sleepers / idle. */
  rss_ratio: number;
  heap_idle_mb: number;
  heap_sleeping_mb: number;
  process_per_s_without_sleepers: number;
  process_per_s_with_sleepers: number;
  /** with / without. */
  process_ratio_sleepers: number;
  /** Tasks submitted one at a time into a processing runtime (short claims), without / with the sleepers. */
  trickle_per_s_without_sleepers: number;
  trickle_per_s_with_sleepers: number;
  trickle_ratio_sleepers: number;
  short_claim_us_without: number;
  short_claim_us_with: number;
  next_run_at_us_without: number;
  next_run_at_us_with: number;

  tasks: number;
  runs: number;
  tasks_per_s: number;
  steps_per_s: number;
  /** steps/s over tasks/s, same process, interleaved. */
  steps_tasks_ratio: number;

  sleep_samples: number;
  sleep_late_p50_ms: number;
  sleep_late_p99_ms: number;
  sleep_late_max_ms: number;
  /** Lateness minus the time this process was stalled (ran nothing for > 20 ms) within it. */
  sleep_late_unstalled_p50_ms: number;
  sleep_late_unstalled_p99_ms: number;
  /** Stalls of the process while the sleepers woke, and the longest. */
  sleep_stalls: number;
  sleep_stall_max_ms: number;

  event_samples: number;
  event_p50_ms: number;
  event_p99_ms: number;
  event_max_ms: number;
}

const STEPS = 10;

/** Counts every step function call, by name: each must run exactly once per run. */
class StepCalls {
  readonly byName = new Map<string, number>();
  count(name: string): void {
    this.byName.set(name, (this.byName.get(name) ?? 0) + 1);
  }
  of(name: string): number {
    return this.byName.get(name) ?? 0;
  }
  total(): number {
    let n = 0;
    for (const v of this.byName.values()) n += v;
    return n;
  }
  reset(): void {
    this.byName.clear();
  }
}

/** The bench's workflows and what they observe. */
function benchWorkflows() {
  const calls = new StepCalls();
  const firstStep = { at: Number.NaN };
  /** Date.now() when the step after the sleep started, by run id. */
  const afterSleep = new Map<string, number>();
  /** performance.now() when the step after the wait started, by event key. */
  const afterEvent = new Map<string, number>();

  const tenSteps = defineWorkflow('ten-steps', async (ctx) => {
    for (let i = 1; i <= STEPS; i++) {
      await ctx.step(`s${i}`, () => {
        if (Number.isNaN(firstStep.at)) firstStep.at = performance.now();
        calls.count(`s${i}`);
        return null;
      });
    }
    return null;
  });
  const nap = defineWorkflow('nap', async (ctx, input: { ms: number }) => {
    await ctx.step('before', () => void calls.count('nap.before'));
    await ctx.sleep('nap', `${input.ms}ms`);
    await ctx.step('after', () => {
      afterSleep.set(ctx.runId, Date.now());
      calls.count('nap.after');
    });
  });
  const ping = defineWorkflow('ping', async (ctx, input: { key: string }) => {
    await ctx.waitForEvent('ping', { event: 'bench.ping', key: input.key, timeout: '10m' });
    await ctx.step('after', () => {
      afterEvent.set(input.key, performance.now());
      calls.count('ping.after');
    });
  });
  const sleeper = defineWorkflow('sleeper', async (ctx) => {
    await ctx.step('before', () => void calls.count('sleeper.before'));
    await ctx.sleep('long', '1h');
  });
  return { all: [tenSteps, nap, ping, sleeper] as Workflow[], calls, firstStep, afterSleep, afterEvent };
}

type Flows = ReturnType<typeof benchWorkflows>;

function runtimeOf(config: Config, flows: Flows, probe: Probe, processing = true): Promise<Runtime> {
  return createRuntime({ config, handlers: { [NOOP_TYPE]: probe.handler }, workflows: flows.all, processing });
}

async function submitTasks(runtime: Runtime, n: number): Promise<void> {
  for (let done = 0; done < n; done += 1000) {
    const size = Math.min(1000, n - done);
    await runtime.service.submitMany(Array.from({ length: size }, (_, i) => ({ input: { title: 'bench', description: 'workflows', type: NOOP_TYPE, payload: tinyPayload(done + i) } })));
  }
}

/** Starts `count` runs, `concurrency` at a time (their submits share commits). */
async function startRuns(runtime: Runtime, workflow: string, count: number, input: (i: number) => unknown, concurrency = 100): Promise<string[]> {
  const ids: string[] = [];
  for (let done = 0; done < count; done += concurrency) {
    const size = Math.min(concurrency, count - done);
    const started = await Promise.all(Array.from({ length: size }, (_, i) => runtime.workflows.startRun(workflow, { input: input(done + i) })));
    for (const { run } of started) ids.push(run.id);
  }
  return ids;
}

const scalar = async (runtime: Runtime, sql: string, args: (string | number)[] = []): Promise<number> => Number((await runtime.driver.all(sql, args))[0]!.n);

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Runs of `workflow` that ended otherwise than completed, and step records not completed: both must be 0. */
async function expectRunsCompleted(runtime: Runtime, workflow: string, runs: number, stepsPerRun: number): Promise<void> {
  const type = runType(workflow);
  const completed = await scalar(runtime, "SELECT count(*) AS n FROM tasks WHERE type = ? AND status = 'completed'", [type]);
  // The record with the empty name is the run's event mark (migration 0008), not a step.
  const steps = await scalar(runtime, "SELECT count(*) AS n FROM workflow_steps WHERE name <> '' AND status = 'completed' AND run_id IN (SELECT id FROM tasks WHERE type = ?)", [type]);
  const other = await scalar(runtime, "SELECT count(*) AS n FROM workflow_steps WHERE name <> '' AND status <> 'completed' AND run_id IN (SELECT id FROM tasks WHERE type = ?)", [type]);
  if (completed !== runs || steps !== runs * stepsPerRun || other !== 0) {
    throw new Error(`${workflow}: ${completed} of ${runs} runs completed, ${steps} of ${runs * stepsPerRun} steps completed, ${other} not completed; tasks ${JSON.stringify(await countByStatus(runtime))}`);
  }
}

// ---- 4a. memory ---------------------------------------------------------------------------

/** A full collection: the figures are what the runtime keeps, not garbage not yet collected. */
function collectGarbage(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function settledMemory(gc: () => void): Promise<{ rss: number; heap: number }> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(100);
  }
  const m = process.memoryUsage();
  return { rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20 };
}

async function memoryWithSleepers(path: string, flows: Flows, sleepers: number, options: ScenarioOptions) {
  const gc = collectGarbage();
  const probe = noopProbe();
  const runtime = await runtimeOf(benchConfig(`file:${path}`, options.env), flows, probe);
  runtime.start();
  // Warm-up, alike for "idle" and "with them": tasks and workflow runs through every path.
  const warm = options.quick ? 200 : 2000;
  await submitTasks(runtime, warm);
  await startRuns(runtime, 'ten-steps', warm / 20, () => null);
  await completions(runtime, warm + warm / 20);
  const idle = await settledMemory(gc);

  await startRuns(runtime, 'sleeper', sleepers, () => null);
  await until('the sleepers to suspend', async () => runtime.pool.counts.suspended >= sleepers);
  const sleeping = await settledMemory(gc);
  await runtime.shutdown();
  return { idle, sleeping, warmRuns: warm / 20 };
}

// ---- 4b. claim path with sleepers ----------------------------------------------------------

async function processRate(config: Config, flows: Flows, n: number): Promise<number> {
  const api = await runtimeOf(config, flows, noopProbe(), false);
  await submitTasks(api, n);
  await api.shutdown();
  const probe = noopProbe();
  const worker = await runtimeOf(config, flows, probe);
  worker.start();
  const end = await completions(worker, n);
  const rate = perSecond(n, end - probe.firstStart);
  await worker.shutdown();
  return rate;
}

/**
 * Submits one at a time, each awaited, into a processing runtime: each submit wakes the
 * poller, so claims come back short (the regime where a claim reads past every pending task
 * not yet due). First submit → N-th completion.
 */
async function trickleRate(config: Config, flows: Flows, n: number): Promise<number> {
  const worker = await runtimeOf(config, flows, noopProbe());
  worker.start();
  const before = worker.pool.counts.completed;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await worker.service.submit({ title: 'bench', description: 'trickle', type: NOOP_TYPE, payload: tinyPayload(i) });
  const end = await completions(worker, before + n);
  await worker.shutdown();
  return perSecond(n, end - t0);
}

/** µs per short claim (nothing due) and per next-due query, on what `config`'s file holds. */
async function shortClaimCost(config: Config, flows: Flows, times: number): Promise<{ claimUs: number; nextUs: number }> {
  const runtime = await runtimeOf(config, flows, noopProbe(), false);
  const claim = () => runtime.repo.claimDueTasks({ limit: 10, workerId: 'bench', leaseMs: 60_000 });
  for (let i = 0; i < 20; i++) await claim();
  let t0 = performance.now();
  for (let i = 0; i < times; i++) if ((await claim()).length > 0) throw new Error('a short claim found a due task');
  const claimUs = ((performance.now() - t0) * 1000) / times;
  t0 = performance.now();
  for (let i = 0; i < times; i++) await runtime.repo.nextRunAt();
  const nextUs = ((performance.now() - t0) * 1000) / times;
  await runtime.shutdown();
  return { claimUs, nextUs };
}

// ---- 1. steps vs tasks ---------------------------------------------------------------------

async function tenStepRuns(config: Config, flows: Flows, runs: number): Promise<number> {
  const api = await runtimeOf(config, flows, noopProbe(), false);
  await startRuns(api, 'ten-steps', runs, () => null);
  await api.shutdown();
  flows.firstStep.at = Number.NaN;
  flows.calls.reset();
  const worker = await runtimeOf(config, flows, noopProbe());
  worker.start();
  const end = await completions(worker, runs);
  const ms = end - flows.firstStep.at;
  await expectRunsCompleted(worker, 'ten-steps', runs, STEPS);
  await worker.shutdown();
  for (let i = 1; i <= STEPS; i++) if (flows.calls.of(`s${i}`) !== runs) throw new Error(`step s${i} ran ${flows.calls.of(`s${i}`)} times for ${runs} runs`);
  return ms;
}

async function noopTasks(config: Config, flows: Flows, n: number): Promise<number> {
  const api = await runtimeOf(config, flows, noopProbe(), false);
  await submitTasks(api, n);
  await api.shutdown();
  const probe = noopProbe();
  const worker = await runtimeOf(config, flows, probe);
  worker.start();
  const end = await completions(worker, n);
  const counts = await countByStatus(worker);
  await worker.shutdown();
  if (counts.completed !== n) throw new Error(`lost tasks: ${JSON.stringify(counts)}`);
  return end - probe.firstStart;
}

// ---- 2. wake-up lateness -------------------------------------------------------------------

/**
 * Stretches when this process ran nothing at all (another process had the cores, or a GC):
 * a 5 ms interval whose tick came more than STALL_MS late. Each is [from, to] in epoch ms, the
 * clock the sleeps are recorded in.
 */
const STALL_MS = 20;
function stallRecorder(): { stop(): [number, number][] } {
  const stalls: [number, number][] = [];
  let last = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    if (now - last - 5 > STALL_MS) stalls.push([last + 5, now]);
    last = now;
  }, 5);
  return { stop: () => (clearInterval(timer), stalls) };
}

/** Milliseconds of [from, to] that fall inside a stall. */
function stalledWithin(stalls: readonly [number, number][], from: number, to: number): number {
  let ms = 0;
  for (const [a, b] of stalls) ms += Math.max(0, Math.min(b, to) - Math.max(a, from));
  return ms;
}

interface Lateness {
  late: number[];
  /** Each lateness minus the time the process was stalled within it: the engine's own share. */
  unstalled: number[];
  stalls: number;
  stallMaxMs: number;
}

async function sleepLateness(config: Config, flows: Flows, samples: number, spanMs: [number, number]): Promise<Lateness> {
  const runtime = await runtimeOf(config, flows, noopProbe());
  runtime.start();
  flows.calls.reset();
  // A wake-up cannot come sooner than the process runs again: one stall of 150 ms delays every
  // wake-up due within it, about 15 of 300 here, enough to set p99 alone.
  const recorder = stallRecorder();
  const ids: string[] = [];
  for (let i = 0; i < samples; i++) {
    const ms = Math.round(spanMs[0] + Math.random() * (spanMs[1] - spanMs[0]));
    ids.push((await runtime.workflows.startRun('nap', { input: { ms } })).run.id);
    await sleep(10);
  }
  await until('the sleeping runs to complete', async () => runtime.pool.counts.completed >= samples);
  const stalls = recorder.stop();
  await expectRunsCompleted(runtime, 'nap', samples, 3);
  const late: number[] = [];
  const unstalled: number[] = [];
  for (const id of ids) {
    const wakeAt = (await runtime.workflowRepo.steps(parseTaskId(id)!)).find((s) => s.name === 'nap')!.wakeAt!;
    const started = flows.afterSleep.get(id)!;
    late.push(started - wakeAt);
    unstalled.push(started - wakeAt - stalledWithin(stalls, wakeAt, started));
  }
  await runtime.shutdown();
  if (flows.calls.of('nap.before') !== samples || flows.calls.of('nap.after') !== samples) throw new Error(`nap steps ran ${JSON.stringify([...flows.calls.byName])} for ${samples} runs`);
  return { late, unstalled, stalls: stalls.length, stallMaxMs: Math.max(0, ...stalls.map(([a, b]) => b - a)) };
}

// ---- 3. event → resumed step ---------------------------------------------------------------

async function eventLatency(config: Config, flows: Flows, samples: number, gapMs: number): Promise<number[]> {
  const runtime = await runtimeOf(config, flows, noopProbe());
  runtime.start();
  flows.calls.reset();
  const key = (i: number) => `k${i}`;
  await startRuns(runtime, 'ping', samples, (i) => ({ key: key(i) }), 10);
  const type = runType('ping');
  await until('every run to suspend on its wait', async () =>
    (await scalar(runtime, "SELECT count(*) AS n FROM tasks WHERE type = ? AND status = 'pending'", [type])) === samples &&
    (await scalar(runtime, "SELECT count(*) AS n FROM workflow_steps WHERE kind = 'wait' AND status = 'waiting'")) === samples);
  const sentAt: number[] = [];
  for (let i = 0; i < samples; i++) {
    await sleep(gapMs);
    sentAt[i] = performance.now();
    const { resumed } = await runtime.workflows.sendEvent('bench.ping', key(i), { i });
    if (resumed !== 1) throw new Error(`event ${key(i)} resumed ${resumed} runs`);
  }
  await until('the resumed runs to complete', async () => runtime.pool.counts.completed >= samples);
  await expectRunsCompleted(runtime, 'ping', samples, 2);
  await runtime.shutdown();
  if (flows.calls.of('ping.after') !== samples) throw new Error(`ping's step ran ${flows.calls.of('ping.after')} times for ${samples} runs`);
  return sentAt.map((t, i) => flows.afterEvent.get(key(i))! - t);
}

export async function workflows(options: ScenarioOptions): Promise<WorkflowsResult> {
  const q = options.quick;
  const sleepers = q ? 500 : 10_000;
  const n = q ? 500 : 20_000;
  const runs = q ? 50 : 2000;
  const rounds = q ? 1 : 3;
  const { dir, remove } = tempDir();
  const flows = benchWorkflows();
  const config = (name: string) => benchConfig(`file:${join(dir, `${name}.db`)}`, options.env);
  try {
    // 4a. first, while this process's heap holds nothing else
    const memory = await memoryWithSleepers(join(dir, 'sleepers.db'), flows, sleepers, options);
    if (flows.calls.of('sleeper.before') !== sleepers) throw new Error(`sleeper's first step ran ${flows.calls.of('sleeper.before')} times for ${sleepers} runs`);

    // 4b. the same file (its sleepers) vs an empty one, alternating
    const trickle = q ? 100 : 500;
    let withMs = 0;
    let withoutMs = 0;
    let trickleWithMs = 0;
    let trickleWithoutMs = 0;
    for (let r = 0; r < rounds; r++) {
      const arms = r % 2 === 0 ? (['without', 'sleepers'] as const) : (['sleepers', 'without'] as const);
      for (const arm of arms) {
        const rate = await processRate(config(arm), flows, n);
        if (arm === 'sleepers') withMs += (n * 1000) / rate;
        else withoutMs += (n * 1000) / rate;
      }
      for (const arm of arms) {
        const rate = await trickleRate(config(arm), flows, trickle);
        if (arm === 'sleepers') trickleWithMs += (trickle * 1000) / rate;
        else trickleWithoutMs += (trickle * 1000) / rate;
      }
    }
    const claimTimes = q ? 20 : 500;
    const shortWithout = await shortClaimCost(config('without'), flows, claimTimes);
    const shortWith = await shortClaimCost(config('sleepers'), flows, claimTimes);
    {
      const check = await runtimeOf(config('sleepers'), flows, noopProbe(), false);
      const type = runType('sleeper');
      const pending = await scalar(check, "SELECT count(*) AS n FROM tasks WHERE type = ? AND status = 'pending' AND attempts = 0", [type]);
      const napping = await scalar(check, "SELECT count(*) AS n FROM workflow_steps WHERE name = 'long' AND status = 'waiting'");
      const tasks = await countByStatus(check);
      await check.shutdown();
      const expectedTasks = (options.quick ? 200 : 2000) + rounds * (n + trickle) + memory.warmRuns + sleepers;
      if (pending !== sleepers || napping !== sleepers || tasks.completed !== expectedTasks - sleepers) {
        throw new Error(`sleepers: ${pending} of ${sleepers} pending, ${napping} sleeping; tasks ${JSON.stringify(tasks)}`);
      }
    }

    // 1. steps vs tasks, a fresh file per round
    let tasksMs = 0;
    let stepsMs = 0;
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['tasks', 'steps'] : ['steps', 'tasks'];
      for (const arm of order) {
        if (arm === 'tasks') tasksMs += await noopTasks(config(`tasks-${r}`), flows, n);
        else stepsMs += await tenStepRuns(config(`steps-${r}`), flows, runs);
      }
    }
    const tasksPerS = perSecond(rounds * n, tasksMs);
    const stepsPerS = perSecond(rounds * runs * STEPS, stepsMs);

    // 2. and 3.
    const { late, unstalled, stalls, stallMaxMs } = await sleepLateness(config('nap'), flows, q ? 20 : 300, q ? [100, 200] : [200, 500]);
    const eventMs = await eventLatency(config('ping'), flows, q ? 20 : 200, q ? 10 : 20);

    const withoutRate = perSecond(rounds * n, withoutMs);
    const withRate = perSecond(rounds * n, withMs);
    const trickleWithoutRate = perSecond(rounds * trickle, trickleWithoutMs);
    const trickleWithRate = perSecond(rounds * trickle, trickleWithMs);
    const round1 = (v: number) => Math.round(v * 10) / 10;
    return {
      sleepers,
      rss_idle_mb: round1(memory.idle.rss),
      rss_sleeping_mb: round1(memory.sleeping.rss),
      rss_ratio: memory.sleeping.rss / memory.idle.rss,
      heap_idle_mb: round1(memory.idle.heap),
      heap_sleeping_mb: round1(memory.sleeping.heap),
      process_per_s_without_sleepers: withoutRate,
      process_per_s_with_sleepers: withRate,
      process_ratio_sleepers: withRate / withoutRate,
      trickle_per_s_without_sleepers: trickleWithoutRate,
      trickle_per_s_with_sleepers: trickleWithRate,
      trickle_ratio_sleepers: trickleWithRate / trickleWithoutRate,
      short_claim_us_without: shortWithout.claimUs,
      short_claim_us_with: shortWith.claimUs,
      next_run_at_us_without: shortWithout.nextUs,
      next_run_at_us_with: shortWith.nextUs,
      tasks: n,
      runs,
      tasks_per_s: tasksPerS,
      steps_per_s: stepsPerS,
      steps_tasks_ratio: stepsPerS / tasksPerS,
      sleep_samples: late.length,
      sleep_late_p50_ms: percentile(late, 50),
      sleep_late_p99_ms: percentile(late, 99),
      sleep_late_max_ms: Math.max(...late),
      sleep_late_unstalled_p50_ms: percentile(unstalled, 50),
      sleep_late_unstalled_p99_ms: percentile(unstalled, 99),
      sleep_stalls: stalls,
      sleep_stall_max_ms: stallMaxMs,
      event_samples: eventMs.length,
      event_p50_ms: percentile(eventMs, 50),
      event_p99_ms: percentile(eventMs, 99),
      event_max_ms: Math.max(...eventMs),
    };
  } finally {
    remove();
  }
}
