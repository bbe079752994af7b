import type * as z from 'zod';
import { AppError, badRequest, conflict } from '../foundation/errors.ts';
import { isoTime } from '../foundation/iso-time.ts';
import { formatTaskId, parseTaskId } from '../tasks/ids.ts';
import type { FlowControl, Task } from '../tasks/model.ts';
import type { ListFilter, TaskRepository } from '../tasks/repository.ts';
import { NO_METRICS, type Metrics } from '../metrics/metrics.ts';
import type { TaskRef, TaskService } from '../tasks/service.ts';
import { isFinal, type TaskStatus } from '../tasks/states.ts';
import { parseChildRunKey, runType, RUN_TYPE_PREFIX, workflowOfType } from './define.ts';
import type { WorkflowRegistry } from './engine.ts';
import type { StepRecord } from './protocol.ts';
import type { WorkflowRepository } from './repository.ts';
import type { DestinationGuard } from '../delivery/guard.ts';
import { workflowNamePattern } from './define.ts';
import type { RemoteWorkflow, RemoteWorkflows } from './remote-registry.ts';
import type { PutWorkflowBody } from './schemas.ts';
import type { RunDetailSchema, RunSchema, StepSchema, WaitingForSchema, WorkflowDetailSchema } from './schemas.ts';

/**
 * Workflow use cases for the API, the client, the CLI and the dashboard: start a run, read
 * runs and their steps, cancel (children too), retry (resume), send events. A run is a task,
 * so most of this is the task service's, seen through a run's shape.
 */

/** What a run waits for, as a client sees it. */
export type WaitingFor = z.infer<typeof WaitingForSchema>;
export type StepJson = z.infer<typeof StepSchema>;
/** A run as lists show it; `GET /runs/:id` adds its `steps` (RunDetailJson). */
export type RunJson = z.infer<typeof RunSchema>;
export type RunDetailJson = z.infer<typeof RunDetailSchema>;

export interface StartRunInput {
  input?: unknown;
  idempotencyKey?: string;
  runAt?: number;
  delaySeconds?: number;
  /** Flow control for the run's task (docs/flow-control.md). */
  flowControl?: FlowControl;
}

export interface RunFilter {
  workflow?: string;
  status?: TaskStatus;
  beforeId?: number;
  limit: number;
}

/**
 * A registered workflow with its runs by status and the created_at of its oldest pending run,
 * and where it is served for one registered by URL.
 */
export type WorkflowSummary = z.infer<typeof WorkflowDetailSchema>;

/** 404 naming a workflow that is not registered here. */
export const unknownWorkflow = (name: string) => new AppError(404, 'not_found', `workflow ${JSON.stringify(name)} is not registered`);
const runNotFound = () => new AppError(404, 'not_found', 'run not found');

/** What registering workflows by URL needs: their table's view and the SSRF guard of `http` tasks. */
export interface RemoteRegistration {
  workflows: RemoteWorkflows;
  guard: DestinationGuard;
  /** WEBHOOK_SECRET is set: a registration may go without its own secret. */
  hasDefaultSecret: boolean;
}

export class WorkflowService {
  readonly #tasks: TaskService;
  readonly #taskRepo: TaskRepository;
  readonly #repo: WorkflowRepository;
  readonly #metrics: Metrics;
  readonly #remote: RemoteRegistration | undefined;
  readonly registry: WorkflowRegistry;

  constructor(options: { tasks: TaskService; taskRepo: TaskRepository; repo: WorkflowRepository; registry: WorkflowRegistry; metrics?: Metrics; remote?: RemoteRegistration }) {
    this.#tasks = options.tasks;
    this.#taskRepo = options.taskRepo;
    this.#repo = options.repo;
    this.registry = options.registry;
    this.#metrics = options.metrics ?? NO_METRICS;
    this.#remote = options.remote;
  }

  /** Defined in process, or registered by URL (read at most a second ago, lib/workflows/remote-registry.ts). */
  async has(workflow: string): Promise<boolean> {
    return this.registry.has(workflow) || (await this.#remote?.workflows.get(workflow)) !== undefined;
  }

  /** The names of every workflow, in process and remote, sorted. */
  async names(): Promise<string[]> {
    const names = new Set(this.registry.names());
    for (const name of (await this.#remote?.workflows.all())?.keys() ?? []) names.add(name);
    return [...names].sort();
  }

  /** The URL each workflow registered by URL is served at (the dashboard's Workflows page). */
  async remoteUrls(): Promise<Map<string, string>> {
    const urls = new Map<string, string>();
    for (const [name, workflow] of (await this.#remote?.workflows.all()) ?? []) if (!this.registry.has(name)) urls.set(name, workflow.url);
    return urls;
  }

  /** 202 + run; an idempotency key replayed gives the same run (`replayed`). */
  async startRun(workflow: string, start: StartRunInput): Promise<{ run: RunJson; replayed: boolean }> {
    if (!(await this.has(workflow))) throw unknownWorkflow(workflow);
    if (start.runAt !== undefined && start.delaySeconds !== undefined) throw badRequest('run_at and delay_seconds are mutually exclusive', 'invalid_request');
    const { task, replayed } = await this.#tasks.submit(
      { title: workflow, description: 'workflow run', type: runType(workflow), payload: start.input ?? null, runAt: start.runAt, delaySeconds: start.delaySeconds, flowControl: start.flowControl },
      start.idempotencyKey,
    );
    // A registration deleted between the check above (a view up to a second old) and the insert:
    // DELETE's sweep of active runs may have read before this run existed. Read the table
    // after the insert: if the registration is still there, the run was in before any delete
    // and its sweep finds it; if not, the run is cancelled here and the start answers 404.
    if (!this.registry.has(workflow) && this.#remote && !(await this.#remote.workflows.repo.exists(workflow))) {
      this.#remote.workflows.invalidate();
      await this.#cancelIfActive(task.id);
      throw unknownWorkflow(workflow);
    }
    if (!replayed) this.#metrics.runStarted(workflow);
    return { run: runToJson(task, []), replayed };
  }

  /** The run with its steps and what it waits for; 404 for an id that is no run. */
  async getRun(ref: TaskRef): Promise<RunDetailJson> {
    const task = await this.#run(ref);
    const steps = await this.#repo.steps(task.id);
    return { ...runToJson(task, steps), steps: steps.map(stepToJson) };
  }

  /**
   * The run that started this one with `invoke`, and its step's name; null for a run started
   * any other way. Read from the child's idempotency key (define.ts, childRunKey) and believed
   * only when the parent's step record points back at this run: a client may choose any key.
   */
  async parentOf(ref: TaskRef): Promise<{ run_id: string; step: string } | null> {
    const task = await this.#run(ref);
    const named = task.idempotencyKey === null ? null : parseChildRunKey(task.idempotencyKey);
    const parentId = named === null ? null : parseTaskId(named.parentRunId);
    if (named === null || parentId === null) return null;
    const step = (await this.#repo.steps(parentId)).find((s) => s.name === named.step);
    return step?.kind === 'invoke' && step.childRunId === task.id ? { run_id: formatTaskId(parentId), step: step.name } : null;
  }

  /** Newest first; each with what it waits for, read in one query for the page. */
  async listRuns(filter: RunFilter): Promise<RunJson[]> {
    if (filter.workflow !== undefined && !(await this.has(filter.workflow))) throw unknownWorkflow(filter.workflow);
    const listFilter: ListFilter = { status: filter.status, beforeId: filter.beforeId, limit: filter.limit };
    const tasks = filter.workflow !== undefined ? await this.#tasks.list({ ...listFilter, type: runType(filter.workflow) }) : await this.#taskRepo.list({ ...listFilter, typePrefix: RUN_TYPE_PREFIX });
    const pending = tasks.filter((t) => t.status === 'pending').map((t) => t.id);
    const steps = await this.#repo.stepsOf(pending);
    return tasks.map((task) => runToJson(task, steps.get(task.id) ?? []));
  }

  /** Cancels the run and every child run it started that has not ended, depth first. */
  async cancelRun(ref: TaskRef): Promise<RunJson> {
    const task = await this.#run(ref);
    let cancelled: Task;
    try {
      cancelled = await this.#tasks.cancel(task.id);
    } catch (error) {
      // The task service says "task is already …"; the caller asked about a run.
      if (error instanceof AppError && error.status === 409) throw conflict(error.message.replace(/^task /, 'run '), 'run_finished');
      throw error;
    }
    await this.#cancelChildren(task.id);
    return runToJson(cancelled, await this.#repo.steps(task.id));
  }

  async #cancelChildren(runId: number): Promise<void> {
    for (const childId of await this.#repo.children(runId)) {
      const child = await this.#taskRepo.get(childId);
      if (child && !isFinal(child.status)) {
        try {
          await this.#tasks.cancel(childId);
        } catch (error) {
          // Ended meanwhile (409): nothing left to cancel there.
          if (!(error instanceof AppError && error.status === 409)) throw error;
        }
      }
      await this.#cancelChildren(childId);
    }
  }

  /**
   * Resumes a failed or cancelled run from where it stopped: its failed steps run again,
   * completed ones are not, and so do the child runs that ended failed or cancelled (resumed
   * first, depth first); 409 for a run that has not ended that way.
   */
  async retryRun(ref: TaskRef): Promise<RunJson> {
    const task = await this.#run(ref);
    if (task.status !== 'failed' && task.status !== 'cancelled') throw conflict(`run is ${task.status}: only failed or cancelled runs can be retried`, 'invalid_state');
    await this.#retryChildren(task.id);
    await this.#repo.resetForRetry(task.id);
    const retried = await this.#tasks.retry(task.id);
    return runToJson(retried, await this.#repo.steps(task.id));
  }

  /**
   * A replayed invoke finds the child it started before (its idempotency key), so a child left
   * cancelled (by cancelRun's cascade) or failed would end the resumed parent again at once,
   * on every retry. Children are resumed before their parent, so the parent's replay finds
   * them pending and waits.
   */
  async #retryChildren(runId: number): Promise<void> {
    for (const childId of await this.#repo.children(runId)) {
      const child = await this.#taskRepo.get(childId);
      if (child?.status !== 'failed' && child?.status !== 'cancelled') continue;
      await this.#retryChildren(childId);
      await this.#repo.resetForRetry(childId);
      try {
        await this.#tasks.retry(childId);
      } catch (error) {
        // Retried meanwhile (409): it runs again already.
        if (!(error instanceof AppError && error.status === 409)) throw error;
      }
    }
  }

  /** Stores the event and wakes every run waiting for it; `resumed` counts the runs made due. */
  async sendEvent(event: string, key: string | null, payload: unknown): Promise<{ event: string; key: string | null; resumed: number }> {
    const json = payload === undefined ? null : JSON.stringify(payload);
    const resumed = await this.#repo.sendEvent(event, key, json, Date.now());
    if (resumed > 0) this.#tasks.hooks.onResumed?.(RUN_TYPE_PREFIX);
    return { event, key, resumed };
  }

  /** Runs of every workflow by status (every status present, 0 when none), and their total: for /stats. */
  async runCounts(): Promise<{ counts: Record<TaskStatus, number>; total: number }> {
    const counts = await this.#repo.runCounts();
    let total = 0;
    for (const n of Object.values(counts)) total += n;
    return { counts, total };
  }

  /**
   * Every workflow, in process and registered by URL, with its runs by status (one grouped
   * read over the type index); `only` keeps one name.
   */
  async summaries(only?: string): Promise<WorkflowSummary[]> {
    const remote = (await this.#remote?.workflows.all()) ?? new Map<string, RemoteWorkflow>();
    const names = only !== undefined ? [only] : await this.names();
    const types = await this.#tasks.types(names.map(runType));
    const byName = new Map(types.map((t) => [workflowOfType(t.type), t]));
    return names.map((name) => {
      const stats = byName.get(name);
      const registration = this.registry.has(name) ? undefined : remote.get(name);
      return {
        name,
        runs: stats?.counts ?? {},
        oldest_pending_at: iso(stats?.oldestPendingCreatedAt ?? null),
        ...(registration ? { remote: remoteToJson(registration) } : {}),
      };
    });
  }

  /** One workflow as GET /workflows lists it; 404 when neither defined here nor registered. */
  async getWorkflow(name: string): Promise<WorkflowSummary> {
    if (!(await this.has(name))) throw unknownWorkflow(name);
    return (await this.summaries(name))[0]!;
  }

  /**
   * Registers a workflow served by an app, or changes its registration (PUT replaces every
   * field: an absent secret means WEBHOOK_SECRET again). 400 for a name or URL the rules or
   * the SSRF guard refuse, 409 for the name of a workflow defined in process.
   */
  async putRemote(name: string, body: PutWorkflowBody): Promise<{ workflow: WorkflowSummary; created: boolean }> {
    const remote = this.#requireRemote();
    if (!workflowNamePattern.test(name)) throw badRequest(`name: invalid workflow name ${JSON.stringify(name)}: letters, digits, '.', '_' and '-', at most 91`, 'invalid_field');
    if (this.registry.has(name)) throw conflict(`workflow ${JSON.stringify(name)} is defined in process: a remote workflow needs another name`, 'workflow_in_process');
    const refusal = remote.guard.checkHost(new URL(body.url).hostname);
    if (refusal) throw badRequest(`url: ${refusal}`, 'destination_refused');
    const secret = body.signing_secret ?? null;
    if (secret === null && !remote.hasDefaultSecret) throw badRequest('signing_secret: required when WEBHOOK_SECRET is not set (the app verifies every request)', 'invalid_field');
    const { created } = await remote.workflows.repo.put(
      { name, url: body.url, signingSecret: secret, timeoutSeconds: body.timeout_seconds, maxPerHost: body.max_per_host },
      Date.now(),
    );
    remote.workflows.invalidate();
    return { workflow: await this.getWorkflow(name), created };
  }

  /**
   * Removes a registration. 409 while runs of it are pending or in progress (checked by the
   * DELETE itself), unless `force`: then the registration goes first, so no run starts after
   * (startRun reads the table after its insert), and every pending or running run of it is
   * cancelled after, children too (as POST /runs/:id/cancel does).
   */
  async deleteRemote(name: string, force: boolean): Promise<{ name: string; deleted: true; cancelled_runs: number }> {
    const remote = this.#requireRemote();
    if (this.registry.has(name)) throw conflict(`workflow ${JSON.stringify(name)} is defined in process: only a workflow registered by URL can be deleted`, 'workflow_in_process');
    const type = runType(name);
    try {
      if (force) {
        if (!(await remote.workflows.repo.delete(name))) throw unknownWorkflow(name);
        return { name, deleted: true, cancelled_runs: await this.#cancelActiveRuns(type) };
      }
      for (;;) {
        if (await remote.workflows.repo.deleteIfIdle(name, type)) return { name, deleted: true, cancelled_runs: 0 };
        if (!(await remote.workflows.repo.exists(name))) throw unknownWorkflow(name);
        const [stats] = await this.#tasks.types([type]);
        const active = (stats?.counts.pending ?? 0) + (stats?.counts.in_progress ?? 0);
        // None left: they ended between the DELETE and the count; delete again.
        if (active > 0) throw conflict(`workflow ${JSON.stringify(name)} has ${active} active runs: cancel them, or DELETE with ?force=true`, 'workflow_has_runs');
      }
    } finally {
      remote.workflows.invalidate();
    }
  }

  /**
   * Cancels every pending or running run of the type (children too); how many it cancelled.
   * Once the registration is gone no run of it starts, but one may move between pending and
   * in progress while the two lists are read: passes go on until none is left.
   */
  async #cancelActiveRuns(type: string): Promise<number> {
    let cancelled = 0;
    for (;;) {
      for (const status of ['pending', 'in_progress'] as const) {
        for (;;) {
          const runs = await this.#tasks.list({ type, status, limit: 100 });
          let changed = 0;
          for (const run of runs) if (await this.#cancelIfActive(run.id)) changed++;
          cancelled += changed;
          if (runs.length < 100 || changed === 0) break;
        }
      }
      const [stats] = await this.#tasks.types([type]);
      if ((stats?.counts.pending ?? 0) + (stats?.counts.in_progress ?? 0) === 0) return cancelled;
    }
  }

  /** cancelRun, false when the run ended meanwhile (409). */
  async #cancelIfActive(runId: number): Promise<boolean> {
    try {
      await this.cancelRun(runId);
      return true;
    } catch (error) {
      if (error instanceof AppError && error.status === 409) return false;
      throw error;
    }
  }

  #requireRemote(): RemoteRegistration {
    if (!this.#remote) throw new AppError(501, 'not_supported', 'this deployment does not serve remote workflows');
    return this.#remote;
  }

  async #run(ref: TaskRef): Promise<Task> {
    let task: Task;
    try {
      task = await this.#tasks.get(ref);
    } catch (error) {
      if (error instanceof AppError && error.status === 404) throw runNotFound();
      throw error;
    }
    if (workflowOfType(task.type) === null) throw runNotFound();
    return task;
  }
}

const iso = (ms: number | null): string | null => (ms === null ? null : isoTime(ms));

/** A registration as the API shows it: never the secret, only whose it is. */
function remoteToJson(workflow: RemoteWorkflow): NonNullable<WorkflowSummary['remote']> {
  return {
    url: workflow.url,
    timeout_seconds: workflow.timeoutSeconds,
    max_per_host: workflow.maxPerHost,
    signing_secret: workflow.signingSecret === null ? 'WEBHOOK_SECRET' : 'own',
    created_at: isoTime(workflow.createdAt),
    updated_at: isoTime(workflow.updatedAt),
  };
}

const parsed = (json: string | null): unknown => (json === null ? null : JSON.parse(json));

export function stepToJson(step: StepRecord): StepJson {
  return {
    name: step.name,
    kind: step.kind,
    status: step.status,
    attempts: step.attempts,
    output: parsed(step.output),
    error: step.error,
    started_at: isoTime(step.startedAt),
    completed_at: iso(step.completedAt),
    wake_at: iso(step.wakeAt),
    event: step.event,
    key: step.eventKey,
    child_run_id: step.childRunId === null ? null : formatTaskId(step.childRunId),
  };
}

export function waitingFor(steps: readonly StepRecord[]): WaitingFor[] {
  const waits: WaitingFor[] = [];
  for (const step of steps) {
    if (step.status === 'retrying') {
      waits.push({ kind: 'retry', step: step.name, at: isoTime(step.wakeAt ?? step.startedAt), attempts: step.attempts, error: step.error });
    } else if (step.status === 'waiting') {
      if (step.kind === 'sleep') waits.push({ kind: 'sleep', step: step.name, until: isoTime(step.wakeAt!) });
      else if (step.kind === 'wait') waits.push({ kind: 'event', step: step.name, event: step.event!, key: step.eventKey, timeout_at: isoTime(step.wakeAt!) });
      else if (step.kind === 'invoke' && step.childRunId !== null) waits.push({ kind: 'child', step: step.name, run_id: formatTaskId(step.childRunId) });
    }
  }
  return waits;
}

export function runToJson(task: Task, steps: readonly StepRecord[]): RunJson {
  const waits = task.status === 'pending' ? waitingFor(steps) : [];
  return {
    id: formatTaskId(task.id),
    workflow: workflowOfType(task.type) ?? task.type,
    status: task.status,
    input: parsed(task.payload),
    output: parsed(task.result),
    error: task.lastError,
    attempts: task.attempts,
    created_at: isoTime(task.createdAt),
    started_at: iso(task.startedAt),
    completed_at: iso(task.completedAt),
    updated_at: isoTime(task.updatedAt),
    run_at: isoTime(task.runAt),
    waiting_for: waits.length > 0 ? waits : null,
  };
}
