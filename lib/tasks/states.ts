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
 *   a task whose lease expired is due again, so a dead process never strands its tasks. A task
 *   that leaves in_progress while its handler may still be running (cancelled; stopped by a
 *   timeout or a shutdown and not returned yet) keeps that attempt's lease: no other attempt
 *   starts before it ends, unless the attempt's process reports the handler returned and clears
 *   it first. Never two attempts of a task at once.
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
 *   Any edge to pending while the last attempt's lease holds: run_at is at least its end.
 *   Not an edge: the stopped attempt's process clears its lease once its handler has
 *   returned (TaskRepository.clearLease, attempt-checked), and a pending task is due at once.
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
