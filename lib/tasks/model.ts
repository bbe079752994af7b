import * as z from 'zod';
import '../foundation/zod-openapi.ts';
import type { tasks } from '../db/schema.ts';
import { isoTime } from '../foundation/iso-time.ts';
import { formatTaskId } from './ids.ts';
import { STATUSES } from './states.ts';

/**
 * A task's fields, derived from the two places they are written down: the drizzle table
 * (lib/db/schema.ts: columns, SQL types, nullability) and the API schema below (`TaskSchema`:
 * JSON names and shapes), which gives `TaskJson`, the stored `Task` (each field's stored form
 * by its kind, below) and, at run time, the field list (`taskFields`) that the repository
 * builds its SQL column lists from and the mappers below walk. The type `_TableAgrees` fails
 * to compile when `Task` and the table's row differ in a name or a type;
 * test/task-fields.test.ts fails when the table and the API schema disagree at run time.
 *
 * The field list is read from the zod schema rather than from the drizzle table because the
 * table's runtime objects would put drizzle's column classes into the Workers bundle
 * (bench/README.md, "Figures behind the code"); zod is there anyway. The table is
 * used for types only.
 */

const timestamp = () => z.iso.datetime({ offset: false });

/** A task id as clients see it (lib/tasks/ids.ts): stored as the integer rowid. */
export const TaskIdSchema = z.string().regex(/^\d{16}$/).openapi({
  description: 'Opaque and time-ordered: 16 digits, so string order is creation order. Ids from before the rowid migration (UUIDs) are still accepted where an id is passed in.',
  example: '0247195238400000',
});

/** What a task's flow control is, as submitted and stored (docs/flow-control.md). */
export interface FlowControl {
  key: string;
  parallelism?: number;
  rate?: number;
  period_seconds?: number;
}

/**
 * The task as stored and shown: every field is a column (test/task-fields.test.ts holds the
 * two together). `TaskSchema` adds what is computed when a task is read.
 */
export const StoredTaskSchema = z
  .object({
    id: TaskIdSchema,
    title: z.string(),
    description: z.string(),
    status: z.enum(STATUSES),
    version: z.number().int(),
    type: z.string(),
    payload: z.unknown(),
    priority: z.number().int(),
    run_at: timestamp(),
    attempts: z.number().int(),
    max_attempts: z.number().int(),
    lease_expires_at: timestamp().nullable(),
    locked_by: z.string().nullable(),
    last_error: z.string().nullable(),
    result: z.unknown(),
    progress: z.unknown().openapi({ description: 'What the running handler last reported (`ctx.progress`): any JSON value of at most 1 KB, written at most once a second and with the attempt\'s final write; null until reported.' }),
    idempotency_key: z.string().nullable(),
    debounce_key: z.string().nullable().openapi({ description: 'The key of the `debounce` or `throttle` this task was submitted with (scoped by its type; docs/debounce.md), or null.' }),
    flow_control: z.unknown().openapi({
      description: 'The flow control the task was submitted with, `{key, parallelism?, rate?, period_seconds?}`, or null (docs/flow-control.md).',
    }),
    created_at: timestamp(),
    started_at: timestamp().nullable(),
    completed_at: timestamp().nullable(),
    updated_at: timestamp(),
  });

/** The task as clients see it: every field present, unset ones `null`, ISO-8601 UTC times. */
export const TaskSchema = StoredTaskSchema.extend({
  held_back: z.string().nullable().openapi({
    description:
      'Why a due pending task is not claimed now: its flow key is at its limit (`key acme: 2 of 2 running`, `key acme: 5 starts in the last 1 s (rate 5)`). Computed when the task is read by GET /tasks/:id and GET /tasks; null otherwise.',
    example: null,
  }),
}).openapi('Task');

export type TaskJson = z.infer<typeof TaskSchema>;

type Shape = typeof StoredTaskSchema.shape;
/** A field's stored form: ISO times as epoch milliseconds, JSON values as their JSON text (SQL NULL when absent). */
type Stored<S> = S extends z.ZodNullable<infer Inner> ? Stored<Inner> | null : S extends z.ZodISODateTime ? number : S extends z.ZodUnknown ? string | null : z.output<S>;

/**
 * A task as stored: the integer id, timestamps in epoch milliseconds, JSON values as JSON text.
 * Derived from the API schema rather than from the table's row type so that the package's
 * declarations never load drizzle's, which do not compile under a user's default `tsc`
 * (docs/package.md, "TypeScript"); `_TableAgrees` holds it to the table.
 */
export type Task = { -readonly [K in keyof Shape as Camel<K & string>]: K extends 'id' ? number : Stored<Shape[K]> };

/** A task not yet inserted: the insert assigns its id (lib/tasks/repository.ts). */
export type NewTask = Omit<Task, 'id'>;

type Camel<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compile-time: `Task` is the table's row (less internal columns), name for name and type for type. */
const _TableAgrees: Same<Task, Omit<typeof tasks.$inferSelect, 'requestHash' | 'legacyId' | 'flowKey'>> = true;
void _TableAgrees;

/**
 * How a field is stored and shown: `id` integer ↔ fixed-width string (lib/tasks/ids.ts);
 * `time` integer ms ↔ ISO string; `json` JSON text ↔ value; `int` and `text` as they are.
 */
export type FieldKind = 'id' | 'time' | 'json' | 'int' | 'text';

export interface TaskField {
  /** The JSON name, which is also the SQL column name. */
  name: string;
  /** The property of `Task`. */
  key: keyof Task;
  kind: FieldKind;
  nullable: boolean;
}

function fieldKind(schema: z.ZodType): FieldKind {
  if (schema === TaskIdSchema) return 'id';
  const def = schema._zod.def as { type: string; format?: string };
  if (def.type === 'unknown') return 'json';
  if (def.type === 'number') return 'int';
  if (def.type === 'string' && def.format === 'datetime') return 'time';
  return 'text';
}

const camel = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof Task;

/** Every field of a task, in the API schema's order. */
export const taskFields: readonly TaskField[] = Object.entries(StoredTaskSchema.shape).map(([name, schema]) => {
  const inner = schema instanceof z.ZodNullable ? (schema.unwrap() as z.ZodType) : (schema as z.ZodType);
  // A JSON value can be JSON null: stored as SQL NULL when absent, so always nullable.
  const kind = fieldKind(inner);
  return { name, key: camel(name), kind, nullable: schema instanceof z.ZodNullable || kind === 'json' };
});

const FIELD_BY_KEY = new Map(taskFields.map((field) => [field.key, field]));

/** The SQL column of a `Task` property. */
export function columnOf(key: keyof Task): string {
  const field = FIELD_BY_KEY.get(key);
  if (!field) throw new Error(`no task field ${String(key)}`);
  return field.name;
}

/** One column's SQL value → the stored field. */
const storedValue = (field: TaskField, value: unknown): unknown =>
  value === null || value === undefined ? null : field.kind === 'text' || field.kind === 'json' ? String(value) : Number(value);

/** A row as the drivers return it (column name → SQL value) → the stored task. */
export function rowToTask(row: Record<string, unknown>): Task {
  const task: Record<string, unknown> = {};
  for (const field of taskFields) task[field.key] = storedValue(field, row[field.name]);
  return task as Task;
}

/** The same for a row as an array of values in `taskFields` order (the drivers' `values`). */
export function valuesToTask(values: readonly unknown[]): Task {
  const task: Record<string, unknown> = {};
  for (let i = 0; i < taskFields.length; i++) task[taskFields[i]!.key] = storedValue(taskFields[i]!, values[i]);
  return task as Task;
}

/** The task's JSON; `heldBack` is the computed `held_back` (null unless a read computed it). */
export function taskToJson(task: Task, heldBack: string | null = null): TaskJson {
  const json: Record<string, unknown> = {};
  for (const field of taskFields) {
    const value = task[field.key];
    if (value === null) json[field.name] = null;
    else if (field.kind === 'time') json[field.name] = isoTime(value as number);
    else if (field.kind === 'id') json[field.name] = formatTaskId(value as number);
    else if (field.kind === 'json') json[field.name] = JSON.parse(value as string);
    else json[field.name] = value;
  }
  json.held_back = heldBack;
  return json as TaskJson;
}

/**
 * `JSON.stringify(taskToJson(task))`, with `tail` (`,"name":value…`) added before the closing
 * brace, written without parsing the JSON fields: their stored text is JSON.stringify's output
 * and goes in as it is. A batch reply is written with it, so each payload is held once, as
 * stored, instead of parsed back and serialized again (bench/README.md, "Batch memory").
 */
export function taskJsonText(task: Task, tail = ''): string {
  let out = '';
  for (let i = 0; i < taskFields.length; i++) {
    const field = taskFields[i]!;
    const value = task[field.key];
    out += FIELD_PREFIXES[i]!;
    if (value === null) out += 'null';
    else if (field.kind === 'time') out += `"${isoTime(value as number)}"`;
    else if (field.kind === 'id') out += `"${formatTaskId(value as number)}"`;
    else if (field.kind === 'json') out += value as string;
    else out += JSON.stringify(value);
  }
  return `${out},"held_back":null${tail}}`;
}

/** `{"id":`, `,"title":`, …: what precedes each field's value in a task's JSON. */
const FIELD_PREFIXES = taskFields.map((field, i) => `${i === 0 ? '{' : ','}${JSON.stringify(field.name)}:`);

/** The fields a writer may leave out of a new task: every nullable one. */
type Unset = { [K in keyof NewTask]: null extends NewTask[K] ? K : never }[keyof NewTask];
/** Set by the state machine for every new task. */
type Initial = 'status' | 'version' | 'attempts';

export type NewTaskFields = Omit<NewTask, Unset | Initial> & Partial<Pick<NewTask, Unset>>;

const INITIAL: Pick<Task, Initial> = { status: 'pending', version: 1, attempts: 0 };

/** A task as it is before anything happened to it: pending, version 1, unset fields null, no id yet. */
export function newTask(fields: NewTaskFields): NewTask {
  // Copied from one template, every task gets the same hidden class (fields in taskFields
  // order), which makes it several times cheaper; batch submits of 1,000 noticed (bench/README.md, "Figures behind the code").
  const task: Record<string, unknown> = { ...NEW_TASK_TEMPLATE };
  const given = fields as Record<string, unknown>;
  for (const key in given) if (given[key] !== undefined && key in task) task[key] = given[key];
  return task as NewTask;
}

/** A validated submit request (lib/api/routes/tasks.ts validates; this trusts its input). */
export interface SubmitInput {
  title: string;
  description: string;
  type: string;
  payload?: unknown;
  /**
   * The payload already as JSON text (what JSON.stringify gave), in place of `payload`: a batch
   * item's payload is serialized once, when its size is checked, and its parsed value dropped,
   * so a batch does not hold both (lib/api/routes/task-batch.ts).
   */
  payloadJson?: string;
  priority?: number;
  runAt?: number;
  delaySeconds?: number;
  maxAttempts?: number;
  /** Flow control (docs/flow-control.md), validated; stored as JSON text. */
  flowControl?: FlowControl;
  /** Collapse submits of one key into one pending task, due `seconds` after the latest (lib/tasks/debounce.ts). */
  debounce?: KeyedSubmit;
  /** Keep the first task of one key and drop later submits for a while (lib/tasks/debounce.ts). */
  throttle?: KeyedSubmit;
}

/** The key (scoped by type) and window of a debounced or throttled submit. */
export interface KeyedSubmit {
  key: string;
  seconds: number;
}

/** The payload as stored: JSON text, or null when there is none. */
export function storedPayload(input: SubmitInput): string | null {
  if (input.payloadJson !== undefined) return input.payloadJson;
  return input.payload === undefined ? null : JSON.stringify(input.payload);
}

/**
 * The new task a submit (or a handler's follow-up) asks for: the client's choices, the
 * configured defaults for the rest, times from `now`.
 */
export function buildTask(input: SubmitInput, options: { now: number; maxAttempts: number; idempotencyKey?: string }): NewTask {
  const { now } = options;
  return newTask({
    title: input.title,
    description: input.description,
    type: input.type,
    payload: storedPayload(input),
    priority: input.priority ?? 0,
    runAt: input.debounce
      ? now + Math.round(input.debounce.seconds * 1000)
      : (input.runAt ?? (input.delaySeconds !== undefined ? now + Math.round(input.delaySeconds * 1000) : now)),
    maxAttempts: input.maxAttempts ?? options.maxAttempts,
    idempotencyKey: options.idempotencyKey ?? null,
    debounceKey: (input.debounce ?? input.throttle)?.key ?? null,
    flowControl: input.flowControl === undefined ? null : JSON.stringify(input.flowControl),
    createdAt: now,
    updatedAt: now,
  });
}

/**
 * The task once its insert assigned `id`: the same object, given its id in place (the template
 * already holds an `id` slot, so every task keeps one hidden class).
 */
export function withId(task: NewTask, id: number): Task {
  (task as Task).id = id;
  return task as Task;
}

const NEW_TASK_TEMPLATE: Record<string, unknown> = Object.fromEntries(
  taskFields.map((field) => [field.key, (INITIAL as Partial<Task>)[field.key] ?? null]),
);
