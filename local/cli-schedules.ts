import { Command, Option } from 'commander';
import type { PutSchedule, ScheduleJson, ScheduleList } from '../lib/client/index.ts';
import { MISSED_POLICIES } from '../lib/schedules/model.ts';
import { CliInputError, common, fieldTable, number, plural, readInput, rowsTable, run, withCommon } from './cli-api.ts';
import { taskFlags, taskFromFlags, taskTable } from './cli-tasks.ts';

/**
 * `task-pool schedules list|get|put|delete|pause|resume|trigger`: cron schedules on a running
 * server, through the typed client. `put` (alias `create`) takes the body of
 * `PUT /schedules/:name` from a JSON file (or stdin), from flags, or both: flags win, field
 * by field, so one file can serve as a template. The server checks everything (cron, time
 * zone, the task against its handlers) and its 400 names the field. Options, output, errors
 * and exit statuses: local/cli-api.ts.
 */

export function registerScheduleCommands(program: Command): void {
  const schedules = new Command('schedules').description('cron schedules on a running server: each occurrence creates one task');

  withCommon(schedules.command('list'))
    .description('list schedules by name')
    .option('--limit <n>', '1..1000 (server default 100)', number('limit'))
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .action((opts: { limit?: number; cursor?: string }, command: Command) =>
      run(common(command), async (client, out) => out.print(await client.schedules.list(opts), scheduleListTable)),
    );

  withCommon(schedules.command('get'))
    .description('print one schedule')
    .argument('<name>')
    .action((name: string, _opts: unknown, command: Command) => run(common(command), async (client, out) => out.print(await client.schedules.get(name), scheduleTable)));

  taskFlags(withCommon(schedules.command('put')), { required: false })
    .alias('create')
    .description('create or replace a schedule, from flags, a JSON file (the body of PUT /schedules/:name) or both (flags win)')
    .argument('<name>', '1 to 200 letters, digits, ".", "_" or "-"')
    .option('--file <path>', 'JSON body: {"cron", "timezone", "missed", "paused", "task": {…}}; - reads stdin')
    .option('--cron <expr>', '5 fields (minute hour day month weekday), or 6 with seconds first')
    .option('--timezone <zone>', 'IANA time zone the cron is read in (server default UTC)')
    .addOption(new Option('--missed <policy>', 'after downtime or a pause: skip, once (the latest; server default) or all').choices(MISSED_POLICIES))
    .option('--paused', 'create it paused (a replace keeps its state unless --paused or --no-paused)')
    .option('--no-paused', 'not paused')
    .option('--delay <seconds>', "each occurrence's task runs this long after it", number('delay'))
    .action((name: string, opts: Record<string, unknown>, command: Command) =>
      run(common(command), async (client, out) => {
        const body = await scheduleBody(opts);
        return out.print((await client.schedules.put(name, body)).schedule, scheduleTable);
      }),
    );

  withCommon(schedules.command('delete'))
    .description('delete a schedule (no task is created for it once this returns)')
    .argument('<name>')
    .action((name: string, _opts: unknown, command: Command) =>
      run(common(command), async (client, out) => {
        await client.schedules.delete(name);
        return out.print({ name, deleted: true }, () => `schedule ${name} deleted`);
      }),
    );

  withCommon(schedules.command('pause'))
    .description('pause: no occurrence fires until resumed')
    .argument('<name>')
    .action((name: string, _opts: unknown, command: Command) => run(common(command), async (client, out) => out.print(await client.schedules.pause(name), scheduleTable)));

  withCommon(schedules.command('resume'))
    .description('resume: occurrences that fell due while paused follow the missed policy')
    .argument('<name>')
    .action((name: string, _opts: unknown, command: Command) => run(common(command), async (client, out) => out.print(await client.schedules.resume(name), scheduleTable)));

  withCommon(schedules.command('trigger'))
    .description('create one task from the schedule now (prints the task)')
    .argument('<name>')
    .action((name: string, _opts: unknown, command: Command) => run(common(command), async (client, out) => out.print(await client.schedules.trigger(name), taskTable)));

  program.addCommand(schedules);
}

/** The PUT body: the file's JSON (if any), then every flag given on top of it. */
async function scheduleBody(opts: Record<string, unknown>): Promise<PutSchedule> {
  let base: Record<string, unknown> = {};
  if (typeof opts.file === 'string') {
    const source = opts.file === '-' ? 'stdin' : opts.file;
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readInput(opts.file));
    } catch (error) {
      if (error instanceof CliInputError) throw error;
      throw new CliInputError(`${source} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CliInputError(`${source} must hold a JSON object (the body of PUT /schedules/:name)`);
    base = parsed as Record<string, unknown>;
  }
  const task = { ...(typeof base.task === 'object' && base.task !== null ? base.task : {}), ...defined(taskFromFlags(opts)) };
  const flags = defined({ cron: opts.cron, timezone: opts.timezone, missed: opts.missed, paused: opts.paused });
  // The server's validation names whatever is missing or wrong (`cron is required`, `task.title …`).
  return { ...base, ...flags, task } as PutSchedule;
}

/** `record` without its undefined fields, so they do not replace the file's. */
function defined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

const FIELDS = ['name', 'cron', 'timezone', 'missed', 'paused', 'next_run_at', 'last_run_at', 'version', 'created_at', 'updated_at', 'task'] as const satisfies readonly (keyof ScheduleJson)[];

/** One schedule: `field  value` lines, the task template as JSON. */
export function scheduleTable(schedule: ScheduleJson): string {
  return fieldTable(schedule, FIELDS);
}

/** A page: one row per schedule (its task as `type: title`), then the count and the next cursor. */
export function scheduleListTable(list: ScheduleList): string {
  const rows = list.schedules.map((s) => ({ ...s, task: `${s.task.type ?? 'simulate'}: ${s.task.title}` }));
  const lines = rowsTable(rows, ['name', 'cron', 'timezone', 'missed', 'paused', 'next_run_at', 'task']);
  lines.push(`${plural(list.count, 'schedule')}${list.next_cursor ? `; next page: --cursor ${list.next_cursor}` : ''}`);
  return lines.join('\n');
}
