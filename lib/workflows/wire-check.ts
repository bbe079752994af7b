import { verifyWebhook } from '../delivery/verify.ts';
import { webhookHeaders } from '../delivery/signing.ts';
import { STEP_KINDS, STEP_STATUSES, type Need, type StepRecord } from './protocol.ts';
import { WIRE_VERSION, WIRE_VERSION_HEADER, type AdvanceAnswer, type AdvanceRequest, type ChildRequest } from './wire.ts';

/**
 * The checks both sides of the remote protocol (wire.ts, docs/workflow-protocol.md) make on
 * what the other sent, and the signing of the answer. Each check returns the value, typed, or
 * a sentence naming the field that is wrong (`steps[2].kind must be one of …`).
 *
 * Written by hand, not with zod (which the API's schemas use): this file is in the SDK's bundle
 * (`task-pool/workflow`), whose budget is 10 KB gzipped (test/bundles.test.ts), and zod alone
 * is several times that. The shapes are small and flat, and wire.ts is their one source.
 */

type Fields = Record<string, unknown>;
const isObject = (value: unknown): value is Fields => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isName = (value: unknown): value is string => typeof value === 'string' && value !== '';
const orNull = (test: (value: unknown) => boolean) => (value: unknown) => value === null || test(value);
const isText = (value: unknown): value is string => typeof value === 'string';

/** The first field of `object` that fails its test, as a message; null when all pass. */
function fields(object: Fields, path: string, tests: Record<string, [(value: unknown) => boolean, string]>): string | null {
  for (const [key, [test, what]] of Object.entries(tests)) {
    if (!test(object[key])) return `${path}${key} must be ${what}`;
  }
  return null;
}

const COUNT: [typeof isCount, string] = [isCount, 'a whole number ≥ 0'];
const TIME: [typeof isTime, string] = [isTime, 'a time in milliseconds'];
const TIME_OR_NULL: [(v: unknown) => boolean, string] = [orNull(isTime), 'a time in milliseconds or null'];
const TEXT_OR_NULL: [(v: unknown) => boolean, string] = [orNull(isText), 'a string or null'];
const NAME: [typeof isName, string] = [isName, 'a non-empty string'];

function checkRecord(value: unknown, path: string): string | null {
  if (!isObject(value)) return `${path.slice(0, -1)} must be an object`;
  return fields(value, path, {
    name: NAME,
    kind: [(v) => (STEP_KINDS as readonly unknown[]).includes(v), `one of ${STEP_KINDS.join(', ')}`],
    status: [(v) => (STEP_STATUSES as readonly unknown[]).includes(v), `one of ${STEP_STATUSES.join(', ')}`],
    attempts: COUNT,
    output: TEXT_OR_NULL,
    error: TEXT_OR_NULL,
    startedAt: TIME,
    completedAt: TIME_OR_NULL,
    wakeAt: TIME_OR_NULL,
    event: TEXT_OR_NULL,
    eventKey: TEXT_OR_NULL,
    eventId: [orNull(isCount), 'a whole number or null'],
    childRunId: [orNull(isCount), 'a whole number or null'],
  });
}

/** A list of records with names unique in it; the message names the first that is wrong. */
function checkRecords(value: unknown, path: string): string | null {
  if (!Array.isArray(value)) return `${path} must be an array`;
  const names = new Set<string>();
  for (let i = 0; i < value.length; i++) {
    const problem = checkRecord(value[i], `${path}[${i}].`);
    if (problem) return problem;
    const name = (value[i] as StepRecord).name;
    if (names.has(name)) return `${path}[${i}].name ${JSON.stringify(name)} appears twice`;
    names.add(name);
  }
  return null;
}

/** The engine's request as the app reads it (serve.ts), or why it is not one. */
export function checkAdvanceRequest(json: unknown): AdvanceRequest | string {
  if (!isObject(json)) return 'the body must be a JSON object';
  if (json.protocol !== WIRE_VERSION) return `protocol must be ${WIRE_VERSION} (this SDK speaks version ${WIRE_VERSION})`;
  if (!isObject(json.run)) return 'run must be an object';
  const problem =
    fields(json.run, 'run.', {
      id: NAME,
      workflow: NAME,
      input: [(v) => v !== undefined, 'present (null when the run has none)'],
      attempt: [(v) => isCount(v) && v >= 1, 'a whole number ≥ 1'],
      createdAt: TIME,
      eventMark: COUNT,
    }) ??
    fields(json, '', { now: TIME }) ??
    (isObject(json.settings)
      ? fields(json.settings, 'settings.', {
          maxStepBytes: [(v) => isCount(v) && v > 0, 'a whole number > 0'],
          maxSteps: [(v) => isCount(v) && v > 0, 'a whole number > 0'],
          defaultRetries: COUNT,
          backoffBaseMs: COUNT,
          backoffMaxMs: COUNT,
        })
      : 'settings must be an object') ??
    checkRecords(json.steps, 'steps');
  return problem ?? (json as unknown as AdvanceRequest);
}

const NEED_TESTS: Record<Need['kind'], Record<string, [(value: unknown) => boolean, string]>> = {
  sleep: { name: NAME, until: TIME },
  retry: { name: NAME, at: TIME },
  wait: { name: NAME, event: NAME, key: TEXT_OR_NULL, timeoutAt: TIME, afterEventId: COUNT },
  invoke: { name: NAME, childRunId: COUNT },
};

export interface AnswerLimits {
  maxSteps: number;
  maxStepBytes: number;
}

/**
 * The app's answer as the engine may commit it, or why it is not the protocol: a record is new
 * or replaces a `waiting` or `retrying` record of the same name and kind (never a finished
 * one), a child is a step not recorded yet, `end` is one of the four kinds, and, given
 * `limits`, outputs and the run's step count stay within the run's limits.
 */
export function checkAdvanceAnswer(json: unknown, requestSteps: readonly StepRecord[], limits?: AnswerLimits): AdvanceAnswer | string {
  if (!isObject(json)) return 'the answer must be a JSON object';
  if (json.protocol !== WIRE_VERSION) return `protocol must be ${WIRE_VERSION}`;
  const recordsProblem = checkRecords(json.records, 'records');
  if (recordsProblem) return recordsProblem;
  const records = json.records as StepRecord[];
  const known = new Map(requestSteps.map((step) => [step.name, step]));
  let added = 0;
  for (const [i, record] of records.entries()) {
    const before = known.get(record.name);
    if (!before) {
      added++;
      continue;
    }
    if (before.kind !== record.kind) return `records[${i}] (${JSON.stringify(record.name)}) is a ${record.kind}, but it was recorded as a ${before.kind}`;
    if (before.status !== 'waiting' && before.status !== 'retrying') return `records[${i}] (${JSON.stringify(record.name)}) replaces a ${before.status} record`;
  }
  if (!Array.isArray(json.children)) return 'children must be an array';
  const recorded = new Set(records.map((record) => record.name));
  for (const [i, child] of (json.children as unknown[]).entries()) {
    if (!isObject(child)) return `children[${i}] must be an object`;
    const problem = fields(child, `children[${i}].`, { step: NAME, workflow: NAME, input: [(v) => v !== undefined, 'present (null for none)'] });
    if (problem) return problem;
    const step = child.step as string;
    if (known.has(step) || recorded.has(step)) return `children[${i}].step ${JSON.stringify(step)} is already recorded`;
    recorded.add(step);
    added++;
  }
  const children = json.children as ChildRequest[];
  if (limits) {
    if (requestSteps.length + added > limits.maxSteps) return `the answer takes the run to ${requestSteps.length + added} steps, over its limit of ${limits.maxSteps}`;
    const encoder = new TextEncoder();
    for (const [i, record] of records.entries()) {
      if (record.output !== null && encoder.encode(record.output).byteLength > limits.maxStepBytes) return `records[${i}].output is over the run's limit of ${limits.maxStepBytes} bytes`;
    }
  }
  const endProblem = checkEnd(json.end, records.length + children.length, new Set(children.map((child) => child.step)));
  return endProblem ?? (json as unknown as AdvanceAnswer);
}

function checkEnd(end: unknown, changes: number, newChildren: ReadonlySet<string>): string | null {
  if (!isObject(end)) return 'end must be an object';
  switch (end.kind) {
    case 'continue':
      // Nothing recorded and more to do would advance again at once, for ever.
      return changes === 0 ? 'end continue with no record and no child makes no progress' : null;
    case 'completed':
      return 'output' in end ? null : 'end.output must be present (null for none)';
    case 'failed':
      if (!isText(end.error)) return 'end.error must be a string';
      return end.code === undefined || end.code === 'workflow_changed' || end.code === 'too_many_steps' ? null : 'end.code must be workflow_changed or too_many_steps when given';
    case 'suspended': {
      if (!Array.isArray(end.needs) || end.needs.length === 0) return 'end.needs must be a non-empty array';
      for (const [i, need] of (end.needs as unknown[]).entries()) {
        if (!isObject(need) || typeof need.kind !== 'string' || !Object.hasOwn(NEED_TESTS, need.kind)) return `end.needs[${i}].kind must be one of ${Object.keys(NEED_TESTS).join(', ')}`;
        const problem = fields(need, `end.needs[${i}].`, NEED_TESTS[need.kind as Need['kind']]);
        if (problem) return problem;
        if (need.kind === 'invoke' && need.childRunId === 0 && !newChildren.has(need.name as string)) return `end.needs[${i}] waits for child 0, but children has no step ${JSON.stringify(need.name)}`;
      }
      return null;
    }
    default:
      return 'end.kind must be one of continue, completed, failed, suspended';
  }
}

/** The headers of a signed answer: Standard Webhooks over `body` with the request's id, and the protocol's version. */
export async function signAnswer(secrets: readonly string[], webhookId: string, body: string, now = Date.now()): Promise<Record<string, string>> {
  return { 'content-type': 'application/json', [WIRE_VERSION_HEADER]: String(WIRE_VERSION), ...(await webhookHeaders(secrets, webhookId, body, undefined, now)) };
}

/** The engine's request carries the same headers, signed over its body with a fresh id. */
export const signAdvanceRequest = signAnswer;

/**
 * Whether an answer is signed with one of `secrets`, for the request whose `webhook-id` was
 * `webhookId` (an answer to another request does not verify), within `toleranceSeconds` of now.
 */
export async function verifyAnswer(
  body: string,
  headers: Headers,
  secrets: string | readonly string[],
  webhookId: string,
  options: { toleranceSeconds?: number; now?: number } = {},
): Promise<boolean> {
  if (headers.get('webhook-id') !== webhookId) return false;
  return verifyWebhook(body, headers, secrets, options);
}
