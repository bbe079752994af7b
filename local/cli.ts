import { Command } from 'commander';
import { registerBatchCommand } from './cli-batch.ts';
import { registerScheduleCommands } from './cli-schedules.ts';
import type { ServerCommandOptions } from './cli-server.ts';
import { registerTaskCommands } from './cli-tasks.ts';
import { registerTypeCommands } from './cli-types.ts';
import { registerWorkflowCommands } from './cli-workflows.ts';
import { packageVersion } from './version.ts';

/**
 * `task-pool serve | worker | migrate | poll --once`, configured by the environment; and
 * `tasks | batch | schedules | types | runs | events | workflows …`, which talk to a running
 * server (local/cli-api.ts).
 */
const program = new Command('task-pool')
  .description('A durable task queue: REST API, libSQL storage, fixed-concurrency worker pool.')
  .version(packageVersion())
  .showHelpAfterError();

const handlersOption = ['--handlers <module>', 'module exporting `handlers` (task type → async function) and/or `workflows` (defineWorkflow results)'] as const;

// The server's modules load only for the commands that run them: without them an API command
// (tasks, batch, schedules, types) starts on about a quarter of the CPU (0.4 s instead of
// 1.6 s here), which a script calling it in a loop feels.
const server = () => import('./cli-server.ts');

program
  .command('serve')
  .description('HTTP API plus the worker pool (the default for `npm start`)')
  .option(...handlersOption)
  .action(async (opts: ServerCommandOptions) => (await server()).serve(opts));

program
  .command('worker')
  .description('the worker pool without HTTP: scale processing apart from the API')
  .option(...handlersOption)
  .action(async (opts: ServerCommandOptions) => (await server()).worker(opts));

program
  .command('migrate')
  .description('apply database migrations (also done at start-up); re-running is a no-op')
  .action(async () => (await server()).migrate());

program
  .command('poll')
  .description('claim and process due tasks once, within POLL_BUDGET_SECONDS, then print a summary')
  .requiredOption('--once', 'run one poll and exit (the only mode; the cron of a serverless deploy calls the same code)')
  .option(...handlersOption)
  .action(async (opts: ServerCommandOptions) => (await server()).pollOnce(opts));

registerTaskCommands(program);
registerBatchCommand(program);
registerScheduleCommands(program);
registerTypeCommands(program);
registerWorkflowCommands(program);

// A configuration error (lib/config/config.ts ConfigError) is one line naming the variable.
program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`task-pool: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
