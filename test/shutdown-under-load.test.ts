import Database from 'libsql';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.ts';
import { formatTaskId } from '../lib/tasks/ids.ts';
import { killAll, startServe, type ServiceProcess } from './processes.ts';

/**
 * SIGTERM while 50 clients post tasks to a real `serve` process, half on keep-alive
 * connections, half opening a connection per request. "Sent" is when the request's bytes
 * were handed to the kernel ('finish'), in this process, which also sends the signal: so
 * every request is cleanly before or after it.
 */
interface Outcome {
  client: number;
  sentAt?: number;
  status?: number;
  code?: string;
  connection?: string;
  id?: string;
  error?: string;
}

function post(url: URL, agent: Agent | false, client: number): Promise<Outcome> {
  const outcome: Outcome = { client };
  const body = JSON.stringify({ title: `client ${client}`, description: 'shutdown under load', type: 'noop' });
  return new Promise((resolve) => {
    const req = request(
      { host: url.hostname, port: url.port, path: '/tasks', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          outcome.status = res.statusCode;
          outcome.connection = res.headers.connection;
          try {
            const json = JSON.parse(text) as { id?: string; code?: string };
            outcome.id = json.id;
            outcome.code = json.code;
          } catch {
            outcome.error = `unparsable body: ${text.slice(0, 100)}`;
          }
          resolve(outcome);
        });
        res.on('error', (error: NodeJS.ErrnoException) => resolve({ ...outcome, error: error.code ?? error.message }));
      },
    );
    req.on('finish', () => (outcome.sentAt = performance.now()));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ ...outcome, error: error.code ?? error.message }));
    req.end(body);
  });
}

describe('SIGTERM under load', () => {
  const services: ServiceProcess[] = [];
  afterEach(() => killAll(services.splice(0)));

  it('50 clients: no 202 after the signal, nothing sent before it reset, every 202 stored, exit 0', async () => {
    const dbPath = join(tempDir(), 'tasks.db');
    const service = await startServe({ DATABASE_URL: `file:${dbPath}`, TASK_WORKERS: '4' });
    services.push(service);
    const url = new URL(service.url);

    const outcomes: Outcome[] = [];
    let exited = false;
    void service.exited.then(() => (exited = true));
    const clients = Array.from({ length: 50 }, async (_, client) => {
      const agent = client % 2 === 0 ? new Agent({ keepAlive: true, maxSockets: 1 }) : false;
      while (!exited) {
        const outcome = await post(url, agent, client);
        outcomes.push(outcome);
        // Refused once the listener is gone: keep trying (no 202 may ever come back) but gently.
        if (outcome.error) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (agent) agent.destroy();
    });

    await new Promise((resolve) => setTimeout(resolve, 1500));
    // The process handles the signal in its event loop, after the requests that loop is busy
    // with: the line it logs first thing marks when it saw the signal (read here a little
    // later still). Requests sent between kill() and that line may be read before it: either
    // answer is allowed for them.
    const acknowledged = service.waitForLog((r) => r.msg === 'shutting down').then(() => performance.now());
    const signalAt = performance.now();
    service.proc.kill('SIGTERM');
    const acknowledgedAt = await acknowledged;
    const code = await service.exited;
    await Promise.all(clients);

    const before = outcomes.filter((o) => o.sentAt !== undefined && o.sentAt < signalAt);
    const after = outcomes.filter((o) => o.sentAt === undefined || o.sentAt > acknowledgedAt);
    expect(before.filter((o) => o.status === 202).length).toBeGreaterThan(50);
    expect(after.length).toBeGreaterThan(0);

    // Sent before the signal: every one answered (202, or 503 if it was read after the signal).
    expect(before.filter((o) => o.error !== undefined)).toEqual([]);
    expect(before.filter((o) => o.status !== 202 && !(o.status === 503 && o.code === 'shutting_down'))).toEqual([]);
    // Sent after it: never accepted; an answer, if any, is 503 shutting_down with Connection: close.
    expect(after.filter((o) => o.status === 202)).toEqual([]);
    expect(after.filter((o) => o.status !== undefined && !(o.status === 503 && o.code === 'shutting_down' && o.connection === 'close'))).toEqual([]);

    expect(code).toBe(0);
    const db = new Database(dbPath, { readonly: true });
    try {
      const stored = new Set((db.prepare('SELECT id FROM tasks').all() as { id: number }[]).map((row) => formatTaskId(row.id)));
      const accepted = outcomes.filter((o) => o.status === 202).map((o) => o.id!);
      expect(accepted.filter((id) => !stored.has(id))).toEqual([]);
    } finally {
      db.close();
    }
  }, 60_000);
});
