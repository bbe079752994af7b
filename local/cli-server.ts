import { loadConfig } from '../lib/config/config.ts';
import { createLogger } from '../lib/foundation/log.ts';
import { pollWithinBudget } from '../lib/wiring/processing-cycle.ts';
import { migrateDatabase } from './database.ts';
import { createRuntime, loadHandlersModule, type RuntimeOptions } from './runtime.ts';
import { handleSignals, listen, logStartup } from './server.ts';

/**
 * What `task-pool serve | worker | migrate | poll --once` run, configured by the environment.
 * local/cli.ts loads this module only for those commands: the API commands (tasks, batch,
 * schedules, types) never start the server's modules.
 */

export interface ServerCommandOptions {
  handlers?: string;
}

async function runtimeOptions(opts: ServerCommandOptions): Promise<RuntimeOptions> {
  return opts.handlers ? await loadHandlersModule(opts.handlers) : {};
}

export async function serve(opts: ServerCommandOptions): Promise<void> {
  const runtime = await createRuntime(await runtimeOptions(opts));
  const { http, url } = await listen(runtime);
  handleSignals(runtime, http);
  runtime.start();
  logStartup(runtime, 'serve', url);
}

export async function worker(opts: ServerCommandOptions): Promise<void> {
  const runtime = await createRuntime(await runtimeOptions(opts));
  handleSignals(runtime);
  runtime.start();
  logStartup(runtime, 'worker');
}

export async function migrate(): Promise<void> {
  const config = loadConfig(process.env);
  await migrateDatabase({ url: config.databaseUrl, authToken: config.databaseAuthToken });
  createLogger(config.logLevel).info('migrations applied');
}

export async function pollOnce(opts: ServerCommandOptions): Promise<void> {
  const runtime = await createRuntime({ ...(await runtimeOptions(opts)), processing: false });
  const summary = await pollWithinBudget(runtime, { workerId: runtime.workerId, metrics: runtime.metrics });
  await runtime.shutdown();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}
