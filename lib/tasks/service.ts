import type { Config } from '../config/config.ts';
import { AppError, badRequest, conflict, ErrOptimisticLock, notFound } from '../foundation/errors.ts';
import { attemptHistory, type Attempt } from './attempts.ts';
import { formatTaskId, parseTaskId } from './ids.ts';
import type { Logger } from '../foundation/log.ts';
import { buildTask, storedPayload, type NewTask, type SubmitInput, type Task } from './model.ts';

export type { SubmitInput };
import { isFinal, type TaskStatus } from './states.ts';
import { MAINTENANCE_BATCH, type BatchEntry, type BulkFilter, type KeyedMode, type KeyedOutcome, type ListFilter, type TaskRepository, type TaskStats, type TransitionFields, type TransitionRequest, type TypeStats } from './repository.ts';
import { NO_METRICS, type Metrics } from '../metrics/metrics.ts';
import { TaskEvents } from './events.ts';

/**
 * A task named by a caller: its id (in process), or a client's string, which is the public
 * form (lib/tasks/ids.ts) or an id from before migration 0004 (a UUID, found by `legacy_id`).
 */
export type TaskRef = number | string;

export interface SubmitResult {
  task: Task;
  /** True when an Idempotency-Key matched an earlier identical request. */
  replayed: boolean;
  /** Set for a submit with `debounce`: true when it replaced the key's pending task (`task`). */
  debounced?: boolean;
  /** Set for a submit with `throttle`: true when the key's task (`task`) held it back. */
  throttled?: boolean;
}

/** One item of a batch submit: what POST /tasks takes, with its own optional idempotency key. */
export interface BatchItem {
  input: SubmitInput;
  idempotencyKey?: string;
}

/** What a bulk action did: tasks the filter selected, and those it moved. */
export interface BulkResult {
  matched: number;
  changed: number;
}

/** A worker reserved for a submit's own claim (lib/processing/poller.ts, `reserve`); exactly one of accept or decline follows. */
export interface HandOff {
  workerId: string;
  leaseMs: number;
  /** The insert claimed `task` for `workerId`: it runs now (or is released, when stopping). */
  accept(task: Task): void;
  /** The insert did not claim it (or failed): the worker is free again. */
  decline(): void;
}

export interface TaskServiceHooks {
  /** A task was committed: the local poller wakes at once instead of waiting a tick. */
  onSubmitted?(task: Task): void;
  /** A task was cancelled: a handler running it in this process is aborted at once. */
  onCancelled?(task: Task): void;
  /** A paused type was resumed: its due tasks can be claimed now. */
  onResumed?(type: string): void;
  /** A worker of this process for a submit to claim with its insert, if one is idle (Poller `reserve`). */
  reserveWorker?(): HandOff | undefined;
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
    if (input.debounce || input.throttle) return this.#submitKeyed(input, idempotencyKey);
    const now = Date.now();
    const requestHash = idempotencyKey === undefined ? null : await hashRequest(input);
    const built = buildTask(input, { now, maxAttempts: this.#config.maxAttempts, idempotencyKey });
    const task = (await this.#insertHandedOff(built, now)) ?? (await this.repo.insert(built, requestHash, this.#config.maxPending));
    if (task) {
      this.#logger.debug('task submitted', { task_id: formatTaskId(task.id), type: task.type });
      this.metrics.tasksSubmitted(task.type, 1);
      // A task this process claimed with its insert is running already: no poll for it.
      if (task.status === 'pending') this.hooks.onSubmitted?.(task);
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

  /**
   * A task due now, without an idempotency or flow key, submitted while a worker of this
   * process is idle: inserted already claimed by that worker and handed to it (Poller
   * `reserve`), so it starts when its insert is answered instead of a claim later. Null when
   * that does not apply or the insert did not claim it (a paused type, a full backlog): the
   * caller inserts it as usual, and nothing was written.
   */
  async #insertHandedOff(task: NewTask, now: number): Promise<Task | null> {
    if (task.runAt > now || task.idempotencyKey !== null || task.flowControl !== null || task.debounceKey !== null) return null;
    const handOff = this.hooks.reserveWorker?.();
    if (!handOff) return null;
    let claimed: Task | null;
    try {
      claimed = await this.repo.insertClaimed(task, handOff, this.#config.maxPending);
    } catch (error) {
      handOff.decline();
      throw error;
    }
    if (claimed) handOff.accept(claimed);
    else handOff.decline();
    return claimed;
  }

  /**
   * A submit with `debounce` or `throttle` (lib/tasks/debounce.ts). Never with an idempotency
   * key: a repeated debounced request is harmless as it is (it replaces the payload with the
   * same one), and a key would name one task while debounce moves between them.
   */
  async #submitKeyed(input: SubmitInput, idempotencyKey?: string): Promise<SubmitResult> {
    if (idempotencyKey !== undefined) throw keyedWithIdempotencyKey(input.debounce ? 'debounce' : 'throttle');
    const task = buildTask(input, { now: Date.now(), maxAttempts: this.#config.maxAttempts });
    const outcome = input.debounce
      ? await this.repo.debounce(task, this.#config.maxPending)
      : await this.repo.throttle(task, Math.round(input.throttle!.seconds * 1000), this.#config.maxPending);
    if (!outcome) throw new AppError(429, 'queue_full', 'task queue is full', { 'Retry-After': '1' });
    const stored = outcome.task;
    if (!outcome.held) {
      this.#logger.debug('task submitted', { task_id: formatTaskId(stored.id), type: stored.type });
      this.metrics.tasksSubmitted(stored.type, 1);
    }
    // A replacement moved run_at: the poller's timer follows it.
    if (!outcome.held || input.debounce) this.hooks.onSubmitted?.(stored);
    return input.debounce ? { task: stored, replayed: false, debounced: outcome.held } : { task: stored, replayed: false, throttled: outcome.held };
  }

  /** The task with this id (see `TaskRef`). */
  async get(id: TaskRef): Promise<Task> {
    return this.#get(await this.resolveId(id));
  }

  /**
   * The task's attempts, oldest first (lib/tasks/attempts.ts): the recorded ones, then the one
   * the task row describes (running or completed); 404 for an unknown task.
   */
  async attempts(id: TaskRef): Promise<{ task: Task; attempts: Attempt[] }> {
    const task = await this.get(id);
    return { task, attempts: attemptHistory(task, await this.repo.attempts(task.id)) };
  }

  /**
   * The task id a client's string names, or 404: the one place an id from before the rowid
   * migration (its `legacy_id`) is turned into the task's id, so every route that takes an id
   * accepts both. The task then shows its new id.
   */
  async resolveId(id: TaskRef): Promise<number> {
    if (typeof id === 'number') return id;
    const parsed = parseTaskId(id);
    if (parsed !== null) return parsed;
    const legacy = id.length <= 200 ? (await this.repo.idsByLegacyId([id])).get(id) : undefined;
    if (legacy === undefined) throw notFound();
    return legacy;
  }

  /**
   * The ids a bulk action's `ids` name, in either form; ids that name no task are left out
   * (like ids of tasks deleted meanwhile, they select nothing).
   */
  async resolveIds(ids: string[]): Promise<number[]> {
    const resolved: number[] = [];
    const legacy: string[] = [];
    for (const id of ids) {
      const parsed = parseTaskId(id);
      if (parsed !== null) resolved.push(parsed);
      else legacy.push(id);
    }
    if (legacy.length > 0) resolved.push(...(await this.repo.idsByLegacyId(legacy)).values());
    return resolved;
  }

  async #get(id: number): Promise<Task> {
    const task = await this.repo.get(id);
    if (!task) throw notFound();
    return task;
  }

  list(filter: ListFilter): Promise<Task[]> {
    return this.repo.list(filter);
  }

  /** Counts by status and the oldest pending task; with the tasks flow control holds back (`flow`). */
  async stats(): Promise<TaskStats> {
    const [stats, flow] = await Promise.all([this.repo.stats(), this.repo.flowStats()]);
    return { ...stats, flow };
  }

  /**
   * The task once it is final (completed, failed, cancelled) or `seconds` have passed, whichever
   * is first (`GET /tasks/:id?wait=N`). A final write by this process wakes the wait at once
   * (events.ts); other writers are seen by re-reading the status: one shared query per
   * interval when the process set that up (events.sharedRereads, Node), else per waiter with a
   * backoff. A client that goes away (`signal`) ends the wait; so does closeWaits().
   */
  waitUntilFinal(id: TaskRef, seconds: number, signal?: AbortSignal): Promise<Task> {
    const waiting = this.resolveId(id).then((resolved) => this.#waitUntilFinal(resolved, seconds, signal));
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

  async #waitUntilFinal(id: number, seconds: number, signal?: AbortSignal): Promise<Task> {
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
        return this.#get(id);
      }
      const unwatch = shared?.watch(id);
      const onAbort = () => wait.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      await wait.woken;
      signal?.removeEventListener('abort', onAbort);
      unwatch?.();
    }
  }

  /**
   * pending or in_progress → cancelled. A running handler is asked to stop via its signal; its
   * lease stays on the task until its process reports it stopped (see cancelDecision).
   */
  async cancel(id: TaskRef): Promise<Task> {
    return this.#transitionLatest(await this.resolveId(id), (task) => {
      const decision = cancelDecision(task, Date.now());
      if (decision) return decision;
      throw conflict(`task is already ${task.status}`, 'task_finished');
    }).then((task) => {
      this.#logger.info('task cancelled', { task_id: formatTaskId(task.id) });
      this.metrics.taskCancelled(task.type);
      this.events.finished(task.id);
      this.hooks.onCancelled?.(task);
      return task;
    });
  }

  /**
   * failed or cancelled → pending, attempts reset, due now, or once the last attempt has
   * stopped (see retryDecision).
   */
  async retry(id: TaskRef): Promise<Task> {
    return this.#transitionLatest(await this.resolveId(id), (task) => {
      const decision = retryDecision(task, Date.now());
      if (decision) return decision;
      throw conflict(`only failed or cancelled tasks can be retried (task is ${task.status})`, 'task_not_retryable');
    }).then((task) => {
      this.#logger.info('task retried', { task_id: formatTaskId(task.id) });
      this.metrics.taskRetried(task.type);
      this.hooks.onSubmitted?.(task);
      return task;
    });
  }

  /**
   * Submits several tasks at once, all or nothing: one INSERT (one transaction), results in the
   * order given. An item whose idempotency key already exists with the same request is not
   * inserted again: its result is the existing task, `replayed`. A key used twice in one batch
   * is a 400 naming both items; a key that exists with a different request, a 409 naming the
   * item; a backlog at TASK_MAX_PENDING that cannot take the whole batch, a 429. In each case
   * nothing is stored.
   */
  async submitMany(items: BatchItem[]): Promise<SubmitResult[]> {
    const firstByKey = new Map<string, number>();
    items.forEach(({ input, idempotencyKey: key }, i) => {
      if (key === undefined) return;
      if (input.debounce || input.throttle) throw keyedWithIdempotencyKey(input.debounce ? 'debounce' : 'throttle', `tasks[${i}]: `);
      const first = firstByKey.get(key);
      if (first !== undefined) throw badRequest(`tasks[${i}].idempotency_key repeats the key of tasks[${first}]`, 'duplicate_idempotency_key');
      firstByKey.set(key, i);
    });
    const keyed = items.some(({ input }) => input.debounce || input.throttle);
    const hashes: (string | null)[] = firstByKey.size === 0 ? items.map(() => null) : [];
    // A few at a time: each hash holds a copy of its request while the digest runs, and a
    // whole batch of them at once would hold the batch again (bench/README.md, "Batch memory").
    for (let i = 0; firstByKey.size > 0 && i < items.length; i += HASH_CONCURRENCY) {
      const slice = items.slice(i, i + HASH_CONCURRENCY);
      hashes.push(...(await Promise.all(slice.map(({ input, idempotencyKey }) => (idempotencyKey === undefined ? null : hashRequest(input))))));
    }
    // Twice at most: a key inserted by someone else between the look-up and the insert fails
    // the whole INSERT; the second look-up finds it and replays it.
    for (let attempt = 0; ; attempt++) {
      const existing = firstByKey.size > 0 ? await this.repo.getByIdempotencyKeys([...firstByKey.keys()]) : new Map();
      const now = Date.now();
      const results: (SubmitResult | null)[] = [];
      const fresh: BatchEntry[] = [];
      items.forEach(({ input, idempotencyKey }, i) => {
        const found = idempotencyKey === undefined ? undefined : existing.get(idempotencyKey);
        if (found) {
          if (found.requestHash !== hashes[i]) {
            throw conflict(`tasks[${i}]: idempotency_key was already used with a different request body`, 'idempotency_key_reused');
          }
          results.push({ task: found.task, replayed: true });
          return;
        }
        const task = buildTask(input, { now, maxAttempts: this.#config.maxAttempts, idempotencyKey });
        const mode: KeyedMode | undefined = input.debounce ? { kind: 'debounce' } : input.throttle ? { kind: 'throttle', windowMs: Math.round(input.throttle.seconds * 1000) } : undefined;
        fresh.push({ task, requestHash: hashes[i] ?? null, mode });
        results.push(null);
      });
      let stored: KeyedOutcome[] | null;
      try {
        stored = keyed
          ? await this.repo.insertManyWithKeys(fresh, this.#config.maxPending)
          : (await this.repo.insertMany(fresh.map((e) => e.task), fresh.map((e) => e.requestHash), this.#config.maxPending)).map((task) => ({ task, held: false }));
      } catch (error) {
        if (attempt === 0 && /UNIQUE constraint failed/i.test(String((error as Error)?.message))) continue;
        throw error;
      }
      if (!stored || stored.length !== fresh.length) throw new AppError(429, 'queue_full', 'task queue is full', { 'Retry-After': '1' });
      const created = stored.filter((outcome) => !outcome.held).length;
      if (created > 0) this.#logger.debug('tasks submitted', { count: created });
      stored.forEach(({ task, held }, i) => {
        // A replacement moved run_at: the poller's timer follows it.
        if (!held || fresh[i]!.mode?.kind === 'debounce') this.hooks.onSubmitted?.(task);
      });
      // The new tasks fill the places a replay did not take, in order.
      let next = 0;
      return results.map((result) => {
        if (result) return result;
        const entry = fresh[next];
        const { task, held } = stored[next++]!;
        if (entry?.mode?.kind === 'debounce') return { task, replayed: false, debounced: held };
        if (entry?.mode?.kind === 'throttle') return { task, replayed: false, throttled: held };
        return { task, replayed: false };
      });
    }
  }

  /** Deletes a task that is not running (409 while in_progress: cancel it first). */
  async delete(publicId: TaskRef): Promise<void> {
    const id = await this.resolveId(publicId);
    for (;;) {
      if (await this.repo.deleteUnlessRunning(id)) {
        this.#logger.info('task deleted', { task_id: formatTaskId(id) });
        return;
      }
      const task = await this.repo.get(id);
      if (!task) throw notFound();
      if (task.status === 'in_progress') throw conflict('task is running; cancel it first', 'task_running');
      // It finished between the DELETE and the read: delete again.
    }
  }

  /** Cancels every pending or running task the filter selects (running handlers are aborted). */
  async cancelMatching(filter: BulkFilter): Promise<BulkResult> {
    const result = await this.#bulk(filter, cancelDecision, (task) => {
      this.metrics.taskCancelled(task.type);
      this.hooks.onCancelled?.(task);
    });
    this.#logger.info('tasks cancelled', { ...result });
    return result;
  }

  /** Retries every failed or cancelled task the filter selects. */
  async retryMatching(filter: BulkFilter): Promise<BulkResult> {
    const result = await this.#bulk(filter, retryDecision, (task) => {
      this.metrics.taskRetried(task.type);
      this.hooks.onSubmitted?.(task);
    });
    this.#logger.info('tasks retried', { ...result });
    return result;
  }

  /** Claims skip the type's tasks from now on, in every process; submits are still accepted. */
  async pauseType(type: string): Promise<{ type: string; paused: true; pausedAt: number }> {
    await this.repo.pauseType(type);
    const pausedAt = (await this.repo.pausedTypes()).get(type) ?? Date.now();
    this.#logger.info('type paused', { type });
    return { type, paused: true, pausedAt };
  }

  async resumeType(type: string): Promise<{ type: string; paused: false }> {
    if (await this.repo.resumeType(type)) {
      this.#logger.info('type resumed', { type });
      this.hooks.onResumed?.(type);
    }
    return { type, paused: false };
  }

  /** Counts by status, paused or not, and the oldest pending task, per type (`known`: types to list even without tasks). */
  types(known: Iterable<string> = []): Promise<TypeStats[]> {
    return this.repo.typeStats(known);
  }

  /**
   * A bulk action: the filter's tasks page by page (MAINTENANCE_BATCH per page, so each commit
   * is short), each eligible one moved by a version-checked transition; one that lost its race
   * (a worker moved it on) is read again and decided again, like a single cancel or retry.
   */
  async #bulk(filter: BulkFilter, decide: Decide, changedHook: (task: Task) => void): Promise<BulkResult> {
    let matched = 0;
    let changed = 0;
    let afterId: number | null = null;
    for (;;) {
      const page = await this.repo.listForBulk(filter, afterId, MAINTENANCE_BATCH);
      if (page.length === 0) break;
      matched += page.length;
      afterId = page[page.length - 1]!.id;
      let candidates = page;
      for (let attempt = 0; candidates.length > 0 && attempt <= 20; attempt++) {
        const now = Date.now();
        const requests: TransitionRequest[] = [];
        for (const task of candidates) {
          const decision = decide(task, now);
          if (decision) requests.push({ task, ...decision, now });
        }
        const results = await this.repo.transitionMany(requests);
        const lost: number[] = [];
        results.forEach((result, i) => {
          if (result.ok) {
            changed++;
            changedHook(result.task);
          } else {
            lost.push(requests[i]!.task.id);
          }
        });
        candidates = lost.length > 0 ? await this.repo.listForBulk({ ...filter, ids: lost }, null, lost.length) : [];
      }
      if (page.length < MAINTENANCE_BATCH) break;
    }
    return { matched, changed };
  }

  /**
   * Reads the task, decides, writes with the version read; if a worker moved the task on in
   * between (a heartbeat, a completion), reads again and decides again.
   */
  async #transitionLatest(
    id: number,
    decide: (task: Task) => { to: TaskStatus; fields: TransitionFields },
  ): Promise<Task> {
    for (let attempt = 0; ; attempt++) {
      const task = await this.#get(id);
      const { to, fields } = decide(task);
      try {
        return await this.repo.transition({ task, to, fields });
      } catch (error) {
        if (!(error instanceof ErrOptimisticLock) || attempt >= 20) throw error;
      }
    }
  }
}

type Decide = (task: Task, now: number) => { to: TaskStatus; fields: TransitionFields } | null;

/**
 * The lease an attempt still holds on the task, or null once it has run out. A task that
 * left in_progress keeps its attempt's lease while that attempt's handler may still be running
 * (it was cancelled, or stopped and has not returned): its process clears the lease once the
 * handler returns (TaskRepository.clearLease); if that process died, the lease runs out.
 */
export function heldLease(task: Task, now: number): number | null {
  return task.leaseExpiresAt !== null && task.leaseExpiresAt > now ? task.leaseExpiresAt : null;
}

/**
 * pending or in_progress → cancelled; null for any other status. A running attempt's lease
 * stays on the task: its handler is only asked to stop, and a retry must wait for it.
 */
export const cancelDecision: Decide = (task, now) =>
  task.status === 'pending' || task.status === 'in_progress' ? { to: 'cancelled', fields: { completedAt: now, leaseExpiresAt: heldLease(task, now) } } : null;

/**
 * failed or cancelled → pending, attempts reset, due now; null for any other status. Never
 * two attempts at once: while the last attempt's lease holds (its handler may still be
 * running), the task is due when that lease ends, or earlier if the attempt's process reports
 * its handler returned (it clears the lease and brings `run_at` forward).
 */
export const retryDecision: Decide = (task, now) => {
  if (task.status !== 'failed' && task.status !== 'cancelled') return null;
  const lease = heldLease(task, now);
  return { to: 'pending', fields: { attempts: 0, runAt: Math.max(now, lease ?? now), startedAt: null, completedAt: null, leaseExpiresAt: lease } };
};

/** 400: debounce or throttle together with an idempotency key (TaskService.#submitKeyed says why). */
export function keyedWithIdempotencyKey(field: 'debounce' | 'throttle', where = ''): AppError {
  return badRequest(`${where}${field} cannot be combined with an idempotency key: a repeated ${field}d submit is already harmless (docs/debounce.md)`, 'invalid_field');
}

const HASH_CONCURRENCY = 16;

/**
 * SHA-256 of the request's fields in a fixed order: the identity of an idempotent request.
 * The text is `JSON.stringify([title, description, type, payload ?? null, priority ?? null,
 * runAt ?? null, delaySeconds ?? null, maxAttempts ?? null])`, written with the payload's JSON
 * text in its place (the same characters), so a payload given as text is not parsed again and
 * stored hashes keep matching.
 */
async function hashRequest(input: SubmitInput): Promise<string> {
  const rest = [input.priority ?? null, input.runAt ?? null, input.delaySeconds ?? null, input.maxAttempts ?? null].map((v) => JSON.stringify(v)).join(',');
  const canonical = `[${JSON.stringify(input.title)},${JSON.stringify(input.description)},${JSON.stringify(input.type)},${storedPayload(input) ?? 'null'},${rest}]`;
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
