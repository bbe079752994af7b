import { Command } from 'commander';
import { ConfigError, loadConfig } from '../lib/config/config.ts';
import { createLogger } from '../lib/foundation/log.ts';
import { registerBatchCommand } from './cli-batch.ts';
import { registerScheduleCommands } from './cli-schedules.ts';
import { registerTaskCommands } from './cli-tasks.ts';
import { registerTypeCommands } from './cli-types.ts';
import { registerWorkflowCommands } from './cli-workflows.ts';
import { migrateDatabase } from './database.ts';
import { handleSignals, listen, logStartup } from './server.ts';
import { createRuntime, loadHandlersModule, type RuntimeOptions } from './runtime.ts';
import { pollWithinBudget } from '../lib/wiring/processing-cycle.ts';

/**
 * `task-pool serve | worker | migrate | poll --once`, configured by the environment; and
 * `tasks | batch | schedules | types | runs | events | workflows …`, which talk to a running
 * server (local/cli-api.ts).
 */
const program = new Command('task-pool')
  .description('A durable task queue: REST API, libSQL storage, fixed-concurrency worker pool.')
  .showHelpAfterError();

const handlersOption = ['--handlers <module>', 'module exporting `handlers` (task type → async function) and/or `workflows` (defineWorkflow results)'] as const;

async function runtimeOptions(opts: { handlers?: string }): Promise<RuntimeOptions> {
  return opts.handlers ? await loadHandlersModule(opts.handlers) : {};
}

program
  .command('serve')
  .description('HTTP API plus the worker pool (the default for `npm start`)')
  .option(...handlersOption)
  .action(async (opts: { handlers?: string }) => {
    const runtime = await createRuntime(await runtimeOptions(opts));
    const { http, url } = await listen(runtime);
    handleSignals(runtime, http);
    runtime.start();
    logStartup(runtime, 'serve', url);
  });

program
  .command('worker')
  .description('the worker pool without HTTP: scale processing apart from the API')
  .option(...handlersOption)
  .action(async (opts: { handlers?: string }) => {
    const runtime = await createRuntime(await runtimeOptions(opts));
    handleSignals(runtime);
    runtime.start();
    logStartup(runtime, 'worker');
  });

program
  .command('migrate')
  .description('apply database migrations (also done at start-up); re-running is a no-op')
  .action(async () => {
    const config = loadConfig(process.env);
    await migrateDatabase({ url: config.databaseUrl, authToken: config.databaseAuthToken });
    createLogger(config.logLevel).info('migrations applied');
  });

program
  .command('poll')
  .description('claim and process due tasks once, within POLL_BUDGET_SECONDS, then print a summary')
  .requiredOption('--once', 'run one poll and exit (the only mode; the cron of a serverless deploy calls the same code)')
  .option(...handlersOption)
  .action(async (opts: { handlers?: string }) => {
    const runtime = await createRuntime({ ...(await runtimeOptions(opts)), processing: false });
    const summary = await pollWithinBudget(runtime, { workerId: runtime.workerId, metrics: runtime.metrics });
    await runtime.shutdown();
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  });

registerTaskCommands(program);
registerBatchCommand(program);
registerScheduleCommands(program);
registerTypeCommands(program);
registerWorkflowCommands(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`task-pool: ${error.message}\n`);
  } else {
    process.stderr.write(`task-pool: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exit(1);
});
