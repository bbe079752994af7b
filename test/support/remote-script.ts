import type { AdvanceAnswer, AdvanceRequest, StepRecord } from '../../lib/workflows/wire.ts';

/**
 * Workflows written against docs/workflow-protocol.md by hand, for the engine's tests: what an
 * app answers to each AdvanceRequest. No Node APIs, so a Worker (test/fixtures/) serves them
 * too; test/support/remote-app.ts serves them on node:http.
 */

/** A reply of the app: status, answer (JSON, or text), extra headers, how it is signed. */
export interface Reply {
  status?: number;
  answer?: AdvanceAnswer | string;
  headers?: Record<string, string>;
  /** Sign with this secret instead of the app's (a wrong signature); false: no signature. */
  signWith?: string | false;
}

export function record(name: string, kind: StepRecord['kind'], fields: Partial<StepRecord>, now: number): StepRecord {
  return { name, kind, status: 'completed', attempts: kind === 'step' ? 1 : 0, output: null, error: null, startedAt: now, completedAt: now, wakeAt: null, event: null, eventKey: null, eventId: null, childRunId: null, ...fields };
}

const answer = (records: StepRecord[], end: AdvanceAnswer['end'], children: AdvanceAnswer['children'] = []): AdvanceAnswer => ({ protocol: 1, records, children, end });

/**
 * The four-step workflow of the tests, written against the protocol: `a` (a step), `nap` (a
 * sleep of `sleepMs`), `paid` (a wait for the event `paid` with the input's key), `b` (a step);
 * it returns what they returned. `counts` shows how often each step's code ran.
 */
export function fourSteps(counts: Record<string, number>, sleepMs = 1000): (request: AdvanceRequest) => Reply {
  return (request) => {
    const steps = new Map(request.steps.map((s) => [s.name, s]));
    const now = request.now;
    const key = (request.run.input as { key?: string } | null)?.key ?? null;
    const a = steps.get('a');
    if (!a) {
      counts.a = (counts.a ?? 0) + 1;
      return { answer: answer([record('a', 'step', { output: JSON.stringify({ n: 1 }) }, now)], { kind: 'continue' }) };
    }
    const nap = steps.get('nap');
    if (!nap) return { answer: answer([record('nap', 'sleep', { status: 'waiting', wakeAt: now + sleepMs, completedAt: null }, now)], { kind: 'suspended', needs: [{ kind: 'sleep', name: 'nap', until: now + sleepMs }] }) };
    if (nap.status !== 'completed') return { answer: answer([], { kind: 'suspended', needs: [{ kind: 'sleep', name: 'nap', until: nap.wakeAt! }] }) };
    const paid = steps.get('paid');
    const waitNeed = (timeoutAt: number) => ({ kind: 'wait' as const, name: 'paid', event: 'paid', key, timeoutAt, afterEventId: request.run.eventMark });
    if (!paid) {
      const timeoutAt = now + 60_000;
      return { answer: answer([record('paid', 'wait', { status: 'waiting', event: 'paid', eventKey: key, wakeAt: timeoutAt, completedAt: null }, now)], { kind: 'suspended', needs: [waitNeed(timeoutAt)] }) };
    }
    if (paid.status !== 'completed') return { answer: answer([], { kind: 'suspended', needs: [waitNeed(paid.wakeAt!)] }) };
    const b = steps.get('b');
    if (!b) {
      counts.b = (counts.b ?? 0) + 1;
      return { answer: answer([record('b', 'step', { output: JSON.stringify('done') }, now)], { kind: 'continue' }) };
    }
    return { answer: answer([], { kind: 'completed', output: { a: JSON.parse(a.output!), paid: JSON.parse(paid.output!), b: JSON.parse(b.output!) } }) };
  };
}

export { answer as advanceAnswer };
