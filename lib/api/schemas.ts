import * as z from 'zod';
import '../foundation/zod-openapi.ts';
import { FLOW_KEY_MAX } from '../flow-control/claim.ts';
import { TaskSchema, type FlowControl, type SubmitInput } from '../tasks/model.ts';
import { STATUSES } from '../tasks/states.ts';

/**
 * Request and response schemas: the routes validate with them and GET /openapi.json documents
 * them, so the two cannot drift. Messages name the field; the seed's messages are kept
 * verbatim (`title is required`, `description is required`).
 */

const codePoints = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

const requiredText = (field: string, max: number) =>
  z
    .string({ error: (issue) => (issue.input === undefined || issue.input === null ? `${field} is required` : `${field} must be a string`) })
    .refine((s) => /[^\s]/u.test(s), { error: `${field} is required`, abort: true })
    .refine((s) => s.isWellFormed(), { error: `${field} must be valid Unicode (it contains a lone surrogate)`, abort: true })
    .refine((s) => codePoints(s) <= max, { error: `${field} must be at most ${max} characters` });

const integer = (field: string, min: number, max: number) =>
  z
    .number({ error: `${field} must be an integer from ${min} to ${max}` })
    .int({ error: `${field} must be an integer from ${min} to ${max}` })
    .min(min, { error: `${field} must be an integer from ${min} to ${max}` })
    .max(max, { error: `${field} must be an integer from ${min} to ${max}` });

export const MAX_DELAY_SECONDS = 365 * 24 * 3600;

/** `run_at` of POST /tasks (and of a workflow run): an ISO-8601 date-time with a zone. */
export const runAtField = z
  .string({ error: 'run_at must be an ISO-8601 date-time string' })
  .refine((s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)), {
    error: 'run_at must be an ISO-8601 date-time with a time zone, e.g. 2026-01-02T03:04:05Z',
  });

/** `delay_seconds` of POST /tasks (and of a workflow run). */
export const delaySecondsField = z
  .number({ error: 'delay_seconds must be a number' })
  .min(0, { error: 'delay_seconds must not be negative' })
  .max(MAX_DELAY_SECONDS, { error: `delay_seconds must be at most ${MAX_DELAY_SECONDS}` });

/**
 * What an idempotency key may be, as a header (`Idempotency-Key`) or a body field. Keys the
 * service makes itself are reserved (`run:` for child runs, `schedule:` for occurrences), so a
 * client cannot create the task one of them will name and take its place.
 */
export const IDEMPOTENCY_KEY = /^(?!run:|schedule:)[\x21-\x7e]{1,200}$/;
export const IDEMPOTENCY_KEY_RULE = 'must be 1 to 200 visible ASCII characters, not starting with run: or schedule: (reserved)';

/** Longest debounce or throttle window: a year, the bound of delay_seconds. */
export const MAX_DEBOUNCE_SECONDS = MAX_DELAY_SECONDS;
export const MAX_DEBOUNCE_KEY_CHARS = 200;

/**
 * `debounce` and `throttle` of POST /tasks (lib/tasks/debounce.ts): a key, scoped by the task's
 * type, and a window in seconds. Every message names the field (`debounce.key …`).
 */
const keyedSubmit = (field: 'debounce' | 'throttle') =>
  z
    .strictObject(
      {
        key: z
          .string({ error: `${field}.key must be a string` })
          .refine((s) => s.length > 0, { error: `${field}.key must not be empty`, abort: true })
          .refine((s) => s.isWellFormed(), { error: `${field}.key must be valid Unicode (it contains a lone surrogate)`, abort: true })
          .refine((s) => codePoints(s) <= MAX_DEBOUNCE_KEY_CHARS, { error: `${field}.key must be at most ${MAX_DEBOUNCE_KEY_CHARS} characters` }),
        seconds: z
          .number({ error: `${field}.seconds must be a number of seconds` })
          .gt(0, { error: `${field}.seconds must be greater than 0` })
          .max(MAX_DEBOUNCE_SECONDS, { error: `${field}.seconds must be at most ${MAX_DEBOUNCE_SECONDS}` }),
      },
      {
        error: (issue) =>
          issue.code === 'unrecognized_keys' ? `${field} takes key and seconds only, not ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}` : `${field} must be an object {key, seconds}`,
      },
    );
/**
 * `flow_control` of POST /tasks, a batch item, a schedule's template, a workflow run
 * (docs/flow-control.md). `rate` and `period_seconds` come together: a rate without its
 * period (or the reverse) means nothing and is refused rather than guessed.
 */
export const FlowControlBody = z
  .object(
    {
      key: z
        .string({ error: 'flow_control.key is required (a string)' })
        .refine((s) => /[^\s]/u.test(s), { error: 'flow_control.key must not be blank', abort: true })
        .refine((s) => s.isWellFormed(), { error: 'flow_control.key must be valid Unicode', abort: true })
        .refine((s) => codePoints(s) <= FLOW_KEY_MAX, { error: `flow_control.key must be at most ${FLOW_KEY_MAX} characters` })
        .openapi({ description: 'Tasks with the same key share its limits, across every process and instance on the database.', example: 'acme' }),
      parallelism: integer('flow_control.parallelism', 1, 1_000_000).optional().openapi({ description: 'At most this many tasks of the key in progress at once.' }),
      rate: integer('flow_control.rate', 1, 1_000_000).optional().openapi({ description: 'At most this many starts of the key per `period_seconds`.' }),
      period_seconds: z
        .number({ error: 'flow_control.period_seconds must be a number' })
        .gt(0, { error: 'flow_control.period_seconds must be greater than 0' })
        .max(MAX_DELAY_SECONDS, { error: `flow_control.period_seconds must be at most ${MAX_DELAY_SECONDS}` })
        .optional()
        .openapi({ description: 'The period `rate` counts starts over, in seconds. Required with `rate`, and only with it.' }),
    },
    { error: 'flow_control must be an object {key, parallelism?, rate?, period_seconds?}' },
  )
  .strict()
  .refine((f) => (f.rate === undefined) === (f.period_seconds === undefined), {
    error: 'flow_control.rate and flow_control.period_seconds go together',
    path: ['rate'],
  })
  .openapi('FlowControl', { description: 'Per-key limits; the newest submitted task of a key sets them for the key (docs/flow-control.md).' });

export const SubmitTaskBody = z
  .object({
    title: requiredText('title', 200).openapi({ example: 'resize avatar' }),
    description: requiredText('description', 10_000).openapi({ example: 'user 42, 256x256' }),
    type: z
      .string({ error: 'type must be a string' })
      .min(1, { error: 'type must not be empty' })
      .max(100, { error: 'type must be at most 100 characters' })
      .optional()
      .openapi({ description: 'Handler name; must be registered. Default `simulate`.', example: 'simulate' }),
    payload: z
      .unknown()
      .optional()
      .openapi({
        description: 'Any JSON value, handed to the handler; checked by the type. For type `http`, an HttpPayload.',
        anyOf: [{ $ref: '#/components/schemas/HttpPayload' }, {}],
      }),
    priority: integer('priority', -1_000_000, 1_000_000).optional().openapi({ description: 'Higher runs first. Default 0.' }),
    run_at: runAtField.optional().openapi({ description: 'Not before this time. Exclusive with delay_seconds.' }),
    delay_seconds: delaySecondsField.optional().openapi({ description: 'Not before now + this many seconds. Exclusive with run_at.' }),
    max_attempts: integer('max_attempts', 1, 1000).optional().openapi({ description: 'Default TASK_MAX_ATTEMPTS.' }),
    debounce: keyedSubmit('debounce')
      .optional()
      .openapi({
        description:
          'While a task of this type and key is pending and not yet started, this submit replaces its title, description, payload, priority and max_attempts and moves its run_at to now + seconds (200, `debounced: true`); otherwise it stores a new task due in `seconds` (202). Not with run_at, delay_seconds, throttle or an idempotency key. docs/debounce.md.',
        example: { key: 'user:42', seconds: 5 },
      }),
    throttle: keyedSubmit('throttle')
      .optional()
      .openapi({
        description:
          'While a task of this type and key is pending and not yet started, or was created less than `seconds` ago, this submit stores nothing and answers that task (200, `throttled: true`); otherwise it stores a new one (202, due at run_at, after delay_seconds, or now). Not with debounce or an idempotency key. docs/debounce.md.',
        example: { key: 'user:42', seconds: 60 },
      }),
    flow_control: FlowControlBody.optional(),
  })
  .refine((body) => body.run_at === undefined || body.delay_seconds === undefined, {
    error: 'use either run_at or delay_seconds, not both',
    path: ['run_at'],
  })
  .refine((body) => body.debounce === undefined || (body.run_at === undefined && body.delay_seconds === undefined), {
    error: 'debounce cannot be combined with run_at or delay_seconds: a debounced task is due debounce.seconds after the latest submit',
    path: ['debounce'],
  })
  .refine((body) => body.debounce === undefined || body.throttle === undefined, {
    error: 'use either debounce or throttle, not both',
    path: ['debounce'],
  })
  .openapi('SubmitTask');

export type SubmitTaskBody = z.infer<typeof SubmitTaskBody>;

/**
 * A validated body of POST /tasks (or a batch item) as the service takes it; `payloadJson`, the
 * payload already serialized, in place of the parsed one (SubmitInput.payloadJson). Every input
 * is built with the same fields in the same order: one object shape for the service to read.
 */
export function submitInput(body: SubmitTaskBody, type: string, payloadJson?: string): SubmitInput {
  return {
    title: body.title,
    description: body.description,
    type,
    payload: payloadJson === undefined ? body.payload : undefined,
    payloadJson,
    priority: body.priority,
    runAt: body.run_at === undefined ? undefined : Date.parse(body.run_at),
    delaySeconds: body.delay_seconds,
    maxAttempts: body.max_attempts,
    debounce: body.debounce,
    throttle: body.throttle,
    flowControl: flowControlInput(body.flow_control),
  };
}

/** The answer of POST /tasks: the task, and for a debounced or throttled submit what it did. */
export const SubmittedTaskSchema = TaskSchema.extend({
  debounced: z.boolean().optional().openapi({ description: 'Present when the submit asked for `debounce`: true (200) when it replaced a pending task of its key, false (202) when it stored this new one.' }),
  throttled: z.boolean().optional().openapi({ description: 'Present when the submit asked for `throttle`: true (200) when this task of its key held it back and nothing was stored, false (202) when it stored this new one.' }),
}).openapi('SubmittedTask');

/** The validated flow control as stored: its fields in one order, absent ones left out. */
export function flowControlInput(body: z.infer<typeof FlowControlBody> | undefined): FlowControl | undefined {
  if (body === undefined) return undefined;
  const flow: FlowControl = { key: body.key };
  if (body.parallelism !== undefined) flow.parallelism = body.parallelism;
  if (body.rate !== undefined) flow.rate = body.rate;
  if (body.period_seconds !== undefined) flow.period_seconds = body.period_seconds;
  return flow;
}

export const ErrorSchema = z
  .object({ message: z.string(), code: z.string() })
  .openapi('Error', { example: { message: 'task not found', code: 'not_found' } });

export const MAX_LIST_LIMIT = 1000;

const limitParam = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return 100;
    if (!/^\d+$/.test(value) || Number(value) < 1) {
      ctx.addIssue({ code: 'custom', message: 'limit must be positive' });
      return z.NEVER;
    }
    if (Number(value) > MAX_LIST_LIMIT) {
      ctx.addIssue({ code: 'custom', message: `limit must be at most ${MAX_LIST_LIMIT}` });
      return z.NEVER;
    }
    return Number(value);
  })
  .openapi({ param: { name: 'limit', in: 'query' }, type: 'integer', description: '1..1000, default 100' });

export const ListTasksQuery = z.object({
  status: z
    .enum(STATUSES, { error: `status must be one of ${STATUSES.join(', ')}` })
    .optional()
    .openapi({ param: { name: 'status', in: 'query' } }),
  type: z.string().min(1, { error: 'type must not be empty' }).optional().openapi({ param: { name: 'type', in: 'query' } }),
  limit: limitParam,
  cursor: z.string().optional().openapi({ param: { name: 'cursor', in: 'query' }, description: 'next_cursor of the previous page' }),
});

export const TaskListSchema = z
  .object({ count: z.number().int(), tasks: z.array(TaskSchema), next_cursor: z.string().nullable() })
  .openapi('TaskList');

export const StatsSchema = z
  .object({
    counts: z.record(z.string(), z.number().int()),
    total: z.number().int(),
    oldest_pending_age_seconds: z.number().nullable(),
    schedules: z.object({ total: z.number().int(), paused: z.number().int() }).optional().openapi({ description: 'How many schedules exist, and how many are paused.' }),
    runs: z
      .object({ counts: z.record(z.string(), z.number().int()), total: z.number().int() })
      .optional()
      .openapi({ description: 'Workflow runs (tasks of type `workflow:<name>`, also counted above) by status, summed over workflows.' }),
    flow_control: z
      .object({
        keys_pending: z.number().int().openapi({ description: 'Flow keys with pending tasks (at most 10,000 are looked at).' }),
        keys_held_back: z.number().int().openapi({ description: 'Of which at a limit now, with due tasks waiting.' }),
        tasks_held_back: z.number().int().openapi({ description: 'Due pending tasks of those keys.' }),
        busiest: z
          .array(
            z.object({
              key: z.string(),
              held_back: z.number().int().openapi({ description: 'Due pending tasks of the key.' }),
              running: z.number().int(),
              parallelism: z.number().int().nullable(),
              rate: z.number().int().nullable(),
              period_seconds: z.number().nullable(),
              recent_starts: z.number().int().openapi({ description: 'Starts in the last period_seconds (0 without a rate).' }),
              reason: z.string(),
            }),
          )
          .openapi({ description: 'The 10 keys holding the most tasks back, most first.' }),
      })
      .openapi({ description: 'Tasks held back by flow control now (docs/flow-control.md).' }),
    database_bytes: z.number().int().nullable().openapi({ description: 'The database size (page_count × page_size); null where the server does not say.' }),
    database_free_bytes: z.number().int().nullable().openapi({ description: 'Of which free pages, reused by new rows (retention frees them).' }),
  })
  .openapi('Stats');

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** One item of POST /tasks/batch: the body of POST /tasks plus its own idempotency key. */
export const BatchTaskItem = SubmitTaskBody.extend({
  idempotency_key: z
    .string({ error: 'idempotency_key must be a string' })
    .regex(IDEMPOTENCY_KEY, { error: `idempotency_key ${IDEMPOTENCY_KEY_RULE}` })
    .optional()
    .openapi({ description: 'Like the Idempotency-Key header of POST /tasks, for this item.' }),
}).openapi('BatchTaskItem');

export const BatchSubmitBody = z
  .object({ tasks: z.array(BatchTaskItem).openapi({ description: '1 to MAX_BATCH_TASKS (default 1,000) tasks.' }) })
  .openapi('BatchSubmit');

export const BatchResultSchema = z
  .object({
    count: z.number().int(),
    tasks: z.array(
      TaskSchema.extend({
        replayed: z.boolean().openapi({ description: 'True when the item\'s idempotency_key matched an earlier identical request: the task is that one, nothing new was stored.' }),
        debounced: z.boolean().optional().openapi({ description: 'Present when the item asked for `debounce`: true when it replaced a pending task of its key (the task is that one), false when it stored a new one.' }),
        throttled: z.boolean().optional().openapi({ description: 'Present when the item asked for `throttle`: true when a task of its key held it back (the task is that one, nothing was stored), false when it stored a new one.' }),
      }),
    ),
  })
  .openapi('BatchResult');

/** The filter of POST /tasks/cancel and /tasks/retry: `ids`, or any of status, type, created_before. */
export const BulkFilterBody = z
  .strictObject(
    {
      ids: z
        .array(z.string({ error: 'ids must be task ids (strings)' }).openapi({ example: '0247195238400000' }), { error: 'ids must be an array of task ids' })
        .min(1, { error: 'ids must not be empty' })
        .max(MAX_LIST_LIMIT, { error: `ids must hold at most ${MAX_LIST_LIMIT} ids` })
        .optional(),
      status: z.enum(STATUSES, { error: `status must be one of ${STATUSES.join(', ')}` }).optional(),
      type: z.string({ error: 'type must be a string' }).min(1, { error: 'type must not be empty' }).optional(),
      created_before: z
        .string({ error: 'created_before must be an ISO-8601 date-time string' })
        .refine((s) => ISO_DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)), {
          error: 'created_before must be an ISO-8601 date-time with a time zone, e.g. 2026-01-02T03:04:05Z',
        })
        .optional(),
    },
    { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (the filter takes ids, status, type, created_before)` : undefined) },
  )
  .refine((f) => f.ids === undefined || (f.status === undefined && f.type === undefined && f.created_before === undefined), {
    error: 'ids selects tasks by itself: use ids, or status/type/created_before, not both',
    path: ['ids'],
  })
  .refine((f) => f.ids !== undefined || f.status !== undefined || f.type !== undefined || f.created_before !== undefined, {
    error: 'the filter needs ids, or at least one of status, type, created_before',
  })
  .openapi('BulkFilter');

export const BulkResultSchema = z
  .object({
    matched: z.number().int().openapi({ description: 'Tasks the filter selected.' }),
    changed: z.number().int().openapi({ description: 'Of those, tasks this request moved (the others were not in a state the action applies to).' }),
  })
  .openapi('BulkResult');

export const TaskIdParam = z.object({
  id: z.string().openapi({
    param: { name: 'id', in: 'path' },
    description: 'The task id (16 digits); an id from before the rowid migration (a UUID) still finds its task.',
    example: '0247195238400000',
  }),
});

export const MAX_WAIT_SECONDS = 60;

/** `GET /tasks/:id?wait=N`: hold the answer until the task is final or N seconds pass. */
export const GetTaskQuery = z.object({
  wait: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return 0;
      if (!/^\d+(\.\d+)?$/.test(value) || Number(value) > MAX_WAIT_SECONDS) {
        ctx.addIssue({ code: 'custom', message: `wait must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}` });
        return z.NEVER;
      }
      return Number(value);
    })
    .openapi({
      param: { name: 'wait', in: 'query' },
      type: 'number',
      description: `Hold the answer until the task is final or this many seconds (0..${MAX_WAIT_SECONDS}) pass.`,
    }),
});
