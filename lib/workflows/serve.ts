import { isWebhookSecret } from '../config/parsers.ts';
import { verifyWebhook } from '../delivery/verify.ts';
import { createLogger, type Logger, type LogLevel } from '../foundation/log.ts';
import { backoffMs } from '../processing/outcome.ts';
import { isWorkflow, type Workflow } from './define.ts';
import { executeTurn, errorText, type ExecutionIO, type TurnEnd } from './executor.ts';
import type { StepRecord } from './protocol.ts';
import { checkAdvanceRequest, signAnswer } from './wire-check.ts';
import { WIRE_VERSION, WIRE_VERSION_HEADER, type AdvanceAnswer, type AdvanceRequest, type ChildRequest } from './wire.ts';

/**
 * The app's side of the remote protocol (docs/workflow-protocol.md): `serve(workflow, {
 * signingSecret })` is a `(Request) => Promise<Response>` that a Hono route, a Next.js route
 * handler, a Worker, Bun or Deno serves as it is (node-handler.ts adapts it to node:http).
 *
 * Per request: verify the Standard Webhooks signature and timestamp (401, nothing run), check
 * the body against wire.ts (400), then run the workflow's code for one turn with the same
 * executor as in process (executor.ts, `executeTurn`): the records in the request replay, the
 * first steps not recorded run, and what they recorded goes back as the signed answer. The app
 * keeps nothing between requests; the engine commits the answer and asks again.
 *
 * Web APIs only (fetch's Request and Response, Web Crypto, TextEncoder): the package's
 * `task-pool/workflow` entry must bundle for any runtime and stay small (test/bundles.test.ts).
 */

export interface ServeOptions {
  /**
   * The workflow's `signing_secret` in task-pool (by default its WEBHOOK_SECRET): `whsec_` and
   * base64. Several (a list, or comma-separated) while rotating: a request signed with any
   * verifies, and the answer is signed with each.
   */
  signingSecret: string | readonly string[];
  /** How far a request's `webhook-timestamp` may be from this app's clock (default 300 s). */
  toleranceSeconds?: number;
  /** The level of `ctx.logger`, which writes JSON lines to the console (default `info`). */
  logLevel?: LogLevel;
}

export type WorkflowHandler = (request: Request) => Promise<Response>;

export function serve(workflow: Workflow, options: ServeOptions): WorkflowHandler {
  if (!isWorkflow(workflow)) throw new Error('serve(workflow, options): pass a defineWorkflow(...) result');
  const secrets = (typeof options?.signingSecret === 'string' ? options.signingSecret.split(',') : (options?.signingSecret ?? [])).map((s) => s.trim()).filter((s) => s !== '');
  if (secrets.length === 0 || !secrets.every(isWebhookSecret)) {
    throw new Error("serve(workflow, options): signingSecret must be the workflow's signing secret, whsec_ and the base64 of 24 to 64 bytes");
  }
  const toleranceSeconds = options.toleranceSeconds ?? 300;
  const logger = createLogger(options.logLevel ?? 'info', (line) => console.log(line), { workflow: workflow.name });

  return async (request) => {
    if (request.method !== 'POST') return error(405, 'method_not_allowed', 'a workflow endpoint answers POST only', { allow: 'POST' });
    let body: string;
    try {
      body = await request.text();
    } catch {
      return error(400, 'invalid_body', 'the request body could not be read');
    }
    const refused = await unverified(body, request.headers, secrets, toleranceSeconds);
    if (refused) return error(401, refused.code, refused.message);

    const version = request.headers.get(WIRE_VERSION_HEADER);
    if (version !== null && version !== String(WIRE_VERSION)) return error(400, 'unsupported_protocol', `${WIRE_VERSION_HEADER} is ${version}; this SDK speaks version ${WIRE_VERSION}`);
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      return error(400, 'invalid_json', 'the body is not JSON');
    }
    const advance = checkAdvanceRequest(json);
    if (typeof advance === 'string') return error(400, 'invalid_request', advance);
    if (advance.run.workflow !== workflow.name) {
      return error(404, 'unknown_workflow', `this endpoint serves workflow ${JSON.stringify(workflow.name)}, not ${JSON.stringify(advance.run.workflow)}`);
    }

    try {
      const answer = await advanceOnce(workflow, advance, request.signal, logger.child({ runId: advance.run.id }));
      const text = answerText(answer);
      return new Response(text, { status: 200, headers: await signAnswer(secrets, request.headers.get('webhook-id')!, text) });
    } catch (failure) {
      // The workflow's own errors end the run (`end.failed`) and never land here: this is the
      // SDK failing, or the request aborted under it. The engine advances again later.
      logger.error('workflow advance failed', { runId: advance.run.id, error: errorText(failure) });
      return error(500, 'sdk_error', `the workflow SDK failed: ${errorText(failure)}`);
    }
  };
}

/** Why a request does not verify, in words a person fixing the setup can act on; null when it does. */
async function unverified(body: string, headers: Headers, secrets: readonly string[], toleranceSeconds: number): Promise<{ code: string; message: string } | null> {
  const timestamp = headers.get('webhook-timestamp');
  if (!headers.get('webhook-id') || !timestamp || !headers.get('webhook-signature')) {
    return { code: 'unsigned', message: 'the request is not signed: webhook-id, webhook-timestamp and webhook-signature are required' };
  }
  if (!/^\d+$/.test(timestamp) || Math.abs(Math.floor(Date.now() / 1000) - Number(timestamp)) > toleranceSeconds) {
    return { code: 'stale_timestamp', message: `webhook-timestamp is more than ${toleranceSeconds} s from this app's clock (a replayed request, or a clock far off)` };
  }
  if (!(await verifyWebhook(body, headers, secrets, { toleranceSeconds }))) {
    return { code: 'invalid_signature', message: "webhook-signature does not verify with this workflow's signing secret" };
  }
  return null;
}

/**
 * One turn of the run's code against the request's records. The I/O the executor would do
 * against the database is the answer instead: records are collected (the engine commits
 * them), an event is never found here (the engine settles waits before it sends), a child run
 * is listed in `children` with id 0 (the engine starts it) and a child still recorded as
 * waiting is still running (the engine settles ended children too).
 */
async function advanceOnce(workflow: Workflow, advance: AdvanceRequest, signal: AbortSignal, logger: Logger): Promise<AdvanceAnswer> {
  const records = new Map<string, StepRecord>();
  const children: ChildRequest[] = [];
  const io: ExecutionIO = {
    record: async (step) => {
      records.set(step.name, step);
      return true;
    },
    findEvent: async () => null,
    startChild: async (step, name, input) => {
      children.push({ step: step.name, workflow: name, input: input === undefined ? null : input });
      return 0;
    },
    childState: async () => ({ status: 'pending', result: null, error: null }),
  };
  const { run, settings } = advance;
  // New sleeps, timeouts and retries are measured from the engine's clock, moved on by the
  // time spent here: an app whose clock is off does not move them.
  const offset = advance.now - Date.now();
  const end: TurnEnd = await executeTurn(
    workflow,
    { runId: 0, workflow: run.workflow, input: run.input, attempt: run.attempt, createdAt: run.createdAt, eventMark: run.eventMark, steps: advance.steps },
    io,
    {
      runId: run.id,
      signal,
      logger,
      now: () => Date.now() + offset,
      settings: {
        maxStepBytes: settings.maxStepBytes,
        maxSteps: settings.maxSteps,
        defaultRetries: settings.defaultRetries,
        backoffMs: (attempt) => backoffMs(attempt, settings.backoffBaseMs, settings.backoffMaxMs),
        backoffMaxMs: settings.backoffMaxMs,
      },
    },
  );
  return { protocol: WIRE_VERSION, records: [...records.values()], children, end: end.kind === 'completed' && end.output === undefined ? { kind: 'completed', output: null } : end };
}

/** The answer as JSON; an output or a child's input that is not JSON fails the run rather than the request. */
function answerText(answer: AdvanceAnswer): string {
  try {
    return JSON.stringify(answer);
  } catch (failure) {
    return JSON.stringify({ ...answer, end: { kind: 'failed', error: `the run's output or a child run's input is not JSON: ${errorText(failure)}` } });
  }
}

function error(status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ message, code }), { status, headers: { 'content-type': 'application/json', [WIRE_VERSION_HEADER]: String(WIRE_VERSION), ...headers } });
}
