import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchConfig, completions, countByStatus, noopProbe, startRuntime, tempDir, type ScenarioOptions } from '../harness.ts';
import { perSecond } from '../stats.ts';

const RECEIVER = fileURLToPath(new URL('../receiver.ts', import.meta.url));
const APP = fileURLToPath(new URL('../workflow-app.ts', import.meta.url));
const CONCURRENCY = 50;
const STEPS = 10;
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/**
 * Remote workflow steps (lib/workflows/remote.ts) against `http` task deliveries, in the same
 * run, both to loopback peers in their own processes (issue 22's target: steps ≥ 0.6×
 * deliveries; a remote step is one signed delivery plus a recorded write):
 * 1. deliveries: N `http` tasks submitted beforehand, delivered by a runtime with
 *    TASK_WORKERS=CONCURRENCY and HTTP_MAX_PER_HOST=CONCURRENCY to bench/receiver.ts (200 at
 *    once), as the `http-delivery` scenario does;
 * 2. steps: N/STEPS runs of a STEPS-step no-op workflow served with `serve()` on node:http
 *    (bench/workflow-app.ts), registered with max_per_host=CONCURRENCY, started beforehand,
 *    then advanced by a runtime with TASK_WORKERS=CONCURRENCY: each advance is one signed POST
 *    carrying the run's records, its answer verified, checked and committed; a run goes on in
 *    the same execution (`continue`) until the answer that completes it.
 * Both timed from `start()` to the last completion committed, in 4 alternating rounds; each
 * figure is its total over the sum of its rounds.
 */
export interface RemoteWorkflowsResult {
  steps: number;
  deliveries: number;
  concurrency: number;
  deliveries_per_s: number;
  steps_per_s: number;
  /** steps / deliveries: the issue's ratio. */
  ratio: number;
  app_steps_run: number;
}

function startPeer(script: string, env: Record<string, string> = {}): Promise<{ proc: ChildProcess; port: number; stop: () => Promise<number> }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let out = '';
    let resolved = false;
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const port = /PORT (\d+)/.exec(out)?.[1];
      if (port && !resolved) {
        resolved = true;
        resolve({
          proc,
          port: Number(port),
          stop: () =>
            new Promise((done) => {
              proc.once('exit', () => done(Number(/COUNT (\d+)/.exec(out)?.[1] ?? -1)));
              proc.kill('SIGTERM');
            }),
        });
      }
    });
    proc.once('error', reject);
  });
}

export async function remoteWorkflows(options: ScenarioOptions): Promise<RemoteWorkflowsResult> {
  const n = options.quick ? 2000 : 20_000;
  const rounds = 4;
  const perRound = n / rounds;
  const runsPerRound = perRound / STEPS;
  const receiver = await startPeer(RECEIVER);
  const app = await startPeer(APP, { STEPS: String(STEPS), SECRET });
  const { dir, remove } = tempDir();
  try {
    const env = {
      TASK_WORKERS: String(CONCURRENCY),
      HTTP_ALLOW_PRIVATE_NETWORKS: 'true',
      HTTP_MAX_PER_HOST: String(CONCURRENCY),
      WEBHOOK_SECRET: SECRET,
      ...options.env,
    };
    let deliveryMs = 0;
    let stepsMs = 0;
    for (let round = 0; round < rounds; round++) {
      const deliveryConfig = benchConfig(`file:${join(dir, `tasks-${round}.db`)}`, env);
      const api = await startRuntime(deliveryConfig, noopProbe(), false);
      for (let i = 0; i < perRound; i++) {
        await api.service.submit({ title: 'bench', description: 'deliver', type: 'http', payload: { url: `http://127.0.0.1:${receiver.port}/hook`, body: { i, event: 'paid' } } });
      }
      await api.shutdown();
      const deliverer = await startRuntime(deliveryConfig, noopProbe());
      const t0 = performance.now();
      deliverer.start();
      deliveryMs += (await completions(deliverer, perRound)) - t0;
      const delivered = await countByStatus(deliverer);
      await deliverer.shutdown();
      if (delivered.completed !== perRound) throw new Error(`not every http task completed: ${JSON.stringify(delivered)}`);

      const runsConfig = benchConfig(`file:${join(dir, `runs-${round}.db`)}`, env);
      const starter = await startRuntime(runsConfig, noopProbe(), false);
      await starter.workflows.putRemote('bench-steps', { url: `http://127.0.0.1:${app.port}/`, signing_secret: null, timeout_seconds: 30, max_per_host: CONCURRENCY });
      for (let i = 0; i < runsPerRound; i++) await starter.workflows.startRun('bench-steps', { input: i });
      await starter.shutdown();
      const advancer = await startRuntime(runsConfig, noopProbe());
      const t1 = performance.now();
      advancer.start();
      stepsMs += (await completions(advancer, runsPerRound)) - t1;
      const ran = await countByStatus(advancer);
      const recorded = Number((await advancer.driver.all("SELECT count(*) AS n FROM workflow_steps WHERE name <> '' AND status = 'completed'"))[0]!.n);
      await advancer.shutdown();
      if (ran.completed !== runsPerRound || recorded !== perRound) throw new Error(`not every run completed with its steps: ${JSON.stringify(ran)}, ${recorded} steps of ${perRound}`);
    }
    await receiver.stop();
    const appSteps = await app.stop();
    const deliveries = perSecond(n, deliveryMs);
    const steps = perSecond(n, stepsMs);
    return { steps: n, deliveries: n, concurrency: CONCURRENCY, deliveries_per_s: deliveries, steps_per_s: steps, ratio: steps / deliveries, app_steps_run: appSteps };
  } finally {
    receiver.proc.kill('SIGKILL');
    app.proc.kill('SIGKILL');
    remove();
  }
}
