import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookHeaders } from '../lib/delivery/signing.ts';
import { defineWorkflow, type Workflow, type WorkflowContext } from '../lib/workflows/define.ts';
import type { StepRecord } from '../lib/workflows/protocol.ts';
import { serve, toNodeHandler, TaskFailure, type WorkflowHandler } from '../lib/workflows/sdk.ts';
import { checkAdvanceAnswer, checkAdvanceRequest, verifyAnswer } from '../lib/workflows/wire-check.ts';
import { WIRE_VERSION_HEADER, type AdvanceAnswer, type AdvanceRequest } from '../lib/workflows/wire.ts';

/**
 * `task-pool/workflow` alone (lib/workflows/serve.ts, node-handler.ts): real Requests signed as
 * the engine signs them (lib/delivery/signing.ts), answers checked as the engine checks them
 * (lib/workflows/wire-check.ts) and their signatures verified, with our verifier and with the
 * `standardwebhooks` package. The engine's side, over real HTTP, is in the remote workflow tests.
 */

const SECRET = `whsec_${Buffer.from('the workflow signing secret, 32 b').toString('base64')}`;
const OTHER_SECRET = `whsec_${Buffer.from('another secret, also long enough').toString('base64')}`;
const SETTINGS = { maxStepBytes: 65_536, maxSteps: 100, defaultRetries: 2, backoffBaseMs: 1000, backoffMaxMs: 60_000 };
let ids = 0;

function completed(name: string, output: unknown, kind: StepRecord['kind'] = 'step'): StepRecord {
  return { ...blank(name, kind), status: 'completed', attempts: kind === 'step' ? 1 : 0, output: JSON.stringify(output), completedAt: 1_000 };
}

function blank(name: string, kind: StepRecord['kind']): StepRecord {
  return { name, kind, status: 'waiting', attempts: 0, output: null, error: null, startedAt: 900, completedAt: null, wakeAt: null, event: null, eventKey: null, eventId: null, childRunId: null };
}

function advanceRequest(workflow: string, steps: StepRecord[], overrides: Partial<AdvanceRequest> = {}): AdvanceRequest {
  return {
    protocol: 1,
    run: { id: '0000000000000012345', workflow, input: { user: 42 }, attempt: 1, createdAt: Date.now() - 1000, eventMark: 17 },
    now: Date.now(),
    settings: SETTINGS,
    steps,
    ...overrides,
  };
}

interface SendOptions {
  secret?: string | null;
  /** The signing time (ms): the engine's clock as the headers show it. */
  signedAt?: number;
  /** Signed over this body, sent with `body`. */
  signedBody?: string;
}

async function signedRequest(body: string, options: SendOptions = {}): Promise<{ request: Request; id: string }> {
  const id = `adv_${++ids}`;
  const secret = options.secret === undefined ? SECRET : options.secret;
  const headers = await webhookHeaders(secret === null ? [] : [secret], id, options.signedBody ?? body, undefined, options.signedAt);
  return { id, request: new Request('http://127.0.0.1/wf', { method: 'POST', headers: { ...headers, 'content-type': 'application/json', [WIRE_VERSION_HEADER]: '1' }, body }) };
}

/** Sends one advance; asserts a 200 whose signature verifies for this request, and the answer is the protocol. */
async function advance(handler: WorkflowHandler, body: AdvanceRequest): Promise<AdvanceAnswer> {
  const { request, id } = await signedRequest(JSON.stringify(body));
  const response = await handler(request);
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(response.headers.get(WIRE_VERSION_HEADER)).toBe('1');
  expect(await verifyAnswer(text, response.headers, SECRET, id)).toBe(true);
  const answer = checkAdvanceAnswer(JSON.parse(text), body.steps, body.settings);
  if (typeof answer === 'string') throw new Error(`not the protocol: ${answer}`);
  return answer;
}

/** A workflow whose steps count their calls. */
function counted(name: string, fn: (ctx: WorkflowContext, calls: Record<string, number>, input: unknown) => Promise<unknown>, options?: { retries?: number }) {
  const calls: Record<string, number> = {};
  const workflow = defineWorkflow(name, (ctx, input) => fn(ctx, calls, input), options);
  return { workflow, calls, handler: serve(workflow, { signingSecret: SECRET, logLevel: 'silent' }) };
}

const count = (calls: Record<string, number>, name: string) => {
  calls[name] = (calls[name] ?? 0) + 1;
};

describe('task-pool/workflow: serve()', () => {
  const three = counted('three-steps', async (ctx, calls) => {
    const a = await ctx.step('a', () => (count(calls, 'a'), 1));
    const b = await ctx.step('b', () => (count(calls, 'b'), a + 1));
    const c = await ctx.step('c', () => (count(calls, 'c'), b + 1));
    return { a, b, c };
  });

  it('replays recorded steps without calling them; runs the first unrecorded step and answers continue', async () => {
    const answer = await advance(three.handler, advanceRequest('three-steps', [completed('a', 1)]));
    expect(three.calls).toEqual({ b: 1 });
    expect(answer.records).toEqual([expect.objectContaining({ name: 'b', kind: 'step', status: 'completed', attempts: 1, output: '2', error: null })]);
    expect(answer.children).toEqual([]);
    expect(answer.end).toEqual({ kind: 'continue' });

    const last = await advance(three.handler, advanceRequest('three-steps', [completed('a', 1), completed('b', 2)]));
    expect(three.calls).toEqual({ b: 1, c: 1 });
    expect(last.records.map((r) => [r.name, r.output])).toEqual([['c', '3']]);
    // The code returned after its last step: the record and the run's end in one answer.
    expect(last.end).toEqual({ kind: 'completed', output: { a: 1, b: 2, c: 3 } });

    const done = await advance(three.handler, advanceRequest('three-steps', [completed('a', 1), completed('b', 2), completed('c', 3)]));
    expect(three.calls).toEqual({ b: 1, c: 1 });
    expect(done).toEqual({ protocol: 1, records: [], children: [], end: { kind: 'completed', output: { a: 1, b: 2, c: 3 } } });
  });

  it('Promise.all of three new steps: all three in one answer; the step after them does not run', async () => {
    const { handler, calls } = counted('fan-out', async (ctx, calls) => {
      const parts = await Promise.all(['x', 'y', 'z'].map((n) => ctx.step(n, async () => (count(calls, n), await new Promise((r) => setTimeout(r, 5)), n.toUpperCase()))));
      return ctx.step('join', () => (count(calls, 'join'), parts.join('')));
    });
    const answer = await advance(handler, advanceRequest('fan-out', []));
    expect(calls).toEqual({ x: 1, y: 1, z: 1 });
    expect(answer.records.map((r) => [r.name, r.status, r.output]).sort()).toEqual([
      ['x', 'completed', '"X"'],
      ['y', 'completed', '"Y"'],
      ['z', 'completed', '"Z"'],
    ]);
    expect(answer.end).toEqual({ kind: 'continue' });
    const joined = await advance(handler, advanceRequest('fan-out', answer.records));
    expect(calls).toEqual({ x: 1, y: 1, z: 1, join: 1 });
    expect(joined.records.map((r) => r.name)).toEqual(['join']);
  });

  it('after the turn, a sleep is still answered (it runs no code of the app), and a held-back step makes the end continue', async () => {
    const { handler, calls } = counted('turn-then-sleep', async (ctx, calls) => {
      await ctx.step('send', () => count(calls, 'send'));
      await Promise.all([ctx.sleep('cool-down', '1m'), ctx.step('follow-up', () => count(calls, 'follow-up'))]);
    });
    const answer = await advance(handler, advanceRequest('turn-then-sleep', []));
    expect(calls).toEqual({ send: 1 });
    expect(answer.records.map((r) => [r.name, r.kind, r.status])).toEqual([
      ['send', 'step', 'completed'],
      ['cool-down', 'sleep', 'waiting'],
    ]);
    expect(answer.end).toEqual({ kind: 'continue' });
    const next = await advance(handler, advanceRequest('turn-then-sleep', answer.records));
    expect(calls).toEqual({ send: 1, 'follow-up': 1 });
    expect(next.end).toMatchObject({ kind: 'suspended', needs: [{ kind: 'sleep', name: 'cool-down' }] });
  });

  it("sleep: a waiting record measured from the request's now (not the app's clock) and a suspended sleep need", async () => {
    const { handler } = counted('sleeper', async (ctx) => {
      await ctx.sleep('nap', '1h');
      return 'rested';
    });
    // The engine's clock ten minutes behind the app's: the sleep ends an hour after the engine's now.
    const now = Date.now() - 600_000;
    const answer = await advance(handler, advanceRequest('sleeper', [], { now }));
    const [record] = answer.records;
    expect(record).toMatchObject({ name: 'nap', kind: 'sleep', status: 'waiting' });
    expect(record!.wakeAt! - now).toBeGreaterThanOrEqual(3_600_000);
    expect(record!.wakeAt! - now).toBeLessThan(3_600_000 + 5_000);
    expect(answer.end).toEqual({ kind: 'suspended', needs: [{ kind: 'sleep', name: 'nap', until: record!.wakeAt }] });

    // Settled by the engine: the code goes on.
    const done = await advance(handler, advanceRequest('sleeper', [{ ...record!, status: 'completed', completedAt: record!.wakeAt }]));
    expect(done.end).toEqual({ kind: 'completed', output: 'rested' });
  });

  it('waitForEvent: a waiting record with the event, key and timeout, and a suspended wait need after the run’s event mark', async () => {
    const { handler } = counted('waiter', async (ctx) => {
      const paid = await ctx.waitForEvent<{ amount: number }>('paid', { event: 'order.paid', key: 'o-1', timeout: '2h' });
      return paid?.amount ?? 'timed out';
    });
    const request = advanceRequest('waiter', []);
    const answer = await advance(handler, request);
    const [record] = answer.records;
    expect(record).toMatchObject({ name: 'paid', kind: 'wait', status: 'waiting', event: 'order.paid', eventKey: 'o-1' });
    expect(record!.wakeAt! - request.now).toBeGreaterThanOrEqual(7_200_000);
    expect(answer.end).toEqual({ kind: 'suspended', needs: [{ kind: 'wait', name: 'paid', event: 'order.paid', key: 'o-1', timeoutAt: record!.wakeAt, afterEventId: 17 }] });

    const still = await advance(handler, advanceRequest('waiter', [record!]));
    expect(still.records).toEqual([]);
    expect(still.end).toMatchObject({ kind: 'suspended', needs: [{ kind: 'wait', name: 'paid' }] });

    const done = await advance(handler, advanceRequest('waiter', [{ ...record!, status: 'completed', output: '{"amount":30}', eventId: 21, completedAt: Date.now() }]));
    expect(done.end).toEqual({ kind: 'completed', output: 30 });
  });

  it('invoke: a children entry (no record: the engine records the step) and an invoke need for child 0', async () => {
    const child = defineWorkflow('child-flow', async () => 'child');
    const { handler } = counted('parent', async (ctx) => ctx.invoke('kid', child, { n: 1 }));
    const answer = await advance(handler, advanceRequest('parent', []));
    expect(answer.records).toEqual([]);
    expect(answer.children).toEqual([{ step: 'kid', workflow: 'child-flow', input: { n: 1 } }]);
    expect(answer.end).toEqual({ kind: 'suspended', needs: [{ kind: 'invoke', name: 'kid', childRunId: 0 }] });

    const started: StepRecord = { ...blank('kid', 'invoke'), childRunId: 99 };
    expect((await advance(handler, advanceRequest('parent', [started]))).end).toEqual({ kind: 'suspended', needs: [{ kind: 'invoke', name: 'kid', childRunId: 99 }] });
    const ended = await advance(handler, advanceRequest('parent', [{ ...started, status: 'completed', output: '"child"', completedAt: 2_000 }]));
    expect(ended.end).toEqual({ kind: 'completed', output: 'child' });
  });

  it('completed and failed ends; ctx carries the run id and attempt; undefined output is null', async () => {
    const seen: unknown[] = [];
    const { handler } = counted('ends', async (ctx, _calls, input) => {
      seen.push([ctx.runId, ctx.attempt, typeof ctx.logger.info, ctx.signal instanceof AbortSignal]);
      if ((input as { fail?: boolean }).fail) throw new Error('the code gave up');
      if ((input as { nothing?: boolean }).nothing) return undefined;
      return { ok: true };
    });
    const base = advanceRequest('ends', []);
    expect((await advance(handler, base)).end).toEqual({ kind: 'completed', output: { ok: true } });
    expect((await advance(handler, { ...base, run: { ...base.run, input: { nothing: true } } })).end).toEqual({ kind: 'completed', output: null });
    expect((await advance(handler, { ...base, run: { ...base.run, attempt: 3, input: { fail: true } } })).end).toEqual({ kind: 'failed', error: 'the code gave up' });
    expect(seen).toEqual([
      ['0000000000000012345', 1, 'function', true],
      ['0000000000000012345', 1, 'function', true],
      ['0000000000000012345', 3, 'function', true],
    ]);
  });

  it('a failing step with retries left is recorded retrying with a retry need; out of retries it fails and throws into the code', async () => {
    const { handler, calls } = counted(
      'flaky',
      async (ctx, calls) => {
        try {
          await ctx.step('call', () => {
            count(calls, 'call');
            throw new Error(`refused ${calls.call}`);
          });
        } catch (error) {
          return { caught: (error as Error).message };
        }
      },
      { retries: 1 },
    );
    const request = advanceRequest('flaky', []);
    const first = await advance(handler, request);
    const [retrying] = first.records;
    expect(retrying).toMatchObject({ name: 'call', status: 'retrying', attempts: 1, error: 'refused 1' });
    // The backoff (base 1 s, jittered down to half) from the engine's now.
    expect(retrying!.wakeAt! - request.now).toBeGreaterThanOrEqual(500);
    expect(retrying!.wakeAt! - request.now).toBeLessThan(1000 + 5_000);
    expect(first.end).toEqual({ kind: 'suspended', needs: [{ kind: 'retry', name: 'call', at: retrying!.wakeAt }] });

    // Before its time, the retry is not run; after it, it runs once more and fails for good.
    expect((await advance(handler, advanceRequest('flaky', [retrying!], { now: retrying!.wakeAt! - 100 }))).end).toMatchObject({ kind: 'suspended' });
    expect(calls.call).toBe(1);
    const last = await advance(handler, advanceRequest('flaky', [retrying!], { now: retrying!.wakeAt! + 1 }));
    expect(calls.call).toBe(2);
    expect(last.records).toEqual([expect.objectContaining({ name: 'call', status: 'failed', attempts: 2, error: 'refused 2' })]);
    expect(last.end).toEqual({ kind: 'completed', output: { caught: 'refused 2' } });
  });

  it('a TaskFailure steers the retry: permanent fails at once; retryAt sets the time', async () => {
    const { handler } = counted('steered', async (ctx, _calls, input) => {
      const { permanent } = input as { permanent: boolean };
      return ctx.step('call', () => {
        throw new TaskFailure('busy', permanent ? { permanent: true } : { retryAt: Date.now() + 30_000 });
      });
    });
    const base = advanceRequest('steered', []);
    const permanent = await advance(handler, { ...base, run: { ...base.run, input: { permanent: true } } });
    expect(permanent.records).toEqual([expect.objectContaining({ status: 'failed', attempts: 1 })]);
    expect(permanent.end).toEqual({ kind: 'failed', error: 'busy' });
    const later = await advance(handler, { ...base, run: { ...base.run, input: { permanent: false } } });
    expect(later.records[0]!.status).toBe('retrying');
    expect(later.records[0]!.wakeAt! - Date.now()).toBeGreaterThan(25_000);
  });

  it('workflow_changed: a record of another kind under the name ends the run, and the step is not run', async () => {
    const { handler, calls } = counted('changed', async (ctx, calls) => ctx.step('a', () => count(calls, 'a')));
    const answer = await advance(handler, advanceRequest('changed', [completed('a', null, 'sleep')]));
    expect(calls).toEqual({});
    expect(answer.end).toMatchObject({ kind: 'failed', code: 'workflow_changed', error: expect.stringContaining('"a" was recorded as a sleep') });
  });

  describe('refuses what the engine did not send, running nothing', () => {
    const body = JSON.stringify(advanceRequest('three-steps', [completed('a', 1)]));
    const refused = async (request: Request, status: number, code: string) => {
      const before = { ...three.calls };
      const response = await three.handler(request);
      expect(response.status).toBe(status);
      expect(await response.json()).toMatchObject({ code, message: expect.any(String) });
      expect(three.calls).toEqual(before);
    };

    it('401: unsigned, another secret, a tampered body, a stale timestamp', async () => {
      await refused((await signedRequest(body, { secret: null })).request, 401, 'unsigned');
      await refused((await signedRequest(body, { secret: OTHER_SECRET })).request, 401, 'invalid_signature');
      await refused((await signedRequest(body.replace('"input":{"user":42}', '"input":{"user":43}'), { signedBody: body })).request, 401, 'invalid_signature');
      await refused((await signedRequest(body, { signedAt: Date.now() - 301_000 })).request, 401, 'stale_timestamp');
      await refused((await signedRequest(body, { signedAt: Date.now() + 301_000 })).request, 401, 'stale_timestamp');
      // The same request, fresh, runs: the refusals were the signature's, not the body's.
      const ok = await three.handler((await signedRequest(body)).request);
      expect(ok.status).toBe(200);
    });

    it('400 for a body that is not an AdvanceRequest (the field named); 404 for another workflow; 405 for GET', async () => {
      await refused((await signedRequest('{"protocol":1')).request, 400, 'invalid_json');
      const missing = await three.handler((await signedRequest(JSON.stringify({ ...JSON.parse(body), now: 'soon' }))).request);
      expect(await missing.json()).toEqual({ code: 'invalid_request', message: 'now must be a time in milliseconds' });
      const badStep = JSON.parse(body) as AdvanceRequest;
      (badStep.steps[0] as unknown as Record<string, unknown>).kind = 'nap';
      const wrongKind = await three.handler((await signedRequest(JSON.stringify(badStep))).request);
      expect(wrongKind.status).toBe(400);
      expect(await wrongKind.json()).toMatchObject({ message: 'steps[0].kind must be one of step, sleep, wait, invoke' });
      await refused((await signedRequest(JSON.stringify({ ...JSON.parse(body), protocol: 2 }))).request, 400, 'invalid_request');
      await refused((await signedRequest(JSON.stringify(advanceRequest('someone-else', [])))).request, 404, 'unknown_workflow');
      await refused(new Request('http://127.0.0.1/wf'), 405, 'method_not_allowed');
    });

    it('serve() itself refuses a secret that is not whsec_ and base64, and something that is not a workflow', () => {
      expect(() => serve(three.workflow, { signingSecret: 'hunter2' })).toThrow(/whsec_/);
      expect(() => serve({ name: 'x', fn: async () => 1 } as unknown as Workflow, { signingSecret: SECRET })).toThrow(/defineWorkflow/);
    });
  });

  it("the answer's signature verifies with the standardwebhooks package, with the request's id; with several secrets, each signs", async () => {
    const rotating = serve(three.workflow, { signingSecret: `${OTHER_SECRET},${SECRET}`, logLevel: 'silent' });
    const { request, id } = await signedRequest(JSON.stringify(advanceRequest('three-steps', [completed('a', 1), completed('b', 2), completed('c', 3)])));
    const response = await rotating(request);
    const text = await response.text();
    expect(response.headers.get('webhook-id')).toBe(id);
    for (const secret of [SECRET, OTHER_SECRET]) {
      expect(new Webhook(secret).verify(text, Object.fromEntries(response.headers))).toMatchObject({ protocol: 1, end: { kind: 'completed' } });
      expect(await verifyAnswer(text, response.headers, secret, id)).toBe(true);
    }
    // Not an answer to another request, and not under a third secret.
    expect(await verifyAnswer(text, response.headers, SECRET, 'adv_other')).toBe(false);
    expect(await verifyAnswer(text, response.headers, `whsec_${Buffer.from('a third secret of thirty-two byt').toString('base64')}`, id)).toBe(false);
    expect(await verifyAnswer(text.replace('completed', 'failed'), response.headers, SECRET, id)).toBe(false);
  });

  describe('toNodeHandler on a real node:http server (127.0.0.1)', () => {
    let server: Server;
    let url: string;
    beforeAll(async () => {
      server = createServer(toNodeHandler(three.handler));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/workflows/three-steps`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('takes a body a middleware read first as raw bytes (express.raw()); refuses one parsed to an object (express.json())', async () => {
      const body = JSON.stringify(advanceRequest('three-steps', [completed('a', 1), completed('b', 2), completed('c', 3)]));
      const { request, id } = await signedRequest(body);
      const handler = toNodeHandler(three.handler);
      const parsing = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const raw = Buffer.concat(chunks);
          Object.assign(req, { body: req.url === '/raw' ? raw : JSON.parse(raw.toString('utf8')) });
          handler(req, res);
        });
      });
      await new Promise<void>((resolve) => parsing.listen(0, '127.0.0.1', resolve));
      try {
        const base = `http://127.0.0.1:${(parsing.address() as AddressInfo).port}`;
        const raw = await fetch(`${base}/raw`, { method: 'POST', headers: request.headers, body });
        const text = await raw.text();
        expect(raw.status, text).toBe(200);
        expect(await verifyAnswer(text, raw.headers, SECRET, id)).toBe(true);
        const parsed = await fetch(`${base}/parsed`, { method: 'POST', headers: request.headers, body });
        expect(parsed.status).toBe(400);
        expect(await parsed.json()).toMatchObject({ code: 'body_already_parsed' });
      } finally {
        await new Promise<void>((resolve) => parsing.close(() => resolve()));
      }
    });

    it('answers a signed advance over fetch, signed; refuses an unsigned one with 401', async () => {
      const body = JSON.stringify(advanceRequest('three-steps', [completed('a', 1), completed('b', 2)]));
      const { request, id } = await signedRequest(body);
      const before = three.calls.c ?? 0;
      const response = await fetch(url, { method: 'POST', headers: request.headers, body });
      const text = await response.text();
      expect(response.status, text).toBe(200);
      expect(await verifyAnswer(text, response.headers, SECRET, id)).toBe(true);
      expect(JSON.parse(text)).toMatchObject({ records: [{ name: 'c', output: '3' }], end: { kind: 'completed', output: { a: 1, b: 2, c: 3 } } });
      expect(three.calls.c).toBe(before + 1);

      const unsigned = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(unsigned.status).toBe(401);
      expect(await unsigned.json()).toMatchObject({ code: 'unsigned' });
      expect(three.calls.c).toBe(before + 1);
    });
  });
});

describe('wire-check: what the engine accepts from an app', () => {
  const steps = [completed('a', 1), { ...blank('nap', 'sleep'), wakeAt: 5_000 }, { ...blank('call', 'step'), status: 'retrying' as const, attempts: 1, wakeAt: 5_000 }];
  const answer = (overrides: Record<string, unknown>) => ({ protocol: 1, records: [], children: [], end: { kind: 'continue' }, ...overrides });

  it('accepts new records and replacements of waiting or retrying ones of the same kind', () => {
    const ok = answer({ records: [completed('b', 2), completed('nap', null, 'sleep'), completed('call', 3)] });
    expect(checkAdvanceAnswer(ok, steps)).toEqual(ok);
  });

  it('refuses a finished record replaced, a kind changed, a continue without progress, an unknown end, an invoke need without its child, limits passed', () => {
    expect(checkAdvanceAnswer(answer({ records: [completed('a', 5)] }), steps)).toBe('records[0] ("a") replaces a completed record');
    expect(checkAdvanceAnswer(answer({ records: [completed('nap', 1)] }), steps)).toBe('records[0] ("nap") is a step, but it was recorded as a sleep');
    expect(checkAdvanceAnswer(answer({}), steps)).toBe('end continue with no record and no child makes no progress');
    expect(checkAdvanceAnswer(answer({ records: [completed('b', 2)], end: { kind: 'done' } }), steps)).toBe('end.kind must be one of continue, completed, failed, suspended');
    expect(checkAdvanceAnswer(answer({ end: { kind: 'suspended', needs: [{ kind: 'invoke', name: 'kid', childRunId: 0 }] } }), steps)).toMatch(/children has no step "kid"/);
    expect(checkAdvanceAnswer(answer({ children: [{ step: 'a', workflow: 'w', input: null }] }), steps)).toBe('children[0].step "a" is already recorded');
    expect(checkAdvanceAnswer(answer({ records: [completed('b', 2), completed('c', 3)] }), steps, { maxSteps: 4, maxStepBytes: 100 })).toMatch(/5 steps, over its limit of 4/);
    expect(checkAdvanceAnswer(answer({ records: [completed('b', 'x'.repeat(200))] }), steps, { maxSteps: 40, maxStepBytes: 100 })).toMatch(/records\[0\]\.output is over/);
    expect(checkAdvanceAnswer(answer({ records: [{ ...completed('b', 2), status: 'done' }] }), steps)).toBe('records[0].status must be one of completed, failed, waiting, retrying');
    expect(checkAdvanceAnswer([], steps)).toBe('the answer must be a JSON object');
    expect(checkAdvanceAnswer(answer({ protocol: 2 }), steps)).toBe('protocol must be 1');
  });

  it('checkAdvanceRequest names the first field that is wrong', () => {
    const good = advanceRequest('w', steps);
    expect(checkAdvanceRequest(good)).toBe(good);
    expect(checkAdvanceRequest({ ...good, run: { ...good.run, attempt: 0 } })).toBe('run.attempt must be a whole number ≥ 1');
    expect(checkAdvanceRequest({ ...good, settings: { ...good.settings, maxSteps: -1 } })).toBe('settings.maxSteps must be a whole number > 0');
    expect(checkAdvanceRequest({ ...good, steps: [completed('a', 1), completed('a', 2)] })).toBe('steps[1].name "a" appears twice');
  });
});
