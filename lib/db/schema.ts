import { desc, sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { STATUSES } from '../tasks/states.ts';

/**
 * The tables, the first of the two places a task's fields are written down (the other is the
 * API schema, `TaskSchema` in lib/tasks/model.ts; the `Task` type, SQL column lists and
 * mappers are derived from these two, and test/task-fields.test.ts fails when they disagree).
 * Adding a column: here, `npm run db:generate` for the migration, and the API schema.
 *
 * Conventions the derivations rely on: columns are snake_case and the API uses the same
 * names; timestamps are integer milliseconds since the epoch named `*_at` (cheap to compare
 * in the claim query) and ISO-8601 strings in JSON; JSON values (`payload`, `result`) are
 * stored as the JSON text that will be sent back.
 */
export const tasks = sqliteTable(
  'tasks',
  {
    // The rowid: a time-ordered 64-bit integer the insert assigns inside the write lock
    // (lib/tasks/inserts.ts, `NEXT_ID`), shown to clients as a fixed-width string (lib/tasks/ids.ts).
    // No separate primary-key B-tree, and every index carries 8 bytes, not a 36-character UUID,
    // so a submit writes fewer WAL frames (bench/README.md, "Issue 13, part 5").
    id: integer('id').primaryKey(),
    // The UUIDv7 a task had before the rowid migration (0004), so old ids keep resolving; null
    // for every task created since, which therefore never enters its index.
    legacyId: text('legacy_id'),
    title: text('title').notNull(),
    description: text('description').notNull(),
    status: text('status', { enum: STATUSES })
      .notNull()
      .default('pending'),
    version: integer('version').notNull().default(1),
    type: text('type').notNull().default('simulate'),
    payload: text('payload'),
    priority: integer('priority').notNull().default(0),
    runAt: integer('run_at').notNull(),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull(),
    leaseExpiresAt: integer('lease_expires_at'),
    lockedBy: text('locked_by'),
    lastError: text('last_error'),
    result: text('result'),
    // What the running handler last reported (`ctx.progress`), JSON text of at most 1 KB;
    // written at most once a second, fenced by the attempt's version (lib/processing/heartbeat.ts).
    progress: text('progress'),
    idempotencyKey: text('idempotency_key'),
    // The key of a debounced or throttled submit (lib/tasks/debounce.ts), scoped by `type`;
    // kept after the task ran, so the task shows it and throttle can see its window.
    debounceKey: text('debounce_key'),
    // Flow control as submitted (docs/flow-control.md): JSON `{key, parallelism?, rate?,
    // period_seconds?}`, null for a task without a key. The limits of a key are those of its
    // newest task, copied into flow_keys by a trigger on insert (migration 0013).
    flowControl: text('flow_control'),
    // The key alone, for the indexes the claim walks. Generated (virtual): computed from
    // flow_control, so no insert names it and the row stores nothing more.
    flowKey: text('flow_key').generatedAlwaysAs(sql`json_extract(flow_control, '$.key')`, { mode: 'virtual' }),
    requestHash: text('request_hash'),
    createdAt: integer('created_at').notNull(),
    startedAt: integer('started_at'),
    completedAt: integer('completed_at'),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    // The claim walks due pending tasks in claim order; a partial index keeps finished
    // history (usually most rows) out of it entirely.
    // Ties broken by id: ids are insert-ordered.
    // Tasks with a flow key are kept out of it: they are claimed through tasks_claim_flow, in
    // turns between keys, so a key's held-back backlog is never walked by the plain claim.
    index('tasks_claim_pending')
      .on(desc(t.priority), t.runAt, t.id)
      .where(sql`status = 'pending' AND flow_key IS NULL`),
    // Flow control (lib/flow-control/claim.ts): pending tasks of each key in claim order, the
    // running ones per key (parallelism), starts per key by time (rate, and the key's last
    // start). Partial: a task without a key enters none of them.
    index('tasks_claim_flow')
      .on(t.flowKey, desc(t.priority), t.runAt, t.id)
      .where(sql`status = 'pending' AND flow_key IS NOT NULL`),
    index('tasks_flow_running').on(t.flowKey).where(sql`status = 'in_progress' AND flow_key IS NOT NULL`),
    index('tasks_flow_started').on(t.flowKey, t.startedAt).where(sql`flow_key IS NOT NULL`),
    // Expired leases are found by expiry time among in_progress rows only.
    index('tasks_claim_expired').on(t.leaseExpiresAt).where(sql`status = 'in_progress'`),
    // Listing is newest first (ids are time-ordered), optionally filtered. The rowid is the
    // implicit tail of every index, so `WHERE status = ? ORDER BY id DESC` walks (status)
    // backwards without sorting (the query-plan test in test/ids.storage.test.ts holds it).
    index('tasks_status_id').on(t.status),
    index('tasks_type_id').on(t.type),
    // Finished tasks by status and age: retention (lib/tasks/retention.ts) deletes by
    // (status, completed_at); the dashboard's overview (lib/tasks/insights.ts) counts finishes
    // per minute over the same prefix and reads per-type durations from this index alone.
    // Partial: pending rows (completed_at NULL) never enter it, so submits and claims do not
    // pay for it; a completion adds one entry.
    index('tasks_finished')
      .on(t.status, t.completedAt, t.type, t.startedAt)
      .where(sql`completed_at IS NOT NULL`),
    // The newest task of a (type, debounce key): one seek backwards (the rowid is the index's
    // implicit tail). Partial: tasks without a key never enter it, and no column of it or of
    // its WHERE changes after the insert, so claims and completions never touch it.
    index('tasks_debounce')
      .on(t.type, t.debounceKey)
      .where(sql`debounce_key IS NOT NULL`),
    uniqueIndex('tasks_idempotency_key').on(t.idempotencyKey).where(sql`idempotency_key IS NOT NULL`),
    uniqueIndex('tasks_legacy_id').on(t.legacyId).where(sql`legacy_id IS NOT NULL`),
  ],
);

/**
 * Each flow key's limits, from its newest submitted task (docs/flow-control.md: the newest
 * submitted limit wins). Written only by triggers (migration 0013): every insert of a task
 * with a key sets its key's row, whatever inserts it (a submit, a batch, a schedule's
 * occurrence, a workflow run or a follow-up), and deleting a key's last task deletes the row.
 * The claim reads one row per key with pending tasks: one seek, no JSON.
 */
export const flowKeys = sqliteTable('flow_keys', {
  key: text('key').primaryKey(),
  parallelism: integer('parallelism'),
  rate: integer('rate'),
  periodMs: integer('period_ms'),
});

/**
 * The task-id high-water mark (lib/tasks/ids.ts): one row, `next` at least one past every id
 * ever handed out. Every statement that deletes tasks raises it to one past the largest id
 * first, in the same transaction, and the insert's id is at least `next`: so deleting the
 * newest tasks never lets their ids be handed out again. Inserts only read it.
 */
export const taskIdMark = sqliteTable('task_id_mark', {
  one: integer('one').primaryKey(),
  next: integer('next').notNull(),
});

/**
 * The dashboard's session generation (lib/ui/session-generation.ts), one row (`one` = 1; no
 * row is generation 0). A session cookie is signed with the generation it was issued in and
 * is valid only while that is still the current one: a logout raises it, which ends every
 * dashboard session on every process and function sharing this database, and nothing is
 * stored per session.
 */
export const dashboardSessionGeneration = sqliteTable('dashboard_session_generation', {
  one: integer('one').primaryKey(),
  generation: integer('generation').notNull(),
});

/**
 * Task types whose tasks no claim takes (POST /types/:type/pause). The claim reads it in the
 * same statement (lib/tasks/repository.ts), so every process and function skips them at once.
 */
export const pausedTypes = sqliteTable('paused_types', {
  type: text('type').primaryKey(),
  pausedAt: integer('paused_at').notNull(),
});

/**
 * Recurring task templates (lib/schedules/). `name` is the key clients use. `next_run_at` is the
 * next occurrence not yet fired (null when the cron never matches again); firing advances it
 * with a version check in the same transaction as the occurrence's task insert
 * (lib/schedules/repository.ts). Timestamps as in `tasks`: integer epoch milliseconds.
 */
export const schedules = sqliteTable(
  'schedules',
  {
    name: text('name').primaryKey(),
    cron: text('cron').notNull(),
    timezone: text('timezone').notNull().default('UTC'),
    /** The task template: the JSON body POST /tasks accepts, as validated. */
    task: text('task').notNull(),
    missed: text('missed', { enum: ['skip', 'once', 'all'] }).notNull().default('once'),
    paused: integer('paused').notNull().default(0),
    nextRunAt: integer('next_run_at'),
    lastRunAt: integer('last_run_at'),
    version: integer('version').notNull().default(1),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (s) => [
    // Firing reads due, unpaused schedules in occurrence order; the local poller asks for the
    // earliest one to know when to wake.
    index('schedules_due').on(s.nextRunAt).where(sql`paused = 0`),
  ],
);

/**
 * Workflow steps (lib/workflows/): the one record of each step of a run, keyed by (run, step
 * name). A run is a task (type `workflow:<name>`); its steps live beside it and go with it
 * (a trigger in migration 0006 deletes them when the run is deleted, whatever deletes it).
 * `wake_at` is when a sleep ends, when a wait times out, or when a failed step is retried;
 * `output` is the step's JSON result as text; `event_id` is the event a finished wait took.
 */
export const workflowSteps = sqliteTable(
  'workflow_steps',
  {
    runId: integer('run_id').notNull(),
    name: text('name').notNull(),
    kind: text('kind', { enum: ['step', 'sleep', 'wait', 'invoke'] }).notNull(),
    status: text('status', { enum: ['completed', 'failed', 'waiting', 'retrying'] }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    output: text('output'),
    error: text('error'),
    startedAt: integer('started_at').notNull(),
    completedAt: integer('completed_at'),
    wakeAt: integer('wake_at'),
    event: text('event'),
    eventKey: text('event_key'),
    eventId: integer('event_id'),
    childRunId: integer('child_run_id'),
  },
  (s) => [
    primaryKey({ columns: [s.runId, s.name] }),
    // POST /events wakes the runs waiting for an (event, key); only waiting waits enter it.
    index('workflow_steps_waiting_event').on(s.event, s.eventKey).where(sql`status = 'waiting' AND kind = 'wait'`),
    // A child run's end wakes its parent (the trigger in migration 0006); only waiting invokes enter it.
    index('workflow_steps_waiting_child').on(s.childRunId).where(sql`status = 'waiting' AND kind = 'invoke'`),
  ],
);

/**
 * Events sent to workflow runs (POST /events), kept WORKFLOW_EVENT_RETENTION so that a run
 * reaching its `waitForEvent` after the event arrived still gets it. AUTOINCREMENT: ids only
 * grow, even after retention deletes the newest, so "events after the last one this run took"
 * is an id comparison.
 */
export const workflowEvents = sqliteTable(
  'workflow_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    event: text('event').notNull(),
    key: text('key'),
    payload: text('payload'),
    createdAt: integer('created_at').notNull(),
  },
  (e) => [index('workflow_events_match').on(e.event, e.key, e.createdAt), index('workflow_events_age').on(e.createdAt)],
);

/**
 * Workflows served by the user's own app (lib/workflows/remote-registry.ts), registered by
 * `PUT /workflows/:name`. Their runs are tasks of type `workflow:<name>` like in-process ones;
 * this row says where the engine POSTs each advance (docs/workflow-protocol.md).
 * `signing_secret` null means WEBHOOK_SECRET; it is never shown by the API.
 */
export const remoteWorkflows = sqliteTable('remote_workflows', {
  name: text('name').primaryKey(),
  url: text('url').notNull(),
  signingSecret: text('signing_secret'),
  timeoutSeconds: integer('timeout_seconds').notNull(),
  maxPerHost: integer('max_per_host').notNull(),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

/**
 * Attempts of a task that ended without completing it (lib/tasks/attempts.ts): retried, failed,
 * timed out, released at shutdown, cancelled while running, or whose lease expired (worker
 * died). One row each, written in the same transaction as that attempt's final write, at most
 * TASK_ATTEMPTS_KEPT per task (the newest). A completed attempt and the running one are never
 * written: the task row describes them (started_at, completed_at, locked_by), and
 * `GET /tasks/:id/attempts` adds them on read, so a task that succeeds at its first attempt
 * writes nothing here. `n` orders a task's rows (attempt numbers restart after a retry from
 * the API); rows go with their task (a trigger, migration 0011).
 */
export const taskAttempts = sqliteTable(
  'task_attempts',
  {
    taskId: integer('task_id').notNull(),
    n: integer('n').notNull(),
    attempt: integer('attempt').notNull(),
    worker: text('worker'),
    startedAt: integer('started_at'),
    endedAt: integer('ended_at').notNull(),
    outcome: text('outcome', { enum: ['retried', 'failed', 'timed_out', 'cancelled', 'released', 'lease_expired'] }).notNull(),
    error: text('error'),
  },
  (a) => [primaryKey({ columns: [a.taskId, a.n] })],
);
