import type { Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.ts';
import { killAll, startServe, type ServiceProcess } from './processes.ts';
import { flood, openFrom, requestFrom, until, type Answer, type Flood } from './support/connections.ts';

/**
 * One client address must not lock the others out (SERVER_MAX_CONNECTIONS_PER_ADDRESS, and
 * room made at SERVER_MAX_CONNECTIONS): a real `serve` process, flooded from 127.0.0.1 (and
 * 127.0.0.3–7) while a second client, 127.0.0.2, asks for answers. Small limits keep it fast.
 */
const services: ServiceProcess[] = [];
const floods: Flood[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const f of floods.splice(0)) f.stop();
  for (const s of sockets.splice(0)) s.destroy();
  killAll(services.splice(0));
});

async function serve(env: Record<string, string>): Promise<{ port: number; url: string }> {
  const service = await startServe({
    DATABASE_URL: `file:${join(tempDir(), 'tasks.db')}`,
    SERVER_MAX_CONNECTIONS: '50',
    SERVER_MAX_CONNECTIONS_PER_ADDRESS: '10',
    ...env,
  });
  services.push(service);
  return { port: Number(new URL(service.url).port), url: service.url };
}

function startFlood(port: number, options: Parameters<typeof flood>[1]): Flood {
  const f = flood(port, options);
  floods.push(f);
  return f;
}

/** `paths` asked one after another from `from`, `rounds` times. */
async function ask(port: number, from: string, paths: string[], rounds = 5): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < rounds; i++) for (const path of paths) answers.push(await requestFrom(port, from, path));
  return answers;
}

const statuses = (answers: Answer[]) => answers.map((a) => a.status ?? a.error);

/** A task due in an hour: a `?wait=` on it is held until its own deadline. */
async function pendingTaskId(port: number): Promise<string> {
  const answer = await requestFrom(port, '127.0.0.2', '/tasks', { json: { title: 'held', description: 'long-polled', type: 'noop', delay_seconds: 3600 } });
  expect(answer.status).toBe(202);
  return (answer.body as { id: string }).id;
}

describe('connections per client address', () => {
  it('idle connections from one address past its bound, reopened as soon as closed: another address is served, /healthz answers', async () => {
    const { port } = await serve({});
    const attack = startFlood(port, { from: '127.0.0.1', connections: 60, forMs: 20_000 });
    // Past its bound and reopening what the server closes.
    await until(() => attack.opened > 120, 10_000, 'the flood to reopen connections');

    const answers = await ask(port, '127.0.0.2', ['/healthz', '/readyz', '/tasks?limit=1']);
    expect(statuses(answers)).toEqual(answers.map(() => 200));
    expect(attack.open).toBeGreaterThan(0);
  });

  it('held `?wait=` long-polls from one address past its bound: another address is served, /healthz answers', async () => {
    const { port } = await serve({});
    const id = await pendingTaskId(port);
    const attack = startFlood(port, { from: '127.0.0.1', connections: 60, request: `GET /tasks/${id}?wait=60 HTTP/1.1\r\nHost: x\r\n\r\n`, forMs: 20_000 });
    await until(() => attack.opened > 120, 10_000, 'the flood to reopen connections');

    const answers = await ask(port, '127.0.0.2', ['/healthz', '/readyz', `/tasks/${id}`]);
    expect(statuses(answers)).toEqual(answers.map(() => 200));
  });
});

describe('SERVER_MAX_CONNECTIONS', () => {
  it('the cap full of idle keep-alive sockets: a new client is served, idle ones closed to make room', async () => {
    const { port } = await serve({ SERVER_MAX_CONNECTIONS_PER_ADDRESS: '100', SERVER_KEEP_ALIVE_TIMEOUT_SECONDS: '30' });
    const idle: Socket[] = [];
    let closed = 0;
    for (let i = 0; i < 50; i++) {
      const socket = await openFrom(port, '127.0.0.1');
      sockets.push(socket);
      socket.on('close', () => (closed += 1));
      const answered = new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await answered;
      idle.push(socket);
    }
    expect(closed).toBe(0);
    // Idle a while: a connection answered a moment ago may have its next request on the way.
    await new Promise((resolve) => setTimeout(resolve, 500));

    const answers = await ask(port, '127.0.0.2', ['/healthz', '/tasks?limit=1'], 3);
    expect(statuses(answers)).toEqual(answers.map(() => 200));
    expect(closed).toBeGreaterThan(0);
  });

  it('the cap full of busy sockets (held long-polls from five addresses at their bound): /healthz and /readyz still answer, other requests 503', async () => {
    const { port } = await serve({});
    const id = await pendingTaskId(port);
    for (const from of ['127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7']) {
      for (let i = 0; i < 10; i++) {
        const socket = await openFrom(port, from);
        sockets.push(socket);
        socket.write(`GET /tasks/${id}?wait=60 HTTP/1.1\r\nHost: x\r\n\r\n`);
      }
    }
    // Let the server read every held request (they are busy from then on).
    await new Promise((resolve) => setTimeout(resolve, 500));

    const answers = await ask(port, '127.0.0.2', ['/healthz', '/readyz'], 3);
    expect(statuses(answers)).toEqual(answers.map(() => 200));
    // Answers a client can act on, not resets: from a new address, and from one at its bound.
    expect(await requestFrom(port, '127.0.0.2', '/tasks?limit=1')).toMatchObject({ status: 503, code: 'too_many_connections' });
    expect(await requestFrom(port, '127.0.0.3', '/tasks?limit=1')).toMatchObject({ status: 503, code: 'too_many_connections' });
    expect(sockets.filter((s) => s.destroyed)).toEqual([]);
  });
});
