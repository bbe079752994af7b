import { Command, Option } from 'commander';
import { isFinal, type AttemptList, type FlowControl, type SubmitTask, type TaskJson, type TaskList } from '../lib/client/index.ts';
import { STATUSES, type TaskStatus } from '../lib/tasks/states.ts';
import { common, EXIT, fieldTable, jsonValue, number, plural, rowsTable, run, withCommon, type Output } from './cli-api.ts';

/**
 * `task-pool tasks submit|get|attempts|list|cancel|retry|wait`: the task API from a shell, through the
 * typed client. Options, output, errors and exit statuses: local/cli-api.ts.
 */

/** The flags that describe a task (`tasks submit`, `schedules put`); `title` and `description` required or not. */
export function taskFlags(command: Command, { required }: { required: boolean }): Command {
  return flowFlags(command)
    .addOption(new Option('--title <text>', 'title').makeOptionMandatory(required))
    .addOption(new Option('--description <text>', 'description').makeOptionMandatory(required))
    .option('--type <type>', 'handler name (server default: simulate)')
    .option('--payload <json>', 'JSON payload for the handler', jsonValue('payload'))
    .option('--priority <n>', 'higher runs first', number('priority'))
    .option('--max-attempts <n>', 'attempts before failing for good', number('max-attempts'));
}

/** The flow-control flags (`tasks submit`, `schedules put`, `runs start`; docs/flow-control.md). */
export function flowFlags(command: Command): Command {
  return command
    .option('--flow-key <key>', 'flow control key: tasks with the same key share its limits')
    .option('--flow-parallelism <n>', 'at most this many tasks of the key in progress at once', number('flow-parallelism'))
    .option('--flow-rate <n>', 'at most this many starts of the key per --flow-period', number('flow-rate'))
    .option('--flow-period <seconds>', 'the period --flow-rate counts over', number('flow-period'));
}

/** `flow_control` from the flags, or undefined without --flow-key (the server checks the rest). */
export function flowFromFlags(opts: Record<string, unknown>): FlowControl | undefined {
  const { flowKey, flowParallelism, flowRate, flowPeriod } = opts as { flowKey?: string; flowParallelism?: number; flowRate?: number; flowPeriod?: number };
  if (flowKey === undefined) {
    if (flowParallelism !== undefined || flowRate !== undefined || flowPeriod !== undefined) throw new Error('--flow-parallelism, --flow-rate and --flow-period need --flow-key');
    return undefined;
  }
  return { key: flowKey, parallelism: flowParallelism, rate: flowRate, period_seconds: flowPeriod };
}

/** The task fields given as flags, and only those (undefined for the rest). */
export function taskFromFlags(opts: Record<string, unknown>): Partial<SubmitTask> {
  return {
    title: opts.title as string | undefined,
    description: opts.description as string | undefined,
    type: opts.type as string | undefined,
    payload: opts.payload,
    priority: opts.priority as number | undefined,
    delay_seconds: opts.delay as number | undefined,
    max_attempts: opts.maxAttempts as number | undefined,
    flow_control: flowFromFlags(opts),
  };
}

/** `debounce` / `throttle` from their flag pairs; the server says what is missing or wrong (400). */
function keyedFromFlags(opts: Record<string, unknown>): Pick<SubmitTask, 'debounce' | 'throttle'> {
  const pair = (key: unknown, seconds: unknown) => (key === undefined && seconds === undefined ? undefined : ({ key, seconds } as { key: string; seconds: number }));
  return { debounce: pair(opts.debounceKey, opts.debounceSeconds), throttle: pair(opts.throttleKey, opts.throttleSeconds) };
}

export function registerTaskCommands(program: Command): void {
  const tasks = new Command('tasks').description('submit, inspect and steer tasks on a running server (through the typed client)');

  taskFlags(withCommon(tasks.command('submit')), { required: true })
    .description('submit a task (prints it; with --wait, once it is final)')
    .option('--delay <seconds>', 'run no sooner than this many seconds from now', number('delay'))
    .option('--run-at <iso>', 'run no sooner than this time (ISO-8601 with a zone)')
    .option('--idempotency-key <key>', 'a replay of the same key answers the same task')
    .option('--debounce-key <key>', 'debounce: replace the pending task of this key (and type) instead of adding one (with --debounce-seconds)')
    .option('--debounce-seconds <seconds>', 'debounce: run this long after the latest submit of the key', number('debounce-seconds'))
    .option('--throttle-key <key>', 'throttle: add nothing while a task of this key (and type) is pending or recent (with --throttle-seconds)')
    .option('--throttle-seconds <seconds>', 'throttle: a task of the key created less than this long ago holds new submits back', number('throttle-seconds'))
    .option('--wait <seconds>', 'then wait up to this long for the task to be final', number('wait'))
    .action((opts: Record<string, unknown>, command: Command) =>
      run(common(command), async (client, out) => {
        const body = { ...taskFromFlags(opts), run_at: opts.runAt as string | undefined, ...keyedFromFlags(opts) } as SubmitTask;
        const { task, debounced, throttled } = await client.submit(body, { idempotencyKey: opts.idempotencyKey as string | undefined });
        if (debounced) process.stderr.write(`debounced into the pending task ${task.id}\n`);
        if (throttled) process.stderr.write(`throttled: task ${task.id} of the key holds it, nothing stored\n`);
        if (opts.wait === undefined) return out.print(task, taskTable);
        return waited(out, await client.wait(task.id, opts.wait as number));
      }),
    );

  withCommon(tasks.command('get'))
    .description('print one task')
    .argument('<id>')
    .action((id: string, _opts: unknown, command: Command) => run(common(command), async (client, out) => out.print(await client.get(id), taskTable)));

  withCommon(tasks.command('attempts'))
    .description('print every attempt of a task: worker, start, end, outcome and error, oldest first')
    .argument('<id>')
    .action((id: string, _opts: unknown, command: Command) => run(common(command), async (client, out) => out.print(await client.attempts(id), attemptsTable)));

  withCommon(tasks.command('list'))
    .description('list tasks, newest first')
    .option('--status <status>', `one of ${STATUSES.join(', ')}`)
    .option('--type <type>', 'only this type')
    .option('--limit <n>', '1..1000 (server default 100)', number('limit'))
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .action((opts: { status?: TaskStatus; type?: string; limit?: number; cursor?: string }, command: Command) =>
      run(common(command), async (client, out) =>
        out.print(await client.list({ status: opts.status, type: opts.type, limit: opts.limit, cursor: opts.cursor }), listTable),
      ),
    );

  withCommon(tasks.command('cancel'))
    .description('cancel a pending or running task')
    .argument('<id>')
    .action((id: string, _opts: unknown, command: Command) => run(common(command), async (client, out) => out.print(await client.cancel(id), taskTable)));

  withCommon(tasks.command('retry'))
    .description('run a failed or cancelled task again')
    .argument('<id>')
    .action((id: string, _opts: unknown, command: Command) => run(common(command), async (client, out) => out.print(await client.retry(id), taskTable)));

  withCommon(tasks.command('wait'))
    .description(`wait until the task is final (exit ${EXIT.ok} completed, ${EXIT.failed} failed or cancelled, ${EXIT.notFinal} still running at the timeout)`)
    .argument('<id>')
    .option('--timeout <seconds>', 'give up after this long (longer than 60 s asks again)', number('timeout'), 60)
    .action((id: string, opts: { timeout: number }, command: Command) => run(common(command), async (client, out) => waited(out, await client.wait(id, opts.timeout))));

  program.addCommand(tasks);
}

/** Prints the task and answers the exit status of a wait. */
function waited(out: Output, task: TaskJson): number {
  out.print(task, taskTable);
  if (!isFinal(task)) return EXIT.notFinal;
  return task.status === 'completed' ? EXIT.ok : EXIT.failed;
}

const FIELDS = [
  'id', 'title', 'type', 'status', 'attempts', 'max_attempts', 'priority', 'created_at', 'run_at', 'started_at', 'completed_at',
  'locked_by', 'lease_expires_at', 'last_error', 'flow_control', 'held_back', 'payload', 'result', 'debounce_key', 'description',
] as const satisfies readonly (keyof TaskJson)[];

/** One task: `field  value` lines, every field. */
export function taskTable(task: TaskJson): string {
  return fieldTable(task, FIELDS);
}

/** Attempts: one row per attempt, its error on the line below it. */
export function attemptsTable(list: AttemptList): string {
  const rows = rowsTable(list.attempts, ['attempt', 'outcome', 'worker', 'started_at', 'ended_at']);
  const lines = [rows[0]!];
  list.attempts.forEach((attempt, i) => {
    lines.push(rows[i + 1]!);
    if (attempt.error !== null) lines.push(`  error: ${attempt.error}`);
  });
  lines.push(plural(list.count, 'attempt'));
  return lines.join('\n');
}

/** A page: one row per task, then the count and the next cursor. */
export function listTable(list: TaskList): string {
  const lines = rowsTable(list.tasks, ['id', 'status', 'type', 'attempts', 'created_at', 'title']);
  lines.push(`${plural(list.count, 'task')}${list.next_cursor ? `; next page: --cursor ${list.next_cursor}` : ''}`);
  return lines.join('\n');
}
