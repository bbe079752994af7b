import { Command } from 'commander';
import type { TaskTypeList, TaskTypePause } from '../lib/client/index.ts';
import { STATUSES } from '../lib/tasks/states.ts';
import { common, fieldTable, plural, rowsTable, run, withCommon } from './cli-api.ts';

/**
 * `task-pool types list|pause|resume`: task types on a running server, through the typed
 * client. A paused type is claimed by no process or function until resumed; its submits are
 * still accepted. Options, output, errors and exit statuses: local/cli-api.ts.
 */
export function registerTypeCommands(program: Command): void {
  const types = new Command('types').description('task types on a running server: counts by status, pause and resume');

  withCommon(types.command('list'))
    .description('every registered type, every type with tasks, every paused type: counts by status and the oldest pending age')
    .action((_opts: unknown, command: Command) => run(common(command), async (client, out) => out.print(await client.types.list(), typeListTable)));

  withCommon(types.command('pause'))
    .description('stop claiming tasks of this type, in every process and function (submits are still accepted)')
    .argument('<type>')
    .action((type: string, _opts: unknown, command: Command) => run(common(command), async (client, out) => out.print(await client.types.pause(type), pauseTable)));

  withCommon(types.command('resume'))
    .description('claim tasks of this type again')
    .argument('<type>')
    .action((type: string, _opts: unknown, command: Command) => run(common(command), async (client, out) => out.print(await client.types.resume(type), pauseTable)));

  program.addCommand(types);
}

/** One row per type: paused or not, a column per status, the oldest pending task's age. */
export function typeListTable(list: TaskTypeList): string {
  const rows = list.types.map((t) => ({
    type: t.type,
    paused: t.paused,
    ...t.counts,
    oldest_pending_s: t.oldest_pending_age_seconds === null ? null : t.oldest_pending_age_seconds.toFixed(1),
  }));
  const lines = rowsTable(rows, ['type', 'paused', ...STATUSES, 'oldest_pending_s']);
  lines.push(plural(list.count, 'type'));
  return lines.join('\n');
}

function pauseTable(pause: TaskTypePause): string {
  return fieldTable(pause, ['type', 'paused', 'paused_at']);
}
