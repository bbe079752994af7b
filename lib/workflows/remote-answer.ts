import type { AdvanceAnswer, AdvanceRequest } from './wire.ts';
import { STEP_KINDS, STEP_STATUSES, type Need, type StepRecord } from './protocol.ts';

/**
 * What the engine checks in an app's answer before it commits anything
 * (docs/workflow-protocol.md, "The answer"): its shape, that each record is new or replaces a
 * `waiting` or `retrying` record of the same name and kind (never a finished one), that step
 * outputs and the run's step count stay within the run's limits, and that `end` is one of the
 * four kinds. Returns the answer typed, or what was wrong (the run then fails with
 * `protocol_error`). Pure: no I/O, so it is tested with hand-made answers.
 */
export function checkAnswer(request: AdvanceRequest, raw: unknown): AdvanceAnswer | string {
  if (!isObject(raw)) return 'the answer is not a JSON object';
  if (raw.protocol !== 1) return `protocol is ${JSON.stringify(raw.protocol)}, not 1`;
  if (!Array.isArray(raw.records)) return 'records is not an array';
  if (!Array.isArray(raw.children)) return 'children is not an array';
  const known = new Map(request.steps.map((s) => [s.name, s]));
  let count = known.size;
  const encoder = new TextEncoder();
  for (const [i, record] of raw.records.entries()) {
    const problem = recordProblem(record);
    if (problem) return `records[${i}]: ${problem}`;
    const r = record as StepRecord;
    const before = known.get(r.name);
    if (before) {
      if (before.kind !== r.kind) return `records[${i}]: "${r.name}" is recorded as a ${before.kind}, not a ${r.kind}`;
      if (before.status === 'completed' || before.status === 'failed') return `records[${i}]: "${r.name}" is already ${before.status}`;
      if (before.kind === 'invoke' && before.childRunId !== null && r.childRunId !== before.childRunId) return `records[${i}]: "${r.name}" changes its child run`;
    } else if (++count > request.settings.maxSteps) {
      return `the run would have more than ${request.settings.maxSteps} steps (WORKFLOW_MAX_STEPS)`;
    }
    if (r.output !== null && r.output.length * 3 > request.settings.maxStepBytes && encoder.encode(r.output).byteLength > request.settings.maxStepBytes) {
      return `records[${i}]: "${r.name}" output is over WORKFLOW_MAX_STEP_BYTES (${request.settings.maxStepBytes})`;
    }
    known.set(r.name, r);
  }
  const childSteps = new Set<string>();
  for (const [i, child] of raw.children.entries()) {
    if (!isObject(child) || !nonEmpty(child.step) || !nonEmpty(child.workflow)) return `children[${i}]: needs a step and a workflow (non-empty strings)`;
    if (childSteps.has(child.step)) return `children[${i}]: step "${child.step}" is listed twice`;
    const before = known.get(child.step);
    if (before && (before.kind !== 'invoke' || before.status === 'completed' || before.status === 'failed')) return `children[${i}]: step "${child.step}" is already recorded`;
    if (!before && ++count > request.settings.maxSteps) return `the run would have more than ${request.settings.maxSteps} steps (WORKFLOW_MAX_STEPS)`;
    childSteps.add(child.step);
  }
  const end = raw.end;
  if (!isObject(end)) return 'end is not an object';
  switch (end.kind) {
    case 'continue':
      if (raw.records.length === 0 && raw.children.length === 0) return 'end is continue, but nothing was recorded';
      break;
    case 'completed':
      break;
    case 'failed':
      if (typeof end.error !== 'string') return 'end.error is not a string';
      if (end.code !== undefined && end.code !== 'workflow_changed' && end.code !== 'too_many_steps') return `end.code ${JSON.stringify(end.code)} is not workflow_changed or too_many_steps`;
      break;
    case 'suspended': {
      if (!Array.isArray(end.needs) || end.needs.length === 0) return 'end.needs is not a non-empty array';
      for (const [i, need] of end.needs.entries()) {
        const problem = needProblem(need, childSteps, known);
        if (problem) return `end.needs[${i}]: ${problem}`;
      }
      break;
    }
    default:
      return `end.kind ${JSON.stringify(end.kind)} is not continue, suspended, completed or failed`;
  }
  return raw as unknown as AdvanceAnswer;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value !== '';
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const textOrNull = (value: unknown) => value === null || typeof value === 'string';
const timeOrNull = (value: unknown) => value === null || isTime(value);

function recordProblem(record: unknown): string | undefined {
  if (!isObject(record)) return 'not an object';
  if (!nonEmpty(record.name)) return 'name is not a non-empty string';
  if (!(STEP_KINDS as readonly unknown[]).includes(record.kind)) return `kind ${JSON.stringify(record.kind)} is not one of ${STEP_KINDS.join(', ')}`;
  if (!(STEP_STATUSES as readonly unknown[]).includes(record.status)) return `status ${JSON.stringify(record.status)} is not one of ${STEP_STATUSES.join(', ')}`;
  if (!Number.isInteger(record.attempts) || (record.attempts as number) < 0) return 'attempts is not a whole number ≥ 0';
  for (const field of ['output', 'error', 'event', 'eventKey'] as const) if (!textOrNull(record[field])) return `${field} is not a string or null`;
  if (!isTime(record.startedAt)) return 'startedAt is not a time';
  for (const field of ['completedAt', 'wakeAt', 'eventId', 'childRunId'] as const) if (!timeOrNull(record[field])) return `${field} is not a number or null`;
  if (record.output !== null) {
    try {
      JSON.parse(record.output as string);
    } catch {
      return 'output is not JSON text';
    }
  }
  if ((record.status === 'waiting' || record.status === 'retrying') && record.wakeAt === null && record.kind !== 'invoke') return `a ${record.status} ${record.kind} needs wakeAt`;
  if (record.kind === 'wait' && !nonEmpty(record.event)) return 'a wait needs its event';
  return undefined;
}

function needProblem(need: unknown, childSteps: Set<string>, known: Map<string, StepRecord>): string | undefined {
  if (!isObject(need) || !nonEmpty(need.name)) return 'not an object with a name';
  const n = need as unknown as Need;
  switch (n.kind) {
    case 'sleep':
      return isTime(n.until) ? undefined : 'until is not a time';
    case 'retry':
      return isTime(n.at) ? undefined : 'at is not a time';
    case 'wait':
      if (!nonEmpty(n.event) || !textOrNull(n.key) || !isTime(n.timeoutAt) || !isTime(n.afterEventId)) return 'a wait need has event, key, timeoutAt and afterEventId';
      return undefined;
    case 'invoke': {
      if (!isTime(n.childRunId)) return 'childRunId is not a number';
      if (n.childRunId === 0) return childSteps.has(n.name) ? undefined : `"${n.name}" has childRunId 0 but is not in children`;
      return known.get(n.name)?.childRunId === n.childRunId ? undefined : `"${n.name}" names a child run this run did not start`;
    }
    default:
      return `kind ${JSON.stringify((n as { kind: unknown }).kind)} is not sleep, retry, wait or invoke`;
  }
}
