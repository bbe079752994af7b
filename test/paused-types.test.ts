import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../lib/foundation/log.ts';
import { createHandlerRegistry } from '../lib/processing/handlers.ts';
import { deadlinePoll } from '../lib/processing/deadline-poll.ts';
import { startRuntime, submitInput, tempDbUrl, tempDir, testConfig, waitFor, type TestRepo } from './helpers.ts';
import { killAll, spawnService, type ServiceProcess } from './processes.ts';
import { forEachStorage, sqldAvailable } from './sqld.ts';

/**
 * Pausing a type (POST /types/:type/pause): the claim statement skips its tasks in every
 * process and in the serverless poll, submits are still accepted, resume lets them run;
 * GET /types shows counts, paused and the oldest pending task per type.
 */

const sqldOk = await sqldAvailable();

async function pollWith(t: TestRepo, budgetMs = 1000) {
  const config = testConfig();
  return deadlinePoll(
    { repo: t.repo, handlers: createHandlerRegistry(config), config, logger: createLogger('silent') },
    { workerId: 'poll-test', concurrency: 4, batchSize: 10, budgetMs, leaseMs: 30_000, claimMarginMs: budgetMs / 2 },
  );
}

function contract(name: string, open: () => Promise<TestRepo>) {
  describe(`paused types on ${name}`, () => {
    it('a serverless poll skips a paused type (pending and expired leases) and runs it after resume', async () => {
      const t = await open();
      await t.driver.run('DELETE FROM tasks');
      await t.driver.run('DELETE FROM paused_types');
      await t.service.pauseType('simulate');
      await t.service.pauseType('simulate'); // idempotent
      const paused = await t.service.submitMany(Array.from({ length: 5 }, () => ({ input: submitInput() })));
      // A paused task whose worker died: its expired lease is not claimed either.
      await t.driver.run("UPDATE tasks SET status = 'in_progress', attempts = 1, lease_expires_at = 1, version = version + 1 WHERE id = ?", [paused[0]!.task.id]);
      expect(await t.repo.claimDueTasks({ limit: 10, workerId: 'x', leaseMs: 1000 })).toEqual([]);
      expect(await t.repo.nextRunAt()).toBeNull();

      const first = await pollWith(t);
      expect(first.claimed).toBe(0);
      expect((await t.service.stats()).counts).toMatchObject({ pending: 4, in_progress: 1 });
      const types = await t.service.types(['simulate', 'other']);
      expect(types.map((x) => [x.type, x.paused, x.counts.pending])).toEqual([['other', false, 0], ['simulate', true, 4]]);

      await t.service.resumeType('simulate');
      const second = await pollWith(t);
      expect(second).toMatchObject({ claimed: 5, completed: 5 });
      expect((await t.service.stats()).counts).toMatchObject({ completed: 5 });
    });
  });
}

forEachStorage(sqldOk, contract);

describe('a paused type across processes', () => {
  const services: ServiceProcess[] = [];
  afterEach(() => killAll(services.splice(0)));

  it('a worker process does not claim it while paused; other types run; resume runs it', async () => {
    const url = tempDbUrl();
    const file = join(tempDir(), 'executions.txt');
    const rt = await startRuntime({ config: testConfig({ DATABASE_URL: url }), processing: false, handlers: { record: async () => null, noop: async () => null } });
    await rt.service.pauseType('record');
    const worker = spawnService(['worker', '--handlers', 'test/fixtures/handlers.ts'], { DATABASE_URL: url });
    services.push(worker);
    await worker.waitForLog((r) => r.mode === 'worker');

    const call = async (method: string, path: string, body?: unknown) => {
      const response = await rt.app.fetch(new Request(`http://test${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }));
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    // Submits are accepted while paused.
    const recorded = await call('POST', '/tasks/batch', { tasks: Array.from({ length: 5 }, (_, i) => ({ title: `r${i}`, description: 'd', type: 'record', payload: { file } })) });
    expect(recorded.status).toBe(202);
    const noops = await call('POST', '/tasks/batch', { tasks: Array.from({ length: 5 }, (_, i) => ({ title: `n${i}`, description: 'd', type: 'noop' })) });
    await waitFor(async () => {
      const ids = (noops.body.tasks as { id: string }[]).map((t) => t.id);
      const done = await Promise.all(ids.map(async (id) => (await rt.service.get(id)).status === 'completed'));
      return done.every(Boolean);
    }, 20_000, 'the noop tasks to complete');
    // Several poll intervals (0.2 s) later, still nothing of the paused type ran.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(existsSync(file)).toBe(false);
    const listed = await call('GET', '/types');
    const record = (listed.body.types as { type: string; paused: boolean; counts: Record<string, number>; oldest_pending_age_seconds: number }[]).find((x) => x.type === 'record')!;
    expect(record).toMatchObject({ paused: true, counts: { pending: 5, completed: 0 } });
    expect(record.oldest_pending_age_seconds).toBeGreaterThan(0.5);

    expect(await call('POST', '/types/record/resume')).toEqual({ status: 200, body: { type: 'record', paused: false, paused_at: null } });
    await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').trim().split('\n').length === 5, 20_000, 'the record tasks to run');
  });

  it('a type with no tasks and no handler may be paused (before its first task) and a resume removes it from /types', async () => {
    const rt = await startRuntime({ processing: false });
    const call = async (method: string, path: string) => {
      const response = await rt.app.fetch(new Request(`http://test${path}`, { method }));
      return { status: response.status, body: (await response.json()) as { types?: { type: string; paused: boolean }[] } };
    };
    const listed = async () => (await call('GET', '/types')).body.types!.map((t) => `${t.type}${t.paused ? ' (paused)' : ''}`);
    expect((await call('POST', '/types/never-seen/pause')).status).toBe(200);
    expect(await listed()).toContain('never-seen (paused)');
    expect((await call('POST', '/types/never-seen/resume')).status).toBe(200);
    expect(await listed()).not.toContain('never-seen');
    expect((await listed()).some((t) => t.startsWith('never-seen'))).toBe(false);
    // A resume of a type that was never paused is accepted too, and lists nothing new.
    expect((await call('POST', '/types/nothing-here/resume')).status).toBe(200);
    expect((await listed()).some((t) => t.startsWith('nothing-here'))).toBe(false);
    // A registered type stays listed after its resume (it has a handler), unpaused.
    await call('POST', '/types/simulate/pause');
    await call('POST', '/types/simulate/resume');
    expect(await listed()).toContain('simulate');
  });

  it('bad type names: 400 naming the field', async () => {
    const rt = await startRuntime({ processing: false });
    const response = await rt.app.fetch(new Request(`http://test/types/${'x'.repeat(101)}/pause`, { method: 'POST' }));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ message: 'type must be at most 100 characters', code: 'invalid_field' });
  });
});
