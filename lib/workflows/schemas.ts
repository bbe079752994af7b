import * as z from 'zod';
import '../foundation/zod-openapi.ts';
import { FlowControlBody, IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_RULE, delaySecondsField, runAtField } from '../api/schemas.ts';
import { isWebhookSecret } from '../config/parsers.ts';
import { httpUrlField } from '../delivery/payload.ts';
import { TaskIdSchema } from '../tasks/model.ts';
import { STATUSES } from '../tasks/states.ts';
import { STEP_KINDS, STEP_STATUSES } from './protocol.ts';

/**
 * A run, its steps and what it waits for as clients see them, and the bodies of the workflow
 * routes: written once here (STYLE.md, rule 11). service.ts derives its JSON types from these
 * (`RunJson`, `StepJson`, `WaitingFor`), routes.ts validates and documents with them, and the
 * typed client infers its types from the routes.
 */

const timestamp = () => z.iso.datetime({ offset: false });

export const WaitingForSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('sleep'), step: z.string(), until: timestamp() }),
    z.object({ kind: z.literal('event'), step: z.string(), event: z.string(), key: z.string().nullable(), timeout_at: timestamp() }),
    z.object({ kind: z.literal('child'), step: z.string(), run_id: TaskIdSchema }),
    z.object({ kind: z.literal('retry'), step: z.string(), at: timestamp(), attempts: z.number().int(), error: z.string().nullable() }),
  ])
  .openapi('WaitingFor', { description: 'A sleep until a time, a wait for an event (until its timeout), a child run, or a step waiting for its next attempt.' });

export const StepSchema = z
  .object({
    name: z.string().openapi({ description: 'Unique in the run: a name used again becomes `name#2`, `name#3`.', example: 'charge card' }),
    kind: z.enum(STEP_KINDS),
    status: z.enum(STEP_STATUSES),
    attempts: z.number().int(),
    output: z.unknown().openapi({ description: 'The recorded JSON result (a wait: the event payload, null at its timeout).' }),
    error: z.string().nullable(),
    started_at: timestamp(),
    completed_at: timestamp().nullable(),
    wake_at: timestamp().nullable().openapi({ description: 'When a sleep ends, a wait times out or a retry runs.' }),
    event: z.string().nullable(),
    key: z.string().nullable(),
    child_run_id: TaskIdSchema.nullable(),
  })
  .openapi('Step');

export const RunSchema = z
  .object({
    id: TaskIdSchema.openapi({ description: 'A run is a task: the same id works on /tasks routes.' }),
    workflow: z.string(),
    status: z.enum(STATUSES),
    input: z.unknown(),
    output: z.unknown().openapi({ description: 'What the workflow returned (null until completed).' }),
    error: z.string().nullable(),
    attempts: z.number().int(),
    created_at: timestamp(),
    started_at: timestamp().nullable(),
    completed_at: timestamp().nullable(),
    updated_at: timestamp(),
    run_at: timestamp(),
    waiting_for: z.array(WaitingForSchema).nullable().openapi({ description: 'Null unless the run is pending on something: every sleep, wait, child run or step retry it awaits.' }),
  })
  .openapi('Run');

/** `GET /runs/:id`: the run with every step recorded so far, in the order they were first recorded. */
export const RunDetailSchema = RunSchema.extend({ steps: z.array(StepSchema) }).openapi('RunWithSteps');

export const RunListSchema = z.object({ count: z.number().int(), runs: z.array(RunSchema), next_cursor: z.string().nullable() }).openapi('RunList');

export const WorkflowSummarySchema = z
  .object({
    name: z.string(),
    runs: z.partialRecord(z.enum(STATUSES), z.number().int()).openapi({ description: 'Runs by status.', example: { pending: 2, in_progress: 0, completed: 40, failed: 1, cancelled: 0 } }),
    oldest_pending_at: timestamp().nullable().openapi({ description: 'created_at of the oldest pending run.' }),
  })
  .openapi('WorkflowSummary');


const onlyFields = (fields: string) => (issue: { code: string; keys?: string[] }) =>
  issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys!.map((k) => JSON.stringify(k)).join(', ')} (the body takes ${fields})` : undefined;

/**
 * The body of `POST /workflows/:name/runs`. Strict: a body that is the input itself
 * (`{"email": …}` instead of `{"input": {"email": …}}`) is a 400 naming the field rather than
 * a run started with a null input.
 */
export const StartRunBody = z
  .strictObject(
    {
      input: z.unknown().optional().openapi({ description: 'Any JSON value: the workflow function\'s second argument (default null).', example: { email: 'a@example.com' } }),
      idempotency_key: z
        .string({ error: 'idempotency_key must be a string' })
        .regex(IDEMPOTENCY_KEY, { error: `idempotency_key ${IDEMPOTENCY_KEY_RULE}` })
        .optional()
        .openapi({ description: 'A replay with the same key and body answers 200 with the same run; or send the Idempotency-Key header.' }),
      run_at: runAtField.optional().openapi({ description: 'Not before this time. Exclusive with delay_seconds.' }),
      delay_seconds: delaySecondsField.optional().openapi({ description: 'Not before now + this many seconds. Exclusive with run_at.' }),
      flow_control: FlowControlBody.optional().openapi({ description: 'Per-key limits for the run (docs/flow-control.md): the run\'s task carries the key, so its steps count as the run.' }),
    },
    { error: onlyFields('input, idempotency_key, run_at, delay_seconds, flow_control; the workflow\'s input goes in `input`') },
  )
  .refine((body) => body.run_at === undefined || body.delay_seconds === undefined, { error: 'use either run_at or delay_seconds, not both', path: ['run_at'] })
  .openapi('StartRun');

export type StartRunBody = z.infer<typeof StartRunBody>;

/** Event names and keys: what a workflow's waitForEvent names (lib/workflows/define.ts). */
export const MAX_EVENT_TEXT = 200;

const eventText = (field: string, required: boolean) =>
  z
    .string({ error: (issue) => (issue.input == null && required ? `${field} is required` : `${field} must be a string`) })
    .min(required ? 1 : 0, { error: `${field} must not be empty` })
    .max(MAX_EVENT_TEXT, { error: `${field} must be at most ${MAX_EVENT_TEXT} characters` })
    .refine((s) => s.isWellFormed(), { error: `${field} must be valid Unicode (it contains a lone surrogate)` });

export const SendEventBody = z
  .strictObject(
    {
      event: eventText('event', true).openapi({ example: 'order.paid' }),
      key: eventText('key', false).nullable().optional().openapi({ description: 'Only waits for this key match (an order id); a wait without a key takes only events without one.', example: 'order-1234' }),
      payload: z.unknown().optional().openapi({ description: 'Any JSON value: what the wait returns (default null).', example: { amount: 1200 } }),
    },
    { error: onlyFields('event, key, payload') },
  )
  .openapi('SendEvent');

export type SendEventBody = z.infer<typeof SendEventBody>;

export const EventResultSchema = z
  .object({
    event: z.string(),
    key: z.string().nullable(),
    resumed: z.number().int().openapi({ description: 'Runs waiting for this event and key that were made due by it (a run that reaches its wait later finds the event too).' }),
  })
  .openapi('EventResult');

/** A remote workflow's registration as the API shows it (never its secret). */
export const RemoteWorkflowSchema = z
  .object({
    url: z.string().openapi({ description: 'Where each advance is POSTed (docs/workflow-protocol.md).', example: 'https://app.example.com/api/workflows/onboarding' }),
    timeout_seconds: z.number().openapi({ description: 'How long one advance may take.' }),
    max_per_host: z.number().int().openapi({ description: 'Advances of this workflow in flight to its host, per process.' }),
    signing_secret: z.enum(['own', 'WEBHOOK_SECRET']).openapi({ description: 'Which secret signs the requests: its own (never shown) or WEBHOOK_SECRET.' }),
    created_at: timestamp(),
    updated_at: timestamp(),
  })
  .openapi('RemoteWorkflow');

/** GET /workflows/:name, and each entry of GET /workflows: `remote` only for a workflow served by an app. */
export const WorkflowDetailSchema = WorkflowSummarySchema.extend({
  remote: RemoteWorkflowSchema.optional().openapi({ description: 'Present for a workflow registered by URL (PUT /workflows/:name); absent for one defined in process.' }),
}).openapi('Workflow');

export const WorkflowListSchema = z.object({ workflows: z.array(WorkflowDetailSchema) }).openapi('WorkflowList');

/**
 * The body of `PUT /workflows/:name`, with `timeout_seconds` bounded by TASK_TIMEOUT_SECONDS
 * (an advance runs inside a run's execution). The URL's host is checked by the SSRF guard
 * beside this (service.ts), as an `http` task's is.
 */
export function putWorkflowBody(limits: { maxTimeoutSeconds: number; defaultMaxPerHost: number }) {
  return z
    .strictObject(
      {
        url: httpUrlField.openapi({ description: 'http or https; the SSRF guard applies as for `http` tasks.', example: 'https://app.example.com/api/workflows/onboarding' }),
        signing_secret: z
          .string({ error: 'signing_secret must be a string' })
          .refine((s) => s.split(',').every((one) => isWebhookSecret(one.trim())), {
            error: 'signing_secret must be one or more comma-separated whsec_ secrets (base64 of 24 to 64 bytes after the prefix), as WEBHOOK_SECRET',
          })
          .transform((s) => s.split(',').map((one) => one.trim()).join(','))
          .nullable()
          .optional()
          .openapi({ description: 'Signs the requests and verifies the answers (default WEBHOOK_SECRET); `whsec_…`, comma-separated while rotating, as `serve()` takes it. Never shown again.' }),
        timeout_seconds: z
          .number({ error: 'timeout_seconds must be a number of seconds' })
          .positive({ error: 'timeout_seconds must be positive' })
          .max(limits.maxTimeoutSeconds, { error: `timeout_seconds must be at most TASK_TIMEOUT_SECONDS (${limits.maxTimeoutSeconds})` })
          .default(Math.min(30, limits.maxTimeoutSeconds))
          .openapi({ description: 'Per advance; default 30, at most TASK_TIMEOUT_SECONDS.' }),
        max_per_host: z
          .number({ error: 'max_per_host must be a whole number' })
          .int({ error: 'max_per_host must be a whole number' })
          .min(1, { error: 'max_per_host must be at least 1' })
          .max(10_000, { error: 'max_per_host must be at most 10000' })
          .default(limits.defaultMaxPerHost)
          .openapi({ description: 'Advances in flight to the URL\'s host per process (default HTTP_MAX_PER_HOST).' }),
      },
      { error: onlyFields('url, signing_secret, timeout_seconds, max_per_host') },
    )
    .openapi('PutWorkflow');
}

export type PutWorkflowBody = z.infer<ReturnType<typeof putWorkflowBody>>;

/** For GET /openapi.json: the shape with the default bounds. */
export const PutWorkflowBodyDoc = putWorkflowBody({ maxTimeoutSeconds: 300, defaultMaxPerHost: 10 });

export const DeletedWorkflowSchema = z
  .object({
    name: z.string(),
    deleted: z.literal(true),
    cancelled_runs: z.number().int().openapi({ description: 'Runs cancelled with it (`?force=true`; children too, not counted here).' }),
  })
  .openapi('DeletedWorkflow');
