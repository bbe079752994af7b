import type { EnvRecord } from '../lib/config/config.ts';
import { dashboardPages } from './scenarios/dashboard.ts';
import { batch } from './scenarios/batch.ts';
import { batchMemory } from './scenarios/batch-memory.ts';
import { driverCeiling } from './scenarios/driver.ts';
import { pages } from './scenarios/pages.ts';
import { retention } from './scenarios/retention.ts';
import { httpSubmit } from './scenarios/http.ts';
import { httpDelivery } from './scenarios/http-delivery.ts';
import { pickupLatency } from './scenarios/latency.ts';
import { metricsCost } from './scenarios/metrics.ts';
import { remote } from './scenarios/remote.ts';
import { scale } from './scenarios/scale.ts';
import { schedules } from './scenarios/schedules.ts';
import { throughput } from './scenarios/throughput.ts';
import { workflows } from './scenarios/workflows.ts';
import { remoteWorkflows } from './scenarios/remote-workflows.ts';
import { attempts } from './scenarios/attempts.ts';
import { debounce } from './scenarios/debounce.ts';
import { transport } from './scenarios/transport.ts';
import { flowControl } from './scenarios/flow-control.ts';

/**
 * Runs one scenario in this (fresh) process and prints `BENCH_RESULT <json>`: every trial
 * starts cold, with its own heap, so RSS figures and JIT state do not leak between trials.
 *
 *   node --import tsx bench/child.ts <scenario> '{"quick":false,"env":{}}'
 */
const SCENARIOS = ['driver', 'throughput', 'throughput-defaults', 'latency', 'http', 'scale-empty', 'scale-1m', 'remote', 'schedules', 'http-delivery', 'dashboard', 'metrics', 'batch', 'batch-memory', 'batch-memory-3', 'batch-memory-objects', 'retention', 'pages', 'workflows', 'remote-workflows', 'attempts', 'debounce', 'transport', 'flow-control'] as const;
type ScenarioName = (typeof SCENARIOS)[number];

const [name, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson ?? '{}') as { quick?: boolean; env?: EnvRecord };
const o = { quick: options.quick ?? false, env: options.env };
const processed = o.quick ? 2000 : 20_000;

async function runScenario(scenario: string): Promise<unknown> {
  switch (scenario as ScenarioName) {
    case 'driver':
      return driverCeiling(o);
    case 'throughput':
      return throughput(o);
    case 'throughput-defaults':
      return throughput({ ...o, env: { TASK_QUEUE_SIZE: '10', TASK_POLL_BATCH_SIZE: '10', ...o.env } });
    case 'latency':
      return pickupLatency(o);
    case 'http':
      return httpSubmit(o);
    case 'scale-empty':
      return scale(o, { history: 0, backlog: processed, process: processed });
    case 'scale-1m':
      return o.quick
        ? scale(o, { history: 45_000, backlog: 5000, process: processed })
        : scale(o, { history: 900_000, backlog: 100_000, process: processed });
    case 'remote':
      return remote(o);
    case 'schedules':
      return schedules(o);
    case 'http-delivery':
      return httpDelivery(o);
    case 'dashboard':
      return dashboardPages(o);
    case 'metrics':
      return metricsCost(o);
    case 'batch':
      return batch(o);
    case 'batch-memory':
      return batchMemory(o, 1);
    case 'batch-memory-3':
      return batchMemory(o, 3);
    case 'batch-memory-objects':
      return batchMemory(o, 1, 'objects');
    case 'retention':
      return retention(o);
    case 'pages':
      return pages(o);
    case 'workflows':
      return workflows(o);
    case 'remote-workflows':
      return remoteWorkflows(o);
    case 'attempts':
      return attempts(o);
    case 'debounce':
      return debounce(o);
    case 'transport':
      return transport(o);
    case 'flow-control':
      return flowControl(o);
    default:
      throw new Error(`unknown scenario ${JSON.stringify(scenario)}; one of ${SCENARIOS.join(', ')}`);
  }
}

if (name) {
  runScenario(name).then(
    (result) => {
      process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
      process.exit(0);
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
