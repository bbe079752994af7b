import { Command } from 'commander';
import type { BatchResult, BatchTask } from '../lib/client/index.ts';
import { CliInputError, common, plural, readInput, rowsTable, run, withCommon } from './cli-api.ts';

/**
 * `task-pool batch [file]`: many tasks in one request (`POST /tasks/batch`), all stored in one
 * transaction or none. The file (or stdin, `-` or no file) holds the tasks as a JSON array,
 * as the API's body `{"tasks": [...]}`, or as JSON Lines, one task per line (what `jq -c`
 * writes). Each task is the body of `POST /tasks`, plus an optional `idempotency_key`. The
 * server checks them and its 400 names the first bad one (`tasks[3]: title is required`).
 * Options, output, errors and exit statuses: local/cli-api.ts.
 */
export function registerBatchCommand(program: Command): void {
  withCommon(program.command('batch'))
    .description('submit many tasks at once, all or none: a JSON array, {"tasks": [...]} or JSON Lines, from a file or stdin')
    .argument('[file]', 'the tasks; - or none reads stdin', '-')
    .action((file: string, _opts: unknown, command: Command) =>
      run(common(command), async (client, out) => out.print(await client.submitBatch(parseTasks(await readInput(file), file === '-' ? 'stdin' : file)), batchTable)),
    );
}

/** The tasks in `text`: a JSON array, `{"tasks": [...]}`, or one JSON object per line. */
export function parseTasks(text: string, source: string): BatchTask[] {
  if (text.trim() === '') throw new CliInputError(`${source} holds no tasks`);
  let tasks: unknown;
  try {
    const whole = JSON.parse(text) as unknown;
    tasks = typeof whole === 'object' && whole !== null && !Array.isArray(whole) && 'tasks' in whole ? whole.tasks : whole;
  } catch {
    // Not one JSON document: JSON Lines, then.
    tasks = text.split('\n').flatMap((line, i) => {
      if (line.trim() === '') return [];
      try {
        return [JSON.parse(line) as unknown];
      } catch (error) {
        throw new CliInputError(`${source} is neither JSON nor JSON Lines: line ${i + 1}: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
  }
  // A single object is one task: JSON Lines with one line parses as one document.
  if (typeof tasks === 'object' && tasks !== null && !Array.isArray(tasks)) tasks = [tasks];
  if (!Array.isArray(tasks)) throw new CliInputError(`${source} must hold tasks: a JSON array, {"tasks": [...]} or one JSON object per line`);
  if (tasks.length === 0) throw new CliInputError(`${source} holds no tasks`);
  return tasks as BatchTask[];
}

/** One row per task, in input order, then how many were stored and how many were replays. */
export function batchTable(result: BatchResult): string {
  const replayed = result.tasks.filter((t) => t.replayed).length;
  const lines = rowsTable(result.tasks, ['id', 'status', 'type', 'replayed', 'title']);
  lines.push(`${plural(result.count, 'task')}: ${result.count - replayed} stored, ${replayed} replayed`);
  return lines.join('\n');
}
