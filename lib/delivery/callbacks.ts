import type { FollowUp } from '../processing/handlers.ts';
import { taskToJson, type Task } from '../tasks/model.ts';

/**
 * Callbacks through the outbox. When an `http` task completes and has `callback_url`, or
 * fails for good and has `failure_callback_url`, the callback is a new `http` task POSTing
 * the finished task (as GET /tasks/:id shows it) to that URL. processTask inserts it in the
 * same transaction as the parent's final transition (lib/processing/process-task.ts), so it
 * exists exactly when that transition committed; its idempotency key (`callback:<parent id>`,
 * `failure-callback:<parent id>`) makes a second insert for the same parent a no-op, so there
 * is one callback task per parent, also after a crash and a re-run. A retry of the parent is
 * not a new parent: it gets no second callback.
 *
 * The callback carries its parent's id three ways: in its key, in a `task-pool-parent-id`
 * request header, and as `id` in the body. It is retried like any task; it has no callback
 * of its own. Retries before the last attempt create nothing: only final transitions do.
 */
export const PARENT_HEADER = 'task-pool-parent-id';

export function callbackFollowUps(finished: Task): FollowUp[] {
  // Most http tasks have no callback: a substring test spares parsing their payload again at
  // every final transition (a payload that mentions the name elsewhere is parsed, as before).
  if (finished.payload === null || !finished.payload.includes('callback_url')) return [];
  const payload = (finished.payload === null ? null : JSON.parse(finished.payload)) as { callback_url?: unknown; failure_callback_url?: unknown } | null;
  if (payload === null || typeof payload !== 'object') return [];
  const kind = finished.status === 'completed' ? 'callback' : finished.status === 'failed' ? 'failure-callback' : undefined;
  const url = kind === 'callback' ? payload.callback_url : kind === 'failure-callback' ? payload.failure_callback_url : undefined;
  if (kind === undefined || typeof url !== 'string') return [];
  const body = taskToJson(finished);
  const id = body.id;
  return [
    {
      title: `${kind} for ${id}`,
      description: `POST ${finished.status} task ${id} to its ${kind === 'callback' ? 'callback_url' : 'failure_callback_url'}`,
      type: 'http',
      payload: { url, method: 'POST', headers: { [PARENT_HEADER]: id }, body },
      idempotencyKey: `${kind}:${id}`,
    },
  ];
}
