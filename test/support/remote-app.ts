import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdvanceAnswer, AdvanceRequest, StepRecord } from '../../lib/workflows/wire.ts';

/**
 * A workflow app on loopback that speaks docs/workflow-protocol.md by hand, for the engine's
 * tests: each request is verified (Standard Webhooks, the same secret) and given to `answer`,
 * whose reply is sent signed unless it says otherwise. The engine's side of the protocol is
 * what these tests are about; the SDK (`serve()`) has its own.
 */

export interface Reply {
  status?: number;
  answer?: AdvanceAnswer | string;
  headers?: Record<string, string>;
  /** Sign with this secret instead of the app's (a wrong signature); false: no signature. */
  signWith?: string | false;
}

export interface ScriptedApp {
  url: string;
  port: number;
  /** Every request's body, in order (verified ones only). */
  requests: AdvanceRequest[];
  /** Requests refused for their signature (401). */
  refused: number;
  close(): Promise<void>;
}

function secretBytes(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

export function sign(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', secretBytes(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

function verify(secret: string, req: IncomingMessage, body: string): boolean {
  const id = req.headers['webhook-id'];
  const timestamp = req.headers['webhook-timestamp'];
  const signature = req.headers['webhook-signature'];
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signature !== 'string') return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  return signature.split(' ').includes(sign(secret, id, Number(timestamp), body));
}

export async function startScriptedApp(secret: string, answer: (request: AdvanceRequest, n: number) => Reply | Promise<Reply>, port = 0): Promise<ScriptedApp> {
  const requests: AdvanceRequest[] = [];
  const app: ScriptedApp = { url: '', port: 0, requests, refused: 0, close: async () => undefined };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    if (!verify(secret, req, body)) {
      app.refused++;
      res.writeHead(401, { 'content-type': 'text/plain' }).end('bad signature');
      return;
    }
    const request = JSON.parse(body) as AdvanceRequest;
    requests.push(request);
    const reply = await answer(request, requests.length);
    const text = reply.answer === undefined ? '' : typeof reply.answer === 'string' ? reply.answer : JSON.stringify(reply.answer);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'task-pool-workflow-protocol': '1', ...reply.headers };
    if (reply.signWith !== false) {
      const timestamp = Math.floor(Date.now() / 1000);
      headers['webhook-id'] = String(req.headers['webhook-id']);
      headers['webhook-timestamp'] = String(timestamp);
      headers['webhook-signature'] = sign(reply.signWith ?? secret, headers['webhook-id'], timestamp, text);
    }
    res.writeHead(reply.status ?? 200, headers).end(text);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  app.port = (server.address() as AddressInfo).port;
  app.url = `http://127.0.0.1:${app.port}/workflow`;
  app.close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return app;
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

/**
 * `n` steps in a row (`s1` … `sn`), each taking `stepMs` and reported to `ran` once its code
 * has run (before the answer is sent: a step whose answer is lost has still run), then the
 * run completes with the steps' outputs summed.
 */
export function stepsInARow(n: number, stepMs: number, ran: (step: string, run: string) => void): (request: AdvanceRequest) => Promise<Reply> {
  return async (request) => {
    const done = new Map(request.steps.map((s) => [s.name, s]));
    for (let i = 1; i <= n; i++) {
      const name = `s${i}`;
      if (done.get(name)?.status === 'completed') continue;
      await new Promise((resolve) => setTimeout(resolve, stepMs));
      ran(name, request.run.id);
      return { answer: answer([record(name, 'step', { output: String(i), startedAt: request.now, completedAt: Date.now() }, request.now)], { kind: 'continue' }) };
    }
    let sum = 0;
    for (const s of request.steps) sum += Number(JSON.parse(s.output ?? '0'));
    return { answer: answer([], { kind: 'completed', output: sum }) };
  };
}

export { answer as advanceAnswer };
