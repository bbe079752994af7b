import type { Config } from '../config.ts';
import { AppError, conflict, ErrOptimisticLock, notFound } from '../errors.ts';
import { newTaskId } from './ids.ts';
import type { Logger } from '../log.ts';
import { newTask, type Task } from './model.ts';
import { isFinal, type TaskStatus } from './states.ts';
import type { ListFilter, TaskRepository, TaskStats, TransitionFields } from './repository.ts';
import { NO_METRICS, type Metrics } from '../metrics/metrics.ts';
import { TaskEvents } from './events.ts';

/** A validated submit request (lib/api/routes/tasks.ts validates; this trusts its input). */
export interface SubmitInput {
  title: string;
  description: string;
  type: string;
  payload?: unknown;
  priority?: number;
  runAt?: number;
  delaySeconds?: number;
  maxAttempts?: number;
}

export interface SubmitResult {
  task: Task;
  /** True when an Idempotency-Key matched an earlier identical request. */
  replayed: boolean;
}

export interface TaskServiceHooks {
  /** A task was committed: the local poller wakes at once instead of waiting a tick. */
  onSubmitted?(task: Task): void;
  /** A task was cancelled: a handler running it in this process is aborted at once. */
  onCancelled?(task: Task): void;
}

/** Who hears about the service's writes: counters (lib/metrics/) and waiters (events.ts). */
export interface TaskObservers {
  metrics?: Metrics;
  events?: TaskEvents;
}

/**
 * Per-waiter re-reads (status only) back off from 100 ms to 1 s: another writer's change shows
 * within a second. Node processes share one re-read instead (local/shared-rereads.ts).
 */
const WAIT_REREAD_MS = { first: 100, max: 1000 };

/** The use cases behind the HTTP API, independent of HTTP. */
export class TaskService {
  readonly repo: TaskRepository;
  readonly #config: Pick<Config, 'maxAttempts' | 'maxPending'>;
  readonly #logger: Logger;
  readonly hooks: TaskServiceHooks;
  readonly metrics: Metrics;
  readonly events: TaskEvents;
  readonly #waits = new Set<Promise<unknown>>();

  constructor(
    repo: TaskRepository,
    config: Pick<Config, 'maxAttempts' | 'maxPending'>,
    logger: Logger,
    hooks: TaskServiceHooks = {},
    observers: TaskObservers = {},
  ) {
    this.repo = repo;
    this.#config = config;
    this.#logger = logger;
    this.hooks = hooks;
    this.metrics = observers.metrics ?? NO_METRICS;
    this.events = observers.events ?? new TaskEvents();
  }

  async submit(input: SubmitInput, idempotencyKey?: string): Promise<SubmitResult> {
    const now = Date.now();
    const requestHash = idempotencyKey === undefined ? null : await hashRequest(input);
    const task = buildTask(input, { now, maxAttempts: this.#config.maxAttempts, idempotencyKey });
    const inserted = await this.repo.insert(task, requestHash, this.#config.maxPending);
    if (inserted) {
      this.#logger.debug('task submitted', { task_id: task.id, type: task.type });
      this.metrics.tasksSubmitted(task.type, 1);
      this.hooks.onSubmitted?.(task);
      return { task, replayed: false };
    }
    if (idempotencyKey !== undefined) {
      const existing = await this.repo.getByIdempotencyKey(idempotencyKey);
      if (existing) {
        if (existing.requestHash !== requestHash) {
          throw conflict('Idempotency-Key was already used with a different request body', 'idempotency_key_reused');
        }
        return { task: existing.task, replayed: true };
      }
    }
    throw new AppError(429, 'queue_full', 'task queue is full', { 'Retry-After': '1' });
  }

  async get(id: string): Promise<Task> {
    const task = await this.repo.get(id);
    if (!task) throw notFound();
    return task;
  }

  list(filter: ListFilter): Promise<Task[]> {
    return this.repo.list(filter);
  }

  stats(): Promise<TaskStats> {
    return this.repo.stats();
  }

  /**
   * The task once it is final (completed, failed, cancelled) or `seconds` have passed, whichever
   * is first (`GET /tasks/:id?wait=N`). A final write by this process wakes the wait at once
   * (events.ts); other writers are seen by re-reading the status: one shared query per
   * interval when the process set that up (events.sharedRereads, Node), else per waiter with a
   * backoff. A client that goes away (`signal`) ends the wait; so does closeWaits().
   */
  waitUntilFinal(id: string, seconds: number, signal?: AbortSignal): Promise<Task> {
    const waiting = this.#waitUntilFinal(id, seconds, signal);
    const settled: Promise<void> = waiting.then(
      () => void this.#waits.delete(settled),
      () => void this.#waits.delete(settled),
    );
    this.#waits.add(settled);
    return waiting;
  }

  /**
   * At shutdown, before the database closes: every held `?wait=` answers with the task as it
   * is now instead of being cut off with its connection.
   */
  async closeWaits(): Promise<void> {
    this.events.close();
    await Promise.all(this.#waits);
  }

  async #waitUntilFinal(id: string, seconds: number, signal?: AbortSignal): Promise<Task> {
    const deadline = Date.now() + seconds * 1000;
    for (let delay = WAIT_REREAD_MS.first; ; delay = Math.min(delay * 2, WAIT_REREAD_MS.max)) {
      const left = deadline - Date.now();
      // Parked before the read, so a final write between the read and the wait is not missed.
      const shared = this.events.sharedRereads;
      const wait = left > 0 && !signal?.aborted && !this.events.closed ? this.events.next(id, shared ? left : Math.min(delay, left)) : undefined;
      let status: TaskStatus | null;
      try {
        status = await this.repo.status(id);
      } catch (error) {
        wait?.cancel();
        throw error;
      }
      if (status === null) {
        wait?.cancel();
        throw notFound();
      }
      if (!wait || isFinal(status)) {
        wait?.cancel();
        return this.get(id);
      }
      const unwatch = shared?.watch(id);
      const onAbort = () => wait.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      await wait.woken;
      signal?.removeEventListener('abort', onAbort);
      unwatch?.();
    }
  }

  /** pending or in_progress → cancelled. A running handler is asked to stop via its signal. */
  cancel(id: string): Promise<Task> {
    return this.#transitionLatest(id, (task) => {
      if (task.status === 'pending' || task.status === 'in_progress') {
        return { to: 'cancelled', fields: { completedAt: Date.now(), leaseExpiresAt: null } };
      }
      throw conflict(`task is already ${task.status}`, 'task_finished');
    }).then((task) => {
      this.#logger.info('task cancelled', { task_id: task.id });
      this.metrics.taskCancelled(task.type);
      this.events.finished(task.id);
      this.hooks.onCancelled?.(task);
      return task;
    });
  }

  /** failed or cancelled → pending, attempts reset, due now. */
  retry(id: string): Promise<Task> {
    return this.#transitionLatest(id, (task) => {
      if (task.status === 'failed' || task.status === 'cancelled') {
        return { to: 'pending', fields: { attempts: 0, runAt: Date.now(), startedAt: null, completedAt: null, leaseExpiresAt: null } };
      }
      throw conflict(`only failed or cancelled tasks can be retried (task is ${task.status})`, 'task_not_retryable');
    }).then((task) => {
      this.#logger.info('task retried', { task_id: task.id });
      this.metrics.taskRetried(task.type);
      this.hooks.onSubmitted?.(task);
      return task;
    });
  }

  /**
   * Reads the task, decides, writes with the version read; if a worker moved the task on in
   * between (a heartbeat, a completion), reads again and decides again.
   */
  async #transitionLatest(
    id: string,
    decide: (task: Task) => { to: TaskStatus; fields: TransitionFields },
  ): Promise<Task> {
    for (let attempt = 0; ; attempt++) {
      const task = await this.get(id);
      const { to, fields } = decide(task);
      try {
        return await this.repo.transition({ task, to, fields });
      } catch (error) {
        if (!(error instanceof ErrOptimisticLock) || attempt >= 20) throw error;
      }
    }
  }
}

/**
 * The new task a submit (or a handler's follow-up) asks for: the client's choices, the
 * configured defaults for the rest, times from `now`.
 */
export function buildTask(input: SubmitInput, options: { now: number; maxAttempts: number; idempotencyKey?: string }): Task {
  const { now } = options;
  return newTask({
    id: newTaskId(now),
    title: input.title,
    description: input.description,
    type: input.type,
    payload: input.payload === undefined ? null : JSON.stringify(input.payload),
    priority: input.priority ?? 0,
    runAt: input.runAt ?? (input.delaySeconds !== undefined ? now + Math.round(input.delaySeconds * 1000) : now),
    maxAttempts: input.maxAttempts ?? options.maxAttempts,
    idempotencyKey: options.idempotencyKey ?? null,
    createdAt: now,
    updatedAt: now,
  });
}

/** SHA-256 of the request's fields in a fixed order: the identity of an idempotent request. */
async function hashRequest(input: SubmitInput): Promise<string> {
  const canonical = JSON.stringify([
    input.title, input.description, input.type, input.payload ?? null, input.priority ?? null,
    input.runAt ?? null, input.delaySeconds ?? null, input.maxAttempts ?? null,
  ]);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
