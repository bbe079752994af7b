import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, fetch as undiciFetch, request as undiciRequest } from 'undici';
import { benchConfig, completions, countByStatus, noopProbe, startRuntime, tempDir, type ScenarioOptions } from '../harness.ts';
import { perSecond } from '../stats.ts';

const RECEIVER = fileURLToPath(new URL('../receiver.ts', import.meta.url));
const CONCURRENCY = 50;
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/**
 * `http` tasks delivered to a loopback receiver (bench/receiver.ts, its own process, answers
 * 200 at once), against two ceilings measured in the same run:
 * 1. bare fetch (the issue's reference): CONCURRENCY loops of undici `fetch` (a plain Agent),
 *    POSTing the same JSON body and reading the answer, N requests after a warm-up;
 * 2. bare request: the same loops with undici `request()`, which is what the Node transport
 *    sends with (local/http-transport.ts): the ceiling of the delivery path itself;
 * 3. tasks: N `http` tasks submitted beforehand (not timed), then a runtime with
 *    TASK_WORKERS=CONCURRENCY delivers them: signed (WEBHOOK_SECRET), through the guarded
 *    transport (local/http-transport.ts), claim → request → complete; timed from `start()` to
 *    the N-th completion committed. HTTP_MAX_PER_HOST=CONCURRENCY so both sides have the same
 *    number of requests in flight to the one receiver (the default 10 would be the limit
 *    measured, not the delivery path).
 * Both sides run in 4 alternating rounds of N/4; each figure is N over the sum of its rounds.
 */
export interface HttpDeliveryResult {
  tasks: number;
  concurrency: number;
  bare_fetch_per_s: number;
  bare_request_per_s: number;
  deliveries_per_s: number;
  /** deliveries / bare fetch: the issue's ratio. */
  ratio: number;
  /** deliveries / bare request: the share of the transport's own ceiling. */
  ratio_to_request: number;
  received: number;
}

function startReceiver(): Promise<{ proc: ChildProcess; url: string; stop: () => Promise<number> }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', RECEIVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const port = /PORT (\d+)/.exec(out)?.[1];
      if (port && !out.includes('RESOLVED')) {
        out += 'RESOLVED';
        resolve({
          proc,
          url: `http://127.0.0.1:${port}/hook`,
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

export async function httpDelivery(options: ScenarioOptions): Promise<HttpDeliveryResult> {
  const n = options.quick ? 2000 : 20_000;
  const rounds = 4;
  const perRound = n / rounds;
  const receiver = await startReceiver();
  const { dir, remove } = tempDir();
  const agent = new Agent();
  try {
    const body = JSON.stringify({ i: 0, event: 'paid' });
    const request = async () => {
      const response = await undiciFetch(receiver.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, dispatcher: agent });
      await response.text();
      if (response.status !== 200) throw new Error(`receiver answered ${response.status}`);
    };
    const viaRequest = async () => {
      const response = await undiciRequest(receiver.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, dispatcher: agent });
      await response.body.text();
      if (response.statusCode !== 200) throw new Error(`receiver answered ${response.statusCode}`);
    };
    const loops = async (total: number, send = request) => {
      let next = 0;
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < total) await send();
      }));
    };
    await loops(Math.min(2000, n / 4)); // warm-up: connections, JIT
    await loops(Math.min(2000, n / 4), viaRequest);

    // The two sides alternate in rounds of N/4, so a change of load on the shared machine
    // falls on both (one bare phase then one task phase swung the ratio 0.47–0.79 at load 5–7).
    let bareMs = 0;
    let requestMs = 0;
    let deliveryMs = 0;
    for (let round = 0; round < rounds; round++) {
      const t0 = performance.now();
      await loops(perRound);
      bareMs += performance.now() - t0;
      const tr = performance.now();
      await loops(perRound, viaRequest);
      requestMs += performance.now() - tr;

      const config = benchConfig(`file:${join(dir, `tasks-${round}.db`)}`, {
        TASK_WORKERS: String(CONCURRENCY),
        HTTP_ALLOW_PRIVATE_NETWORKS: 'true',
        HTTP_MAX_PER_HOST: String(CONCURRENCY),
        WEBHOOK_SECRET: SECRET,
        ...options.env,
      });
      const api = await startRuntime(config, noopProbe(), false);
      for (let i = 0; i < perRound; i++) {
        await api.service.submit({ title: 'bench', description: 'deliver', type: 'http', payload: { url: receiver.url, body: { i, event: 'paid' } } });
      }
      await api.shutdown();
      const worker = await startRuntime(config, noopProbe());
      const t1 = performance.now();
      worker.start();
      const end = await completions(worker, perRound);
      deliveryMs += end - t1;
      const counts = await countByStatus(worker);
      await worker.shutdown();
      if (counts.completed !== perRound) throw new Error(`not every task completed: ${JSON.stringify(counts)}`);
    }

    await agent.close();
    const received = await receiver.stop();
    const bare = perSecond(n, bareMs);
    const bareRequest = perSecond(n, requestMs);
    const deliveries = perSecond(n, deliveryMs);
    return {
      tasks: n, concurrency: CONCURRENCY, bare_fetch_per_s: bare, bare_request_per_s: bareRequest,
      deliveries_per_s: deliveries, ratio: deliveries / bare, ratio_to_request: deliveries / bareRequest, received,
    };
  } finally {
    receiver.proc.kill('SIGKILL');
    remove();
  }
}
