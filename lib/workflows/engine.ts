import type { Config } from '../config/config.ts';
import type { Logger } from '../foundation/log.ts';
import type { SqlValue } from '../db/driver.ts';
import { NO_METRICS, type Metrics } from '../metrics/metrics.ts';
import type { HandlerRegistry, TaskHandler } from '../processing/handlers.ts';
import { backoffMs } from '../processing/outcome.ts';
import { suspension, type Suspension } from '../processing/suspension.ts';
import { TaskFailure } from '../processing/task-failure.ts';
import { parseTaskId } from '../tasks/ids.ts';
import { buildTask, withId, type Task } from '../tasks/model.ts';
import { childRunKey, isWorkflow, runType, type Workflow } from './define.ts';
import { execute, type ExecutionIO, type ExecutionSettings } from './executor.ts';
import type { Need, StepKind } from './protocol.ts';
import { childEndedCondition, eventArrivedCondition, WorkflowRepository } from './repository.ts';

/**
 * The engine: each workflow becomes a task type, `workflow:<name>`, whose handler replays the
 * run's records and runs what comes next (executor.ts). A run is a task like any other:
 * claimed, leased, heartbeated, cancelled, retried, rate limited, deleted by retention,
 * counted and shown. What the engine adds is how a run ends an execution:
 *
 *   the code returned         → the run completes with that output
 *   the code threw (uncaught) → the run fails (its steps had their retries; the run does not
 *                               start over on its own: POST /runs/:id/retry resumes it)
 *   it waits for something    → a suspension (lib/processing/suspension.ts): pending until
 *                               the earliest sleep end, wait timeout or step retry, or at once
 *                               when a matching event or the child's end is committed; no
 *                               worker, no lease and no attempt is held meanwhile
 */

/** A run waiting only for a child has no time of its own to wake at: it is woken by the child's end. */
const FAR_FUTURE_MS = 100 * 365 * 86_400_000;

export type WorkflowEngineConfig = Pick<Config, 'maxAttempts' | 'backoffBaseMs' | 'backoffMaxMs' | 'workflowMaxStepBytes' | 'workflowMaxSteps'>;

/** The workflows this deployable runs, by name. */
export class WorkflowRegistry {
  readonly #workflows = new Map<string, Workflow>();

  add(workflow: Workflow): void {
    if (!isWorkflow(workflow)) throw new Error('`workflows` must hold defineWorkflow(...) results');
    if (this.#workflows.has(workflow.name)) throw new Error(`workflow ${workflow.name} is defined twice`);
    this.#workflows.set(workflow.name, workflow);
  }

  get(name: string): Workflow | undefined {
    return this.#workflows.get(name);
  }

  has(name: string): boolean {
    return this.#workflows.has(name);
  }

  names(): string[] {
    return [...this.#workflows.keys()].sort();
  }
}

export interface WorkflowEngineDeps {
  repo: WorkflowRepository;
  config: WorkflowEngineConfig;
  logger: Logger;
  /** Child runs started, steps' durations (lib/metrics/); dropped when absent. */
  metrics?: Metrics;
  /** A child run was created: the local poller wakes for it as for a submit. */
  onChildStarted?(child: Task): void;
  /** Whether a workflow of this name is registered by URL (remote.ts): an invoke may start one. */
  isRemote?(name: string): Promise<boolean>;
}

/** Registers a handler for each workflow (type `workflow:<name>`) and returns the registry. */
export function registerWorkflows(handlers: HandlerRegistry, workflows: readonly Workflow[], deps: WorkflowEngineDeps): WorkflowRegistry {
  const registry = new WorkflowRegistry();
  for (const workflow of workflows) registry.add(workflow);
  const settings: ExecutionSettings = {
    maxStepBytes: deps.config.workflowMaxStepBytes,
    maxSteps: deps.config.workflowMaxSteps,
    defaultRetries: Math.max(0, deps.config.maxAttempts - 1),
    backoffMs: (attempt) => backoffMs(attempt, deps.config.backoffBaseMs, deps.config.backoffMaxMs),
    backoffMaxMs: deps.config.backoffMaxMs,
  };
  for (const workflow of workflows) handlers.register(runType(workflow.name), runHandler(workflow, registry, deps, settings));
  return registry;
}

function runHandler(workflow: Workflow, registry: WorkflowRegistry, deps: WorkflowEngineDeps, settings: ExecutionSettings): TaskHandler {
  const metrics = deps.metrics ?? NO_METRICS;
  const stepEnded = metrics === NO_METRICS ? undefined : (kind: StepKind, seconds: number) => metrics.stepFinished(workflow.name, kind, seconds);
  return async (task, context) => {
    const runId = parseTaskId(task.id)!;
    const createdAt = Date.parse(task.created_at);
    const fence = { runId, lockedBy: task.locked_by ?? '', attempt: task.attempts };
    const { steps, eventMark } = await deps.repo.run(runId);
    // Runs from before migration 0008 have no mark: they compare the events' times instead.
    const eventsSince = eventMark === null ? createdAt : 0;
    const io: ExecutionIO = {
      record: (step) => deps.repo.record(fence, step),
      findEvent: (event, key, afterId) => deps.repo.findEvent(event, key, eventsSince, afterId),
      startChild: async (step, name, input) => {
        if (!registry.has(name) && !(await deps.isRemote?.(name))) throw new TaskFailure(`invoke "${step.name}": no workflow named ${JSON.stringify(name)} is registered`, { permanent: true });
        const child = buildTask(
          { title: name, description: `child run of ${task.id} (step ${step.name})`, type: runType(name), payload: input ?? null },
          // The parent's id and the step's name make the child exist once, however often the parent replays.
          { now: Date.now(), maxAttempts: deps.config.maxAttempts, idempotencyKey: childRunKey(task.id, step.name) },
        );
        return deps.repo.startChild(fence, step, child).then((started) => {
          if (started?.created) {
            metrics.tasksSubmitted(child.type, 1);
            metrics.runStarted(name);
            deps.onChildStarted?.(withId(child, started.id));
          }
          return started?.id ?? null;
        });
      },
      childState: (id) => deps.repo.childState(id),
    };
    const end = await execute(workflow, { runId, workflow: workflow.name, input: task.payload, attempt: context.attempt, createdAt, eventMark: eventMark ?? 0, steps }, io, {
      runId: task.id,
      signal: context.signal,
      logger: context.logger,
      progress: (value) => context.progress(value),
      settings,
      stepEnded,
    });
    switch (end.kind) {
      case 'completed':
        context.logger.info('workflow run completed', { workflow: workflow.name });
        return end.output;
      case 'failed':
        context.logger.info('workflow run failed', { workflow: workflow.name, error: end.error, ...(end.code ? { code: end.code } : {}) });
        throw new TaskFailure(end.error, { permanent: true });
      case 'suspended':
        return suspendFor(end.needs, eventsSince);
    }
  };
}

/** One suspension for everything the run waits on: the earliest time, and any wake-up condition. */
export function suspendFor(needs: readonly Need[], eventsSince: number, now = Date.now()): Suspension {
  let runAt = Infinity;
  const conditions: { sql: string; args: SqlValue[] }[] = [];
  for (const need of needs) {
    switch (need.kind) {
      case 'sleep':
        runAt = Math.min(runAt, need.until);
        break;
      case 'retry':
        runAt = Math.min(runAt, need.at);
        break;
      case 'wait':
        runAt = Math.min(runAt, need.timeoutAt);
        conditions.push(eventArrivedCondition(need.event, need.key, eventsSince, need.afterEventId));
        break;
      case 'invoke':
        conditions.push(childEndedCondition(need.childRunId));
        break;
    }
  }
  if (runAt === Infinity) runAt = now + FAR_FUTURE_MS;
  const wakeIf = conditions.length === 0 ? undefined : { sql: conditions.map((c) => `(${c.sql})`).join(' OR '), args: conditions.flatMap((c) => c.args) };
  return suspension(runAt, wakeIf);
}

/**
 * Workflow events are kept WORKFLOW_EVENT_RETENTION, then deleted by this participant of the
 * processing cycle (lib/wiring/processing-cycle.ts), a bounded batch at a time.
 */
export class WorkflowEventSweeper {
  readonly name = 'workflow-events';
  readonly #repo: WorkflowRepository;
  readonly #retentionMs: number;
  readonly #logger: Logger;

  constructor(repo: WorkflowRepository, retentionMs: number, logger: Logger) {
    this.#repo = repo;
    this.#retentionMs = retentionMs;
    this.#logger = logger;
  }

  async upkeep(budgetMs: number): Promise<Record<string, number> | undefined> {
    if (this.#retentionMs <= 0) return undefined;
    const stopAt = Date.now() + budgetMs;
    let deleted = 0;
    try {
      for (;;) {
        const n = await this.#repo.deleteEventsBefore(Date.now() - this.#retentionMs, 500);
        deleted += n;
        if (n < 500 || Date.now() >= stopAt) break;
      }
    } catch (error) {
      this.#logger.warn('workflow event retention failed', { error });
    }
    return deleted > 0 ? { events_deleted: deleted } : undefined;
  }
}
