import Database from 'libsql';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatTaskId } from '../lib/tasks/ids.ts';
import { tempDir } from './helpers.ts';
import { killAll, startServe, type ServiceProcess } from './processes.ts';

/**
 * SIGTERM while clients send requests in a loop, as fast as they get answers: the listener
 * closes first, so a request either reaches an accepted connection and is answered, or finds
 * no listener (ECONNREFUSED, retryable at once). A reset (ECONNRESET, EPIPE, a hang-up) means
 * a request was dropped mid-way, which a client cannot safely retry.
 */
interface Outcome {
  status?: number;
  code?: string;
  id?: string;
  error?: string;
}

function post(url: URL, agent: Agent | false): Promise<Outcome> {
  const body = JSON.stringify({ title: 'loop', description: 'shutdown while sending', type: 'noop' });
  return new Promise((resolve) => {
    const req = request(
      { host: url.hostname, port: url.port, path: '/tasks', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          try {
            const json = JSON.parse(text) as { id?: string; code?: string };
            resolve({ status: res.statusCode, id: json.id, code: json.code });
          } catch {
            resolve({ status: res.statusCode, error: `unparsable body: ${text.slice(0, 100)}` });
          }
        });
        res.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end(body);
  });
}

describe('SIGTERM while clients send in a loop', () => {
  const services: ServiceProcess[] = [];
  afterEach(() => killAll(services.splice(0)));

  it('no reset: every request is answered (202 before, 503 shutting_down after) or its connection refused; every 202 stored', async () => {
    const dbPath = join(tempDir(), 'tasks.db');
    const service = await startServe({ DATABASE_URL: `file:${dbPath}`, TASK_WORKERS: '2' });
    services.push(service);
    const url = new URL(service.url);

    const outcomes: Outcome[] = [];
    let exited = false;
    void service.exited.then(() => (exited = true));
    const stopAt = Date.now() + 20_000;
    // Eight clients: half reuse one keep-alive connection, half open one per request. Each
    // stops at its first refusal (the listener is gone) or when the process has exited.
    const clients = Array.from({ length: 8 }, async (_, client) => {
      const agent = client % 2 === 0 ? new Agent({ keepAlive: true, maxSockets: 1 }) : false;
      while (!exited && Date.now() < stopAt) {
        const outcome = await post(url, agent);
        outcomes.push(outcome);
        if (outcome.error === 'ECONNREFUSED') break;
      }
      if (agent) agent.destroy();
    });

    await new Promise((resolve) => setTimeout(resolve, 1000));
    service.proc.kill('SIGTERM');
    const code = await service.exited;
    await Promise.all(clients);

    const accepted = outcomes.filter((o) => o.status === 202);
    expect(accepted.length).toBeGreaterThan(8);
    expect(outcomes.filter((o) => o.error !== undefined && o.error !== 'ECONNREFUSED')).toEqual([]);
    expect(outcomes.filter((o) => o.status !== undefined && o.status !== 202 && !(o.status === 503 && o.code === 'shutting_down'))).toEqual([]);
    expect(code).toBe(0);

    const db = new Database(dbPath, { readonly: true });
    try {
      const stored = new Set((db.prepare('SELECT id FROM tasks').all() as { id: number }[]).map((row) => formatTaskId(row.id)));
      expect(accepted.map((o) => o.id!).filter((id) => !stored.has(id))).toEqual([]);
      const unfinished = db.prepare(`SELECT count(*) AS n FROM tasks WHERE status = 'in_progress'`).get() as { n: number };
      expect(unfinished.n).toBe(0);
    } finally {
      db.close();
    }
  }, 60_000);
});
