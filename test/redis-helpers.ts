import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { onTestFinished } from 'vitest';
import { freePort, requireService, waitFor } from './helpers.ts';

/**
 * Redis for the rate-limit suites: is it there, unique key prefixes, an inspecting
 * connection, and a redis-server of a test's own to kill. General helpers (runtimes, captured
 * logs, ports) are in test/helpers.ts.
 */

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** One PING with a short timeout: skips locally, fails in CI, when Redis is not there. */
export function redisAvailable(url = REDIS_URL): Promise<boolean> {
  return requireService(`redis (${url})`, async () => {
    const redis = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => {});
    try {
      await redis.connect();
      await redis.ping();
    } finally {
      redis.disconnect();
    }
  });
}

/** A key prefix no other test (or engineer) uses, so runs sharing one Redis do not collide. */
export function uniquePrefix(name: string): string {
  return `test-${name}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A plain ioredis connection for assertions; closed after the test. */
export function inspector(url = REDIS_URL): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  onTestFinished(() => redis.disconnect());
  return redis;
}

export interface RedisServer {
  port: number;
  url: string;
  /** SIGKILL: connections die without a goodbye, like a crashed host. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

/** Whether `redis-server` can be started here (for tests that kill their own Redis). */
export function redisServerAvailable(): Promise<boolean> {
  return requireService('redis-server binary', async () => {
    const server = await startRedisServerProcess(await freePort());
    server.kill('SIGKILL');
  });
}

async function startRedisServerProcess(port: number): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], {
    stdio: 'ignore',
  });
  const failed = new Promise<never>((_, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  probe.on('error', () => {});
  try {
    await Promise.race([
      failed,
      waitFor(async () => {
        try {
          if (probe.status !== 'ready') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      }, 10_000, `redis-server on port ${port}`),
    ]);
  } finally {
    probe.disconnect();
  }
  return proc;
}

/** A redis-server of our own on a free port, killed after the test. */
export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  let proc: ChildProcess | undefined = await startRedisServerProcess(port);
  const kill = async () => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc!.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
    proc = undefined;
  };
  // Also if the test process itself goes away without running hooks.
  const onExit = () => proc?.kill('SIGKILL');
  process.once('exit', onExit);
  onTestFinished(async () => {
    await kill();
    process.off('exit', onExit);
  });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    start: async () => {
      proc = await startRedisServerProcess(port);
    },
  };
}
