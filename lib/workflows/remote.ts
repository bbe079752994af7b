import type { Config } from '../config/config.ts';
import { guardFromConfig, DestinationRefused, type DestinationGuard } from '../delivery/guard.ts';
import { HostLimiter } from '../delivery/host-limit.ts';
import { retryAfter } from '../delivery/http-task.ts';
import { webhookHeaders } from '../delivery/signing.ts';
import type { HttpAnswer, HttpTransport } from '../delivery/transport.ts';
import type { Logger } from '../foundation/log.ts';
import { NO_METRICS, type Metrics } from '../metrics/metrics.ts';
import type { HandlerContext, TaskHandler, TypeResolver } from '../processing/handlers.ts';
import { backoffMs } from '../processing/outcome.ts';
import { suspension, type Suspension } from '../processing/suspension.ts';
import { isTaskFailure, TaskFailure } from '../processing/task-failure.ts';
import { parseTaskId } from '../tasks/ids.ts';
import { buildTask, withId, type Task, type TaskJson } from '../tasks/model.ts';
import { childRunKey, runType, workflowOfType } from './define.ts';
import { suspendFor } from './engine.ts';
import type { StepRecord } from './protocol.ts';
import { checkAdvanceAnswer, verifyAnswer } from './wire-check.ts';
import type { RemoteWorkflow, RemoteWorkflows } from './remote-registry.ts';
import type { Fence, WorkflowRepository } from './repository.ts';
import { WIRE_VERSION, WIRE_VERSION_HEADER, type AdvanceAnswer, type AdvanceRequest } from './wire.ts';

/**
 * The engine's side of a workflow served by the user's own app (docs/workflow-protocol.md):
 * the handler of every `workflow:<name>` type registered by URL. Per execution of a run:
 *
 *   1. read the run's records; settle what only the engine sees (a wait whose event came, a
 *      wait or sleep past its time, an invoke whose child ended), committed fenced on the
 *      run's lease like every step record (repository.ts);
 *   2. POST the AdvanceRequest (every record) to the app, signed as `http` tasks are, through
 *      the same transport (SSRF guard at connect time on Node), per-host limit and bounded read;
 *   3. verify the answer's signature, check it (wire-check.ts), commit its records, start
 *      its children (once each: the child's idempotency key names the run and the step);
 *   4. by `end`: continue → advance again in this execution while its time allows;
 *      suspended → the run waits as an in-process run does (engine.ts suspendFor);
 *      completed → the run's output; failed → the run fails.
 *
 * An app that does not answer (a connection error, a timeout, 408, 429, 5xx) costs no step
 * retry and no attempt: the run is suspended until now + backoff (TASK_BACKOFF_BASE_MS doubling
 * per failure in a row, capped by TASK_BACKOFF_MAX_MS, or Retry-After), the count kept on the
 * run's event-mark record (repository.ts) and the reason shown as its `error`. Any other
 * status fails the run: a workflow URL answers 200 or is broken (401: the secrets differ).
 */

export type RemoteEngineConfig = Pick<
  Config,
  | 'maxAttempts'
  | 'backoffBaseMs'
  | 'backoffMaxMs'
  | 'timeoutSeconds'
  | 'workflowMaxStepBytes'
  | 'workflowMaxSteps'
  | 'workflowMaxRequestBytes'
  | 'webhookSecrets'
  | 'httpAllowPrivateNetworks'
  | 'httpAllowedHosts'
>;

export interface RemoteEngineDeps {
  repo: WorkflowRepository;
  remote: RemoteWorkflows;
  config: RemoteEngineConfig;
  transport: HttpTransport;
  logger: Logger;
  metrics?: Metrics;
  /** Whether a workflow of this name runs in this process (an invoke's target may be either kind). */
  inProcess(name: string): boolean;
  onChildStarted?(child: Task): void;
}

/** What of an error answer's body a run's error shows. */
const errorBodyChars = 300;
/** Time kept back from TASK_TIMEOUT_SECONDS so an execution returns before it is timed out. */
const executionMarginMs = 1000;

/** A problem with the app's answer: the run fails with this code and message. */
const protocolError = (what: string) => new TaskFailure(`protocol_error: ${what}`, { permanent: true });

/** The app did not answer usably for now: the run waits, no attempt or step retry spent. */
class Unanswered extends Error {
  readonly retryAt: number | undefined;
  constructor(message: string, retryAt?: number) {
    super(message);
    this.retryAt = retryAt;
  }
}

/**
 * The handler registry's resolver for remote workflows: every `workflow:` type not defined in
 * process gets the remote handler (which fails the run's attempt when no registration exists
 * when it runs); `has` and `types` answer from the registrations last read.
 */
export function remoteTypes(deps: RemoteEngineDeps): TypeResolver & { handler: TaskHandler; guard: DestinationGuard } {
  const guard = guardFromConfig(deps.config);
  const handler = remoteRunHandler(deps, guard);
  return {
    handler,
    guard,
    get: (type) => (workflowOfType(type) !== null ? handler : undefined),
    has: (type) => {
      const name = workflowOfType(type);
      return name !== null && deps.remote.knows(name);
    },
    types: () => [...deps.remote.knownNames()].map(runType),
    refresh: async () => void (await deps.remote.all()),
  };
}

function remoteRunHandler(deps: RemoteEngineDeps, guard: DestinationGuard): TaskHandler {
  const { config, repo } = deps;
  const metrics = deps.metrics ?? NO_METRICS;
  // One limiter per workflow: its max_per_host bounds its requests in flight per host.
  const limiters = new Map<string, HostLimiter>();
  const limiterFor = (workflow: RemoteWorkflow): HostLimiter => {
    let limiter = limiters.get(workflow.name);
    if (!limiter || limiter.limit !== workflow.maxPerHost) limiters.set(workflow.name, (limiter = new HostLimiter(workflow.maxPerHost)));
    return limiter;
  };

  return async (task, context) => {
    const name = workflowOfType(task.type)!;
    const runId = parseTaskId(task.id)!;
    const started = Date.now();
    const createdAt = Date.parse(task.created_at);
    const fence: Fence = { runId, lockedBy: task.locked_by ?? '', attempt: task.attempts };
    const children = new Map<string, number>();
    // Read once per execution; kept up to date with what this execution commits.
    const read = await repo.run(runId);
    const { steps, eventMark } = read;
    let advanceFailures = read.advanceFailures;
    // A run that had waited for its app shows that error no more once it answers.
    const clearError = advanceFailures > 0 ? null : undefined;
    const eventsSince = eventMark === null ? createdAt : 0;
    for (;;) {
      const workflow = await deps.remote.get(name);
      // Not registered (deleted, or never): retried like a task whose type has no handler.
      if (!workflow) throw new Error(`no workflow named ${JSON.stringify(name)} is registered`);
      const secrets = workflow.signingSecret !== null ? workflow.signingSecret.split(',') : config.webhookSecrets;
      if (secrets.length === 0) throw new TaskFailure(`workflow ${name} has no signing_secret and WEBHOOK_SECRET is not set`, { permanent: true });

      const now = Date.now();
      await settle(deps, fence, steps, eventMark ?? 0, eventsSince, now, metrics, name);

      const request: AdvanceRequest = {
        protocol: WIRE_VERSION,
        run: { id: task.id, workflow: name, input: task.payload, attempt: context.attempt, createdAt, eventMark: eventMark ?? 0 },
        now,
        settings: {
          maxStepBytes: config.workflowMaxStepBytes,
          maxSteps: config.workflowMaxSteps,
          defaultRetries: Math.max(0, config.maxAttempts - 1),
          backoffBaseMs: config.backoffBaseMs,
          backoffMaxMs: config.backoffMaxMs,
        },
        steps,
      };
      const body = JSON.stringify(request);
      // Each UTF-16 unit is at most 3 bytes of UTF-8: only a long body needs counting.
      const bytes = body.length * 3 > config.workflowMaxRequestBytes ? new TextEncoder().encode(body).byteLength : body.length;
      if (bytes > config.workflowMaxRequestBytes) {
        throw new TaskFailure(`workflow_request_too_large: the advance request is ${bytes} bytes, over WORKFLOW_MAX_REQUEST_BYTES (${config.workflowMaxRequestBytes})`, { permanent: true });
      }

      let answer: AdvanceAnswer;
      try {
        answer = await advance(deps, guard, limiterFor(workflow), workflow, secrets, task, body, request, context);
      } catch (error) {
        if (!(error instanceof Unanswered)) throw error;
        const failures = advanceFailures + 1;
        let at = Date.now() + backoffMs(failures, config.backoffBaseMs, config.backoffMaxMs);
        if (error.retryAt !== undefined && error.retryAt > Date.now()) at = Math.min(error.retryAt, Date.now() + config.backoffMaxMs);
        const message = `${error.message} (advance ${failures} in a row unanswered; next at ${new Date(at).toISOString()})`;
        await repo.setAdvanceFailures(fence, failures, error.message);
        context.logger.warn('workflow app did not answer: the run waits', { workflow: name, error: error.message, failures });
        return suspension(at, undefined, message);
      }
      if (advanceFailures > 0) {
        await repo.setAdvanceFailures(fence, 0, null);
        advanceFailures = 0;
      }

      for (const record of answer.records) {
        if (!(await repo.record(fence, record))) throw new Error(`the run's lease ended before step "${record.name}" was recorded`);
        if (record.completedAt !== null && (record.status === 'completed' || record.status === 'failed')) {
          metrics.stepFinished(name, record.kind, Math.max(0, record.completedAt - record.startedAt) / 1000);
        }
        keep(steps, record);
      }
      for (const child of answer.children) {
        const invoked = await startChild(deps, fence, task, child.step, child.workflow, child.input, metrics);
        children.set(child.step, invoked.childRunId!);
        keep(steps, invoked);
      }

      const end = answer.end;
      switch (end.kind) {
        case 'completed':
          context.logger.info('workflow run completed', { workflow: name });
          return end.output ?? null;
        case 'failed': {
          const error = end.code && !end.error.startsWith(end.code) ? `${end.code}: ${end.error}` : end.error;
          context.logger.info('workflow run failed', { workflow: name, error, ...(end.code ? { code: end.code } : {}) });
          throw new TaskFailure(error, { permanent: true });
        }
        case 'suspended': {
          const needs = end.needs.map((need) => (need.kind === 'invoke' && need.childRunId === 0 ? { ...need, childRunId: children.get(need.name)! } : need));
          const waiting: Suspension = suspendFor(needs, eventsSince);
          return suspension(waiting.runAt, waiting.wakeIf, clearError);
        }
        case 'continue': {
          if (context.signal.aborted) throw context.signal.reason;
          // Another advance could outlast TASK_TIMEOUT_SECONDS: go on in a fresh execution, due at once.
          const left = config.timeoutSeconds * 1000 - (Date.now() - started) - executionMarginMs;
          if (left < workflow.timeoutSeconds * 1000) return suspension(Date.now(), undefined, clearError);
          continue;
        }
      }
    }
  };
}

/**
 * Completes what the app cannot see: a wait whose event arrived (or whose timeout passed), a
 * sleep past its time, an invoke whose child run ended. Changes `steps` in place.
 */
async function settle(deps: RemoteEngineDeps, fence: Fence, steps: StepRecord[], eventMark: number, eventsSince: number, now: number, metrics: Metrics, workflow: string): Promise<void> {
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    if (step.status !== 'waiting') continue;
    let settled: StepRecord | undefined;
    if (step.kind === 'sleep' && step.wakeAt !== null && step.wakeAt <= now) {
      settled = { ...step, status: 'completed', completedAt: now };
    } else if (step.kind === 'wait' && step.event !== null) {
      let after = eventMark;
      for (const s of steps) if (s.kind === 'wait' && s.event === step.event && s.eventKey === step.eventKey && s.eventId !== null) after = Math.max(after, s.eventId);
      const found = await deps.repo.findEvent(step.event, step.eventKey, eventsSince, after);
      if (found) settled = { ...step, status: 'completed', output: found.payload ?? 'null', eventId: found.id, completedAt: now };
      else if (step.wakeAt !== null && step.wakeAt <= now) settled = { ...step, status: 'completed', output: 'null', completedAt: now };
    } else if (step.kind === 'invoke' && step.childRunId !== null) {
      const child = await deps.repo.childState(step.childRunId);
      if (child?.status === 'completed') settled = { ...step, status: 'completed', output: child.result ?? 'null', completedAt: now };
      else if (!child || child.status === 'failed' || child.status === 'cancelled') {
        const error = !child ? 'the child run no longer exists' : child.status === 'cancelled' ? 'the child run was cancelled' : (child.error ?? 'the child run failed');
        settled = { ...step, status: 'failed', error, completedAt: now };
      }
    }
    if (!settled) continue;
    if (!(await deps.repo.record(fence, settled))) throw new Error(`the run's lease ended before step "${step.name}" was recorded`);
    metrics.stepFinished(workflow, settled.kind, Math.max(0, now - settled.startedAt) / 1000);
    steps[i] = settled;
  }
}

/** Replaces the record of the same name, or appends it. */
function keep(steps: StepRecord[], record: StepRecord): void {
  const i = steps.findIndex((s) => s.name === record.name);
  if (i >= 0) steps[i] = record;
  else steps.push(record);
}

/** Starts a child run once (its key names the run and the step) and records the waiting invoke. */
async function startChild(deps: RemoteEngineDeps, fence: Fence, task: TaskJson, step: string, workflow: string, input: unknown, metrics: Metrics): Promise<StepRecord> {
  if (!deps.inProcess(workflow) && !(await deps.remote.get(workflow))) {
    throw new TaskFailure(`invoke "${step}": no workflow named ${JSON.stringify(workflow)} is registered`, { permanent: true });
  }
  const now = Date.now();
  const record: StepRecord = { name: step, kind: 'invoke', status: 'waiting', attempts: 0, output: null, error: null, startedAt: now, completedAt: null, wakeAt: null, event: null, eventKey: null, eventId: null, childRunId: null };
  const child = buildTask(
    { title: workflow, description: `child run of ${task.id} (step ${step})`, type: runType(workflow), payload: input ?? null },
    { now, maxAttempts: deps.config.maxAttempts, idempotencyKey: childRunKey(task.id, step) },
  );
  const started = await deps.repo.startChild(fence, record, child);
  if (!started) throw new Error(`the run's lease ended before step "${step}" was recorded`);
  if (started.created) {
    metrics.tasksSubmitted(child.type, 1);
    metrics.runStarted(workflow);
    deps.onChildStarted?.(withId(child, started.id));
  }
  return { ...record, childRunId: started.id };
}

/** One signed POST and its checked answer; throws Unanswered when the app should be asked again later. */
async function advance(
  deps: RemoteEngineDeps,
  guard: DestinationGuard,
  limiter: HostLimiter,
  workflow: RemoteWorkflow,
  secrets: readonly string[],
  task: TaskJson,
  body: string,
  request: AdvanceRequest,
  context: HandlerContext,
): Promise<AdvanceAnswer> {
  const { transport } = deps;
  const target = new URL(workflow.url);
  const refusal = guard.checkHost(target.hostname, !transport.checksResolvedAddresses);
  if (refusal) throw new TaskFailure(refusal, { permanent: true });
  // Unique per request: an answer recorded earlier cannot be replayed as this one's.
  const id = `${task.id}.${crypto.randomUUID()}`;
  const headers: Record<string, string> = {
    'user-agent': 'task-pool',
    'content-type': 'application/json',
    [WIRE_VERSION_HEADER]: String(WIRE_VERSION),
    ...(await webhookHeaders(secrets, id, body, transport.hmacSha256)),
  };
  const host = target.hostname.toLowerCase();
  const release = limiter.tryAcquire(host) ?? (await context.waitWithoutWorker(limiter.acquire(host, context.signal)));
  const controller = new AbortController();
  const onAbort = () => controller.abort(context.signal.reason);
  if (context.signal.aborted) onAbort();
  context.signal.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error('timeout'));
  }, workflow.timeoutSeconds * 1000);
  try {
    let response: HttpAnswer;
    try {
      response = await transport.send({ url: workflow.url, method: 'POST', headers, body, signal: controller.signal });
    } catch (error) {
      if (context.signal.aborted) throw context.signal.reason;
      if (timedOut) throw new Unanswered(`no answer from ${target.host} within ${workflow.timeoutSeconds}s`);
      const refused = findCause(error, (e) => e instanceof DestinationRefused || (e as { code?: unknown }).code === 'ERR_DESTINATION_REFUSED');
      if (refused) throw new TaskFailure((refused as Error).message, { permanent: true });
      const cause = findCause(error, (e) => e !== error) ?? error;
      const detail = cause instanceof Error ? `${(cause as { code?: string }).code ? `${(cause as { code?: string }).code}: ` : ''}${cause.message}` : String(cause);
      throw new Unanswered(`request to ${target.host} failed: ${detail}`);
    }
    const status = response.status;
    if (status >= 300 && status < 400) {
      const location = response.header('location');
      await response.discard();
      throw new TaskFailure(`HTTP ${status} redirect${location ? ` to ${location}` : ''}: a workflow URL does not redirect`, { permanent: true });
    }
    // An answer holds at most a few records of at most WORKFLOW_MAX_STEP_BYTES each, and the
    // request's bound is the larger: read no more than that.
    const read = await response.read(deps.config.workflowMaxRequestBytes + 1);
    if (status !== 200) {
      const start = read.text.slice(0, errorBodyChars);
      const message = `HTTP ${status}${response.statusText ? ` ${response.statusText}` : ''}${start ? `: ${start}` : ''}`;
      if (status === 408 || status === 429 || status >= 500) throw new Unanswered(message, retryAfter(response.header('retry-after')));
      throw new TaskFailure(status === 401 ? `${message} (the app refused the signature: do the secrets match?)` : message, { permanent: true });
    }
    if (read.truncated) throw protocolError(`the answer is over ${deps.config.workflowMaxRequestBytes} bytes (WORKFLOW_MAX_REQUEST_BYTES)`);
    const signed = await answerSignatureProblem(read.text, (name) => response.header(name), id, secrets);
    if (signed !== undefined) throw protocolError(signed);
    let parsed: unknown;
    try {
      parsed = JSON.parse(read.text);
    } catch {
      throw protocolError('the answer is not JSON');
    }
    const checked = checkAdvanceAnswer(parsed, request.steps, { maxSteps: request.settings.maxSteps, maxStepBytes: request.settings.maxStepBytes });
    if (typeof checked === 'string') throw protocolError(checked);
    return checked;
  } catch (error) {
    if (timedOut && !isTaskFailure(error) && !(error instanceof Unanswered)) throw new Unanswered(`no answer from ${target.host} within ${workflow.timeoutSeconds}s`);
    throw error;
  } finally {
    clearTimeout(timer);
    context.signal.removeEventListener('abort', onAbort);
    release();
  }
}

/**
 * Undefined when the answer carries the request's `webhook-id`, a timestamp within 5 minutes
 * and a `v1` signature by one of `secrets` over its body (wire-check.ts, `verifyAnswer`); else
 * what was wrong.
 */
async function answerSignatureProblem(body: string, header: (name: string) => string | null, requestId: string, secrets: readonly string[]): Promise<string | undefined> {
  const headers = new Headers();
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    const value = header(name);
    if (value === null) return 'the answer is not signed (webhook-id, webhook-timestamp and webhook-signature)';
    headers.set(name, value);
  }
  if (headers.get('webhook-id') !== requestId) return "the answer's webhook-id is not the request's";
  if (await verifyAnswer(body, headers, secrets, requestId)) return undefined;
  return "the answer's signature does not verify with the workflow's secret, or its webhook-timestamp is not within 5 minutes of now";
}

function findCause(error: unknown, match: (e: object) => boolean): object | undefined {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (match(e)) return e;
  }
  return undefined;
}
