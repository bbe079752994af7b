import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { isFinal, type PutWorkflow, type RunDetail, type RunJson, type RunList, type StepJson, type WorkflowJson, type WorkflowList } from '../lib/client/index.ts';
import { STATUSES, type TaskStatus } from '../lib/tasks/states.ts';
import { common, EXIT, fieldTable, number, print, rowsTable, withClient, withCommon, type CommonOptions } from './cli-api.ts';
import { flowFlags, flowFromFlags } from './cli-tasks.ts';

/**
 * `task-pool runs start|get|list|cancel|retry|wait`, `task-pool events send` and
 * `task-pool workflows list|get|put|delete`: the workflow routes from a shell, through the typed client, with
 * the options, output (a table, or JSON with `--json`) and exit statuses of `task-pool tasks …`
 * (local/cli-api.ts, docs/cli.md).
 */

/** A JSON value from the command line: inline, `@file`, or `@-` for stdin. */
const jsonValue = (name: string) => (value: string) => {
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = readFileSync(value === '@-' ? 0 : value.slice(1), 'utf8');
    } catch (error) {
      throw new InvalidArgumentError(`${name}: cannot read ${value.slice(1) || 'stdin'}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidArgumentError(`${name} must be JSON (inline, or @file)`);
  }
};

const RUN_FIELDS: (keyof RunJson)[] = ['id', 'workflow', 'status', 'attempts', 'created_at', 'run_at', 'started_at', 'completed_at', 'updated_at', 'waiting_for', 'error', 'input', 'output'];

/** One run: its fields, then its steps (when read with them) as rows. */
export function runTable(run: RunJson | RunDetail): string {
  const { steps, ...fields } = run as RunDetail;
  const lines = [fieldTable(fields, RUN_FIELDS)];
  if (steps !== undefined) {
    lines.push('');
    if (steps.length === 0) lines.push('no steps recorded yet');
    else lines.push(...rowsTable<StepJson>(steps, ['name', 'kind', 'status', 'attempts', 'started_at', 'completed_at', 'wake_at', 'error']));
  }
  return lines.join('\n');
}

export function runListTable(list: RunList): string {
  const lines = rowsTable(list.runs, ['id', 'status', 'workflow', 'attempts', 'created_at', 'updated_at']);
  lines.push(`${list.count} run${list.count === 1 ? '' : 's'}${list.next_cursor ? `; next page: --cursor ${list.next_cursor}` : ''}`);
  return lines.join('\n');
}

export function workflowListTable(list: WorkflowList): string {
  if (list.workflows.length === 0) return 'no workflows registered on this server';
  // The URL column only when some workflow is served by an app (registered by URL).
  const anyRemote = list.workflows.some((w) => w.remote !== undefined);
  const rows = list.workflows.map((w) => ({
    name: w.name,
    ...Object.fromEntries(STATUSES.map((s) => [s, w.runs[s] ?? 0])),
    oldest_pending_at: w.oldest_pending_at,
    url: w.remote?.url ?? '(in process)',
  }));
  return rowsTable(rows as Record<string, unknown>[], ['name', ...STATUSES, 'oldest_pending_at', ...(anyRemote ? ['url'] : [])]).join('\n');
}

function workflowTable(workflow: WorkflowJson): string {
  const { remote, runs, ...fields } = workflow;
  return fieldTable({ ...fields, ...Object.fromEntries(STATUSES.map((s) => [s, runs[s] ?? 0])), ...(remote ?? { url: '(in process)' }) });
}

export function registerWorkflowCommands(program: Command): void {
  const show = (options: CommonOptions, value: unknown, table: () => string) => {
    print(options.json ? JSON.stringify(value, null, 2) : table());
    return EXIT.ok;
  };
  /** Prints the run and answers the exit status of a wait (as `tasks wait`). */
  const waited = (options: CommonOptions, run: RunDetail) => {
    show(options, run, () => runTable(run));
    if (!isFinal(run)) return EXIT.notFinal;
    return run.status === 'completed' ? EXIT.ok : EXIT.failed;
  };

  const runs = new Command('runs').description('start, inspect and steer workflow runs on a running server (through the typed client)');

  flowFlags(withCommon(runs.command('start')))
    .description('start a run of a workflow (prints it; with --wait, once it has ended)')
    .argument('<workflow>', 'a workflow registered on the server')
    .option('--input <json>', 'the run\'s input: JSON, or @file (@- for stdin)', jsonValue('input'))
    .option('--idempotency-key <key>', 'a replay of the same key answers the same run')
    .option('--delay <seconds>', 'start no sooner than this many seconds from now', number('delay'))
    .option('--run-at <iso>', 'start no sooner than this time (ISO-8601 with a zone)')
    .option('--wait <seconds>', 'then wait up to this long for the run to end', number('wait'))
    .action((workflow: string, opts: { input?: unknown; idempotencyKey?: string; delay?: number; runAt?: string; wait?: number } & Record<string, unknown>, command: Command) =>
      withClient(common(command), async (client) => {
        const start = { input: opts.input, delay_seconds: opts.delay, run_at: opts.runAt, flow_control: flowFromFlags(opts) };
        const { run } = await client.startRun(workflow, start, { idempotencyKey: opts.idempotencyKey });
        if (opts.wait === undefined) return show(common(command), run, () => runTable(run));
        return waited(common(command), await client.waitRun(run.id, opts.wait));
      }),
    );

  withCommon(runs.command('get'))
    .description('print one run with its steps and what it waits for')
    .argument('<id>')
    .action((id: string, _opts: unknown, command: Command) =>
      withClient(common(command), async (client) => {
        const run = await client.getRun(id);
        return show(common(command), run, () => runTable(run));
      }),
    );

  withCommon(runs.command('list'))
    .description('list runs, newest first')
    .option('--workflow <name>', 'only runs of this workflow')
    .option('--status <status>', `one of ${STATUSES.join(', ')}`)
    .option('--limit <n>', '1..1000 (server default 100)', number('limit'))
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .action((opts: { workflow?: string; status?: TaskStatus; limit?: number; cursor?: string }, command: Command) =>
      withClient(common(command), async (client) => {
        const list = await client.listRuns(opts);
        return show(common(command), list, () => runListTable(list));
      }),
    );

  withCommon(runs.command('cancel'))
    .description('cancel a run and the child runs it started')
    .argument('<id>')
    .action((id: string, _opts: unknown, command: Command) =>
      withClient(common(command), async (client) => {
        const run = await client.cancelRun(id);
        return show(common(command), run, () => runTable(run));
      }),
    );

  withCommon(runs.command('retry'))
    .description('resume a failed or cancelled run at the step that failed')
    .argument('<id>')
    .action((id: string, _opts: unknown, command: Command) =>
      withClient(common(command), async (client) => {
        const run = await client.retryRun(id);
        return show(common(command), run, () => runTable(run));
      }),
    );

  withCommon(runs.command('wait'))
    .description(`wait until the run has ended (exit ${EXIT.ok} completed, ${EXIT.failed} failed or cancelled, ${EXIT.notFinal} not ended at the timeout)`)
    .argument('<id>')
    .option('--timeout <seconds>', 'give up after this long (longer than 60 s asks again)', number('timeout'), 60)
    .action((id: string, opts: { timeout: number }, command: Command) => withClient(common(command), async (client) => waited(common(command), await client.waitRun(id, opts.timeout))));

  const events = new Command('events').description('send events that workflow runs wait for');
  withCommon(events.command('send'))
    .description('send an event; prints how many waiting runs it resumed')
    .argument('<event>', 'the event name a workflow waits for')
    .option('--key <key>', 'only waits for this key match (an order id, a user id)')
    .option('--payload <json>', 'what the wait returns: JSON, or @file (@- for stdin)', jsonValue('payload'))
    .action((event: string, opts: { key?: string; payload?: unknown }, command: Command) =>
      withClient(common(command), async (client) => {
        const result = await client.sendEvent({ event, key: opts.key, payload: opts.payload });
        return show(common(command), result, () => fieldTable(result));
      }),
    );

  const workflows = new Command('workflows').description('the workflows registered on a running server');
  withCommon(workflows.command('list'))
    .description('each workflow with its runs by status')
    .action((_opts: unknown, command: Command) =>
      withClient(common(command), async (client) => {
        const list = await client.listWorkflows();
        return show(common(command), list, () => workflowListTable(list));
      }),
    );
  withCommon(workflows.command('get'))
    .description('one workflow: its runs by status and, for one served by an app, its URL')
    .argument('<name>')
    .action((name: string, _opts: unknown, command: Command) =>
      withClient(common(command), async (client) => {
        const workflow = await client.getWorkflow(name);
        return show(common(command), workflow, () => workflowTable(workflow));
      }),
    );
  withCommon(workflows.command('put'))
    .description('register a workflow served by your app at a URL, or replace its registration (docs/workflow-protocol.md)')
    .argument('<name>')
    .argument('<workflow-url>', 'where each advance is POSTed (http or https; the SSRF guard applies)')
    .option('--signing-secret <secret>', 'signs requests and verifies answers (default WEBHOOK_SECRET); never shown again')
    .option('--timeout <seconds>', 'per advance (server default 30)', number('timeout'))
    .option('--max-per-host <n>', 'advances in flight to its host per process (server default HTTP_MAX_PER_HOST)', number('max-per-host'))
    .action((name: string, workflowUrl: string, opts: { signingSecret?: string; timeout?: number; maxPerHost?: number }, command: Command) =>
      withClient(common(command), async (client) => {
        const body: PutWorkflow = { url: workflowUrl, signing_secret: opts.signingSecret, timeout_seconds: opts.timeout, max_per_host: opts.maxPerHost };
        const { workflow } = await client.putWorkflow(name, body);
        return show(common(command), workflow, () => workflowTable(workflow));
      }),
    );
  withCommon(workflows.command('delete'))
    .description('remove a workflow registered by URL (refused while it has active runs, unless --force)')
    .argument('<name>')
    .option('--force', 'cancel its pending and running runs (children too) first')
    .action((name: string, opts: { force?: boolean }, command: Command) =>
      withClient(common(command), async (client) => {
        const result = await client.deleteWorkflow(name, { force: opts.force });
        return show(common(command), result, () => `workflow ${name} deleted${result.cancelled_runs > 0 ? `; ${result.cancelled_runs} runs cancelled` : ''}`);
      }),
    );

  program.addCommand(runs);
  program.addCommand(events);
  program.addCommand(workflows);
}
