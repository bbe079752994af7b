import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createClient, TaskPoolError, type TaskPoolClient } from '../lib/client/index.ts';

/**
 * What every command that talks to a running server shares (`tasks`, `batch`, `schedules`,
 * `types`, `runs`, `events`, `workflows`; local/cli-*.ts): the options `--url`, `--token`, `--json`, the typed client
 * (lib/client/), the output (a readable table by default, one JSON document on stdout with
 * `--json`, for jq), errors on stderr as `task-pool: <status> <code>: <message>`, and an exit
 * status a script can branch on (EXIT, also in docs/cli.md).
 */

export const EXIT = {
  ok: 0,
  /** Could not reach the server, or an unexpected answer. */
  error: 1,
  /** 400, 413, 415: the request was refused as invalid (also bad command-line values or input files). */
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

export interface CommonOptions {
  url: string;
  token?: string;
  json?: boolean;
}

/** A command line or input file the server never saw was wrong: exit EXIT.invalid. */
export class CliInputError extends Error {
  override name = 'CliInputError';
}

/** Adds the options every API command takes; a usage error exits EXIT.invalid, help 0. */
export function withCommon(command: Command): Command {
  return command
    .option('--url <url>', 'server base URL (env TASK_POOL_URL)', process.env.TASK_POOL_URL ?? 'http://127.0.0.1:8080')
    // The help names where the default comes from, never the token itself.
    .addOption(new Option('--token <token>', 'bearer token (env TASK_POOL_TOKEN, else API_TOKEN)').default(process.env.TASK_POOL_TOKEN ?? process.env.API_TOKEN, 'set in the environment'))
    .option('--json', 'print JSON instead of a table')
    .exitOverride((error) => process.exit(error.exitCode === 0 ? EXIT.ok : EXIT.invalid));
}

export const common = (command: Command): CommonOptions => command.opts<CommonOptions>();

/** An option value that must be a number. */
export const number = (name: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
  return n;
};

/** An option value that must be JSON. */
export const jsonValue = (name: string) => (value: string) => {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new InvalidArgumentError(`${name} must be JSON`);
  }
};

/** The text of a file, or of stdin for `-`. */
export async function readInput(file: string): Promise<string> {
  if (file !== '-') {
    try {
      return await readFile(file, 'utf8');
    } catch (error) {
      throw new CliInputError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (process.stdin.isTTY) throw new CliInputError('reading JSON from stdin, which is a terminal: give a file, or pipe the JSON in');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Writes one document to stdout, ending with a newline. */
export const print = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);

/**
 * Runs a client command: `body` returns the exit status; an error becomes one line on stderr
 * and the status EXIT gives its HTTP status (or EXIT.invalid for a bad input file).
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

export interface Output {
  /** Prints `value`: as JSON with --json, else as `table(value)`. Answers EXIT.ok. */
  print<T>(value: T, table: (value: T) => string): number;
}

/** withClient with an Output that prints as the command's --json asks. */
export function run(options: CommonOptions, body: (client: TaskPoolClient, out: Output) => Promise<number>): Promise<void> {
  const out: Output = {
    print(value, table) {
      print(options.json ? JSON.stringify(value, null, 2) : table(value));
      return EXIT.ok;
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
  if (error instanceof CliInputError) {
    process.stderr.write(`task-pool: ${error.message}\n`);
    return EXIT.invalid;
  }
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  process.stderr.write(`task-pool: ${error instanceof Error ? error.message : String(error)}${cause}\n`);
  return EXIT.error;
}

/** A value in a table: `-` for none, strings as they are, anything else as JSON. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** One record: `field  value` lines, every field, those named in `order` first. */
export function fieldTable<T extends object>(record: T, order: readonly (keyof T)[] = []): string {
  const keys = [...order.filter((k) => k in record), ...(Object.keys(record) as (keyof T)[]).filter((k) => !order.includes(k))];
  const width = Math.max(...keys.map((k) => String(k).length));
  return keys.map((k) => `${String(k).padEnd(width)}  ${cell(record[k])}`).join('\n');
}

/** Rows under a header line, columns padded (the last one not), values on one line and cut at 60 characters. */
export function rowsTable<T>(items: readonly T[], columns: readonly (keyof T)[]): string[] {
  const rows = [columns.map(String), ...items.map((t) => columns.map((c) => cell(t[c]).replace(/\s+/g, ' ').slice(0, 60)))];
  const widths = columns.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]!))).join('  '));
}

/** `3 tasks`, `1 task`. */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
