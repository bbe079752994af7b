import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { retryBusy } from '../lib/db/driver.ts';
import { filePath } from '../local/database.ts';
import { startRuntime } from './helpers.ts';
import { ROOT } from './processes.ts';

/** SQLITE_BUSY is load, not an error: retried with backoff, never a 500. */

describe('retryBusy', () => {
  it('retries SQLITE_BUSY and returns the eventual result; other errors pass through at once', async () => {
    let calls = 0;
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    expect(await retryBusy(async () => (++calls < 3 ? Promise.reject(busy) : 'ok'), { baseDelayMs: 1 })).toBe('ok');
    expect(calls).toBe(3);
    let other = 0;
    await expect(retryBusy(async () => (other++, Promise.reject(new Error('no such table'))))).rejects.toThrow('no such table');
    expect(other).toBe(1);
  });

  it('gives up after its attempts with the busy error', async () => {
    const busy = Object.assign(new Error('SQLITE_BUSY: database is locked'), { code: 'SQLITE_BUSY' });
    await expect(retryBusy(() => Promise.reject(busy), { attempts: 3, baseDelayMs: 1 })).rejects.toBe(busy);
  });
});

describe('a write lock held by another process', () => {
  it('delays a submit until the lock is released; the client gets 202, not 500', async () => {
    const runtime = await startRuntime({ processing: false });
    const holder = spawn('node', ['--import', 'tsx', 'test/fixtures/hold-lock.ts', filePath(runtime.config.databaseUrl), '1500'], { cwd: ROOT });
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('locked') && resolve());
      holder.once('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
    });
    const started = Date.now();
    const response = await runtime.app.request('/tasks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 't', description: 'd' }),
    });
    expect(response.status).toBe(202);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect((await runtime.repo.stats()).total).toBe(1);
  });
});
