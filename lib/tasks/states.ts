/**
 * The words of this project, and the one state machine of a task. No imports: the drizzle
 * schema (lib/db/schema.ts) takes its status enum from here.
 *
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
 * - poller: claims as many tasks as the pool has room for, when woken, on a timer (local) or
 *   until a deadline (serverless).
 * - pool: runs at most TASK_WORKERS handlers at once, with a bounded queue in front.
 *
 * State machine (every edge is one version-checked write, see `TRANSITIONS`):
 *
 *             claim                 handler returns
 *   pending ─────────► in_progress ─────────────────► completed
 *     ▲  │               │  │  │   handler throws / times out, attempts left
 *     │  │ cancel        │  │  └──────────────────► pending (run_at = now + backoff)
 *     │  ▼               │  │   no attempts left, or a permanent failure
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

/** completed, failed or cancelled: what `?wait=` waits for (retry can still reopen the last two). */
export function isFinal(status: string): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}
