import type { SqlDriver } from '../db/driver.ts';
import { ErrOptimisticLock } from '../foundation/errors.ts';
import { nextTurn } from '../foundation/next-turn.ts';
import { formatTaskId } from './ids.ts';
import type { Task } from './model.ts';
import type { TransitionRequest, TransitionResult } from './repository.ts';

/**
 * Completions settled many at once: the plain completions requested during one turn of the
 * event loop (a handler returned JSON; nothing else rides on the write) go to the database as
 * ONE statement, `UPDATE … FROM json_each(?) … RETURNING id`, instead of one UPDATE each. Each
 * row is still fenced by its version, so a stale worker's completion of a task that was
 * claimed again (or cancelled) changes nothing, and the RETURNING ids say which won.
 *
 * Why: on a server every statement is work for the server and bytes on the wire; one
 * statement for a batch of completions raised the raw claim + complete ceiling over sqld by
 * half (TOOLCHAIN measurement quoted in bench/README.md, "Fewer round trips (issue 24)"). On a
 * file it replaces N binds and steps through the native binding with one.
 *
 * What is not plain goes the ordinary way (TaskRepository.transitionMany), in the same group
 * commit: a completion with follow-ups (callbacks, the outbox), with progress still to write,
 * with a wake-up, or any write that records an attempt (a completion records none:
 * lib/tasks/attempts.ts). Triggers (a workflow child waking its parent) fire per row as for
 * the single UPDATE.
 */

/**
 * Each element of the JSON array is `[id, version, result, now]`. `result` is the handler's
 * result as JSON text, carried as a JSON string, so `->>` gives the text back exactly.
 * RETURNING may name only the updated table: the ids that won.
 */
export const COMPLETE_MANY = `UPDATE tasks
  SET status = 'completed', version = version + 1, updated_at = c.value ->> 3, completed_at = c.value ->> 3,
      result = c.value ->> 2, lease_expires_at = NULL, last_error = NULL
  FROM json_each(?) AS c
  WHERE tasks.id = c.value ->> 0 AND tasks.version = c.value ->> 1
  RETURNING tasks.id`;

/** The fields a plain completion writes (lib/processing/outcome.ts), and nothing else. */
const PLAIN_FIELDS = new Set(['result', 'completedAt', 'leaseExpiresAt', 'lastError']);

/** True when `request` is a completion that COMPLETE_MANY writes exactly as the single UPDATE would. */
export function isPlainCompletion(request: TransitionRequest, attemptsKept: number): boolean {
  const { fields, now } = request;
  if (request.to !== 'completed' || request.task.status !== 'in_progress' || fields === undefined || now === undefined) return false;
  if (request.followUps?.length || request.wakeIf || (request.attempt && attemptsKept > 0)) return false;
  if (typeof fields.result !== 'string' || fields.completedAt !== now || fields.leaseExpiresAt !== null || fields.lastError !== null) return false;
  for (const key in fields) if (!PLAIN_FIELDS.has(key)) return false;
  return true;
}

interface Pending {
  request: TransitionRequest;
  /** The task as the write makes it. */
  next: Task;
  resolve(result: TransitionResult): void;
  reject(error: unknown): void;
}

/**
 * Collects plain completions for one turn and writes them with one statement. `single` writes
 * one request the ordinary way: used for a turn with one completion (its prepared UPDATE is
 * cheaper than building JSON), for a task already waiting in this turn, and for each request
 * again when the shared statement fails, so one bad row does not fail its neighbours.
 */
export class CompletionBatcher {
  readonly #driver: SqlDriver;
  readonly #single: (request: TransitionRequest) => Promise<TransitionResult>;
  #pending: Pending[] = [];
  readonly #ids = new Set<number>();

  constructor(driver: SqlDriver, single: (request: TransitionRequest) => Promise<TransitionResult>) {
    this.#driver = driver;
    this.#single = single;
  }

  add(request: TransitionRequest, next: Task): Promise<TransitionResult> {
    if (this.#ids.has(request.task.id)) return this.#single(request);
    return new Promise((resolve, reject) => {
      if (this.#pending.length === 0) nextTurn(this.#flush);
      this.#pending.push({ request, next, resolve, reject });
      this.#ids.add(request.task.id);
    });
  }

  readonly #flush = (): void => {
    const batch = this.#pending;
    this.#pending = [];
    this.#ids.clear();
    if (batch.length === 1) {
      const only = batch[0]!;
      this.#single(only.request).then(only.resolve, only.reject);
      return;
    }
    void this.#write(batch);
  };

  async #write(batch: Pending[]): Promise<void> {
    let json = '[';
    for (let i = 0; i < batch.length; i++) {
      const { request, next } = batch[i]!;
      // Ids, versions and times are integers; the result is JSON text, quoted as a JSON string.
      json += `${i === 0 ? '' : ','}[${request.task.id},${request.task.version},${JSON.stringify(next.result)},${next.updatedAt}]`;
    }
    json += ']';
    let won: Set<number>;
    try {
      const [result] = await this.#driver.batch([{ sql: COMPLETE_MANY, args: [json], returning: true }]);
      won = new Set(result!.rows!.map((row) => Number(row.id)));
    } catch {
      for (const pending of batch) this.#single(pending.request).then(pending.resolve, pending.reject);
      return;
    }
    for (const { request, next, resolve } of batch) {
      resolve(won.has(request.task.id) ? { ok: true, task: next } : { ok: false, error: new ErrOptimisticLock(formatTaskId(request.task.id), request.task.version) });
    }
  }
}
