import { Command, InvalidArgumentError } from 'commander';
import { createClient, isFinal, TaskPoolError, type SubmitTask, type TaskJson, type TaskList, type TaskPoolClient } from '../lib/client/index.ts';
import { STATUSES, type TaskStatus } from '../lib/tasks/states.ts';

/**
 * `task-pool tasks submit|get|list|cancel|retry|wait`: the API from a shell, through the typed
 * client (lib/client/). Output is a readable table by default, JSON with `--json` (one
 * document on stdout, for jq). Errors go to stderr as `task-pool: <status> <code>: <message>`
 * with an exit status a script can branch on (EXIT below, also in docs/cli.md).
 */

export const EXIT = {
  ok: 0,
  /** Could not reach the server, or an unexpected answer. */
  error: 1,
  /** 400, 413, 415: the request was refused as invalid (also bad command-line values). */
  invalid: 2,
  unauthorized: 3,
  notFound: 4,
  /** 409: not allowed in the task's state, or an Idempotency-Key reused with another body. */
  conflict: 5,
  /** 429: rate limited or the queue is full; `Retry-After` is printed. */
  rateLimited: 6,
  /** `wait` (or `--wait`) ended before the task was final. */
  notFinal: 7,
  /** `wait` ended with the task failed or cancelled. */
  failed: 8,
} as const;

/** The options every client command takes (`--url`, `--token`, `--json`). */
export interface CommonOptions {
  url: string;
  token?: string;
  json?: boolean;
}

export const number = (name: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
  return n;
};

export const common = (command: Command): CommonOptions => command.opts<CommonOptions>();

/** Adds the common options to a client command, and its exit status on a usage error. */
export const withCommon = (command: Command) =>
  command
    .option('--url <url>', 'server base URL (env TASK_POOL_URL)', process.env.TASK_POOL_URL ?? 'http://127.0.0.1:8080')
    .option('--token <token>', 'bearer token (env TASK_POOL_TOKEN, else API_TOKEN)', process.env.TASK_POOL_TOKEN ?? process.env.API_TOKEN)
    .option('--json', 'print JSON instead of a table')
    // A usage error (missing option, bad number) exits with EXIT.invalid, help with 0.
    .exitOverride((error) => process.exit(error.exitCode === 0 ? EXIT.ok : EXIT.invalid));

/** Writes one document to stdout, ending with a newline. */
export const print = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);

/**
 * Runs a client command: `body` returns the exit status; an error becomes one line on stderr
 * and the status EXIT gives its HTTP status.
 */
export async function withClient(options: CommonOptions, body: (client: TaskPoolClient) => Promise<number>): Promise<void> {
  const client = createClient(options.url, { token: options.token });
  let code: number;
  try {
    code = await body(client);
  } catch (error) {
    code = report(error);
  }
  process.exitCode = code;
}

export function registerTaskCommands(program: Command): void {
  const tasks = new Command('tasks').description('submit, inspect and steer tasks on a running server (through the typed client)');

  withCommon(tasks.command('submit'))
    .description('submit a task (prints it; with --wait, once it is final)')
    .requiredOption('--title <text>', 'title')
    .requiredOption('--description <text>', 'description')
    .option('--type <type>', 'handler name (server default: simulate)')
    .option('--payload <json>', 'JSON payload for the handler', (value) => {
      try {
        return JSON.parse(value) as unknown;
      } catch {
        throw new InvalidArgumentError('payload must be JSON');
      }
    })
    .option('--priority <n>', 'higher runs first', number('priority'))
    .option('--delay <seconds>', 'run no sooner than this many seconds from now', number('delay'))
    .option('--run-at <iso>', 'run no sooner than this time (ISO-8601 with a zone)')
    .option('--max-attempts <n>', 'attempts before failing for good', number('max-attempts'))
    .option('--idempotency-key <key>', 'a replay of the same key answers the same task')
    .option('--wait <seconds>', 'then wait up to this long for the task to be final', number('wait'))
    .action((opts: Record<string, unknown>, command: Command) =>
      run(common(command), async (client, out) => {
        const body: SubmitTask = {
          title: opts.title as string,
          description: opts.description as string,
          type: opts.type as string | undefined,
          payload: opts.payload,
          priority: opts.priority as number | undefined,
          delay_seconds: opts.delay as number | undefined,
          run_at: opts.runAt as string | undefined,
          max_attempts: opts.maxAttempts as number | undefined,
        };
        const { task } = await client.submit(body, { idempotencyKey: opts.idempotencyKey as string | undefined });
        if (opts.wait === undefined) return out.task(task);
        return out.waited(await client.wait(task.id, opts.wait as number));
      }),
    );

  withCommon(tasks.command('get'))
    .description('print one task')
    .argument('<id>')
    .action((id: string, _opts: unknown, command: Command) => run(common(command), async (client, out) => out.task(await client.get(id))));

  withCommon(tasks.command('list'))
    .description('list tasks, newest first')
    .option('--status <status>', `one of ${STATUSES.join(', ')}`)
    .option('--type <type>', 'only this type')
    .option('--limit <n>', '1..1000 (server default 100)', number('limit'))
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .action((opts: { status?: TaskStatus; type?: string; limit?: number; cursor?: string }, command: Command) =>
      run(common(command), async (client, out) => out.list(await client.list({ status: opts.status, type: opts.type, limit: opts.limit, cursor: opts.cursor }))),
    );

  withCommon(tasks.command('cancel'))
    .description('cancel a pending or running task')
    .argument('<id>')
    .action((id: string, _opts: unknown, command: Command) => run(common(command), async (client, out) => out.task(await client.cancel(id))));

  withCommon(tasks.command('retry'))
    .description('run a failed or cancelled task again')
    .argument('<id>')
    .action((id: string, _opts: unknown, command: Command) => run(common(command), async (client, out) => out.task(await client.retry(id))));

  withCommon(tasks.command('wait'))
    .description(`wait until the task is final (exit ${EXIT.ok} completed, ${EXIT.failed} failed or cancelled, ${EXIT.notFinal} still running at the timeout)`)
    .argument('<id>')
    .option('--timeout <seconds>', 'give up after this long (longer than 60 s asks again)', number('timeout'), 60)
    .action((id: string, opts: { timeout: number }, command: Command) => run(common(command), async (client, out) => out.waited(await client.wait(id, opts.timeout))));

  program.addCommand(tasks);
}

interface Output {
  task(task: TaskJson): number;
  list(list: TaskList): number;
  /** Prints the task and answers the exit status of a wait. */
  waited(task: TaskJson): number;
}

function run(options: CommonOptions, body: (client: TaskPoolClient, out: Output) => Promise<number>): Promise<void> {
  const out: Output = {
    task(task) {
      print(options.json ? JSON.stringify(task, null, 2) : taskTable(task));
      return EXIT.ok;
    },
    list(list) {
      print(options.json ? JSON.stringify(list, null, 2) : listTable(list));
      return EXIT.ok;
    },
    waited(task) {
      out.task(task);
      if (!isFinal(task)) return EXIT.notFinal;
      return task.status === 'completed' ? EXIT.ok : EXIT.failed;
    },
  };
  return withClient(options, (client) => body(client, out));
}

function report(error: unknown): number {
  if (error instanceof TaskPoolError) {
    const retry = error.retryAfter === undefined ? '' : ` (retry after ${error.retryAfter} s)`;
    process.stderr.write(`task-pool: ${error.status} ${error.code}: ${error.message}${retry}\n`);
    if (error.status === 401) return EXIT.unauthorized;
    if (error.status === 404) return EXIT.notFound;
    if (error.status === 409) return EXIT.conflict;
    if (error.status === 429) return EXIT.rateLimited;
    if (error.status >= 400 && error.status < 500) return EXIT.invalid;
    return EXIT.error;
  }
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  process.stderr.write(`task-pool: ${error instanceof Error ? error.message : String(error)}${cause}\n`);
  return EXIT.error;
}

const FIELDS: (keyof TaskJson)[] = [
  'id', 'title', 'type', 'status', 'attempts', 'max_attempts', 'priority', 'created_at', 'run_at', 'started_at', 'completed_at',
  'locked_by', 'lease_expires_at', 'last_error', 'payload', 'result', 'description',
];

function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** One record: `field  value` lines, every field, those named in `order` first. */
export function fieldTable<T extends object>(record: T, order: readonly (keyof T)[] = []): string {
  const keys = [...order.filter((k) => k in record), ...(Object.keys(record) as (keyof T)[]).filter((k) => !order.includes(k))];
  const width = Math.max(...keys.map((k) => String(k).length));
  return keys.map((k) => `${String(k).padEnd(width)}  ${cell(record[k])}`).join('\n');
}

/** One task: `field  value` lines, every field. */
export function taskTable(task: TaskJson): string {
  return fieldTable(task, FIELDS);
}

/** Rows under a header line, columns padded, the last one cut at 60 characters. */
export function rowsTable<T>(items: readonly T[], columns: readonly (keyof T)[]): string[] {
  const rows = [columns.map(String), ...items.map((t) => columns.map((c) => cell(t[c]).replace(/\s+/g, ' ').slice(0, 60)))];
  const widths = columns.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]!))).join('  '));
}

/** A page: one row per task, then the count and the next cursor. */
export function listTable(list: TaskList): string {
  const lines = rowsTable(list.tasks, ['id', 'status', 'type', 'attempts', 'created_at', 'title']);
  lines.push(`${list.count} task${list.count === 1 ? '' : 's'}${list.next_cursor ? `; next page: --cursor ${list.next_cursor}` : ''}`);
  return lines.join('\n');
}
