/**
 * Glossary
 * - task: one unit of work, a row in `tasks`. Submitted over HTTP, stored before anything else.
 * - handler: the async function registered for a task's `type` that does the work.
 * - attempt: one run of a handler for a task. `attempts` counts claims; the handler sees it.
 * - claim: the one atomic UPDATE that moves due tasks to `in_progress` for one worker process.
 * - lease: how long a claim holds (`lease_expires_at`). Running handlers renew it (heartbeat);
 *   a task whose lease expired is due again, so a dead process never strands its tasks.
 * - version: bumped by every write. Every transition after the claim names the version it
 *   read; if the row moved on meanwhile, zero rows change and the writer has lost the task
 *   (ErrOptimisticLock): its result is discarded.
 * - poller: claims as many tasks as the pool has room for, when woken or on a timer.
 * - pool: runs at most TASK_WORKERS handlers at once, with a bounded queue in front.
 *
 * State machine (every edge is one version-checked write, see `TRANSITIONS`):
 *
 *             claim                 handler returns
 *   pending ─────────► in_progress ─────────────────► completed
 *     ▲  │               │  │  │   handler throws / times out, attempts left
 *     │  │ cancel        │  │  └──────────────────► pending (run_at = now + backoff)
 *     │  ▼               │  │   no attempts left
 *   cancelled ◄──────────┘  └─────────────────────► failed
 *     │          cancel                               │
 *     └────────────── retry ──► pending ◄── retry ────┘
 *
 *   in_progress ──► in_progress: heartbeat (lease renewed) or re-claim after lease expiry.
 *   in_progress ──► pending: release at shutdown (the attempt is given back).
 */

export const STATUSES = ['pending', 'in_progress', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof STATUSES)[number];

/** Allowed transitions: from → the statuses a version-checked write may move a task to. */
export const TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  pending: ['in_progress', 'cancelled'],
  in_progress: ['in_progress', 'completed', 'pending', 'failed', 'cancelled'],
  completed: [],
  failed: ['pending'],
  cancelled: ['pending'],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export const FINISHED_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'cancelled'];

/** A task as stored: timestamps in epoch milliseconds, JSON columns as JSON text. */
export interface Task {
  id: string;
  title: string;
  description: string;
  status: TaskStatus;
  version: number;
  type: string;
  payload: string | null;
  priority: number;
  runAt: number;
  attempts: number;
  maxAttempts: number;
  leaseExpiresAt: number | null;
  lockedBy: string | null;
  lastError: string | null;
  result: string | null;
  idempotencyKey: string | null;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  updatedAt: number;
}

/** The task as clients see it: every field present, unset ones `null`, ISO-8601 UTC times. */
export interface TaskJson {
  id: string;
  title: string;
  description: string;
  status: TaskStatus;
  version: number;
  type: string;
  payload: unknown;
  priority: number;
  run_at: string;
  attempts: number;
  max_attempts: number;
  lease_expires_at: string | null;
  locked_by: string | null;
  last_error: string | null;
  result: unknown;
  idempotency_key: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  updated_at: string;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));
const jsonOrNull = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

export function taskToJson(task: Task): TaskJson {
  return {
    id: task.id,
    title: task.title,
    description: task.description,
    status: task.status,
    version: task.version,
    type: task.type,
    payload: jsonOrNull(task.payload),
    priority: task.priority,
    run_at: iso(task.runAt),
    attempts: task.attempts,
    max_attempts: task.maxAttempts,
    lease_expires_at: isoOrNull(task.leaseExpiresAt),
    locked_by: task.lockedBy,
    last_error: task.lastError,
    result: jsonOrNull(task.result),
    idempotency_key: task.idempotencyKey,
    created_at: iso(task.createdAt),
    started_at: isoOrNull(task.startedAt),
    completed_at: isoOrNull(task.completedAt),
    updated_at: iso(task.updatedAt),
  };
}
