import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdvanceRequest } from '../../lib/workflows/wire.ts';
import type { Reply } from './remote-script.ts';

export { advanceAnswer, fourSteps, record, type Reply } from './remote-script.ts';

/**
 * A workflow app on loopback that speaks docs/workflow-protocol.md by hand, for the engine's
 * tests: each request is verified (Standard Webhooks, the same secret) and given to `answer`,
 * whose reply is sent signed unless it says otherwise. The engine's side of the protocol is
 * what these tests are about; the SDK (`serve()`) has its own.
 */

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

