import { describe, expect, it } from 'vitest';
import { createFunctions } from '../functions/functions.ts';
import { buildTask } from '../lib/tasks/model.ts';
import { startRuntime, submitInput } from './helpers.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * Issue 13 through the functions and the API's edges: each scheduled poll deletes old
 * finished tasks (and only those) before claiming, a paused type is skipped by it; the new
 * routes are in /openapi.json and behind API_TOKEN.
 */
const available = await sqldAvailable();

describe.skipIf(!available)('a scheduled poll over sqld', () => {
  const sqld = useSqld();
  const envFor = () => ({ DATABASE_URL: sqld.url, SIMULATE_MIN_MS: '0', SIMULATE_MAX_MS: '0', LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '0', POLL_BUDGET_SECONDS: '2', TASK_RETENTION_COMPLETED: '1d' });

  it('deletes old finished tasks, keeps recent and unfinished ones, skips a paused type', async () => {
    const env = envFor();
    const functions = createFunctions({ platform: 'test' });
    const { repo, service } = functions.context(env);
    const now = Date.now();
    const aged = (status: 'completed' | 'failed', finishedAgo: number) => {
      const task = buildTask(submitInput({ title: `${status} ${finishedAgo}` }), { now: now - 40 * 86_400_000, maxAttempts: 3 });
      return { ...task, status, completedAt: now - finishedAgo };
    };
    for (let i = 0; i < 30; i++) await repo.insert(aged('completed', 2 * 86_400_000));
    await repo.insert(aged('completed', 3_600_000));
    await repo.insert(aged('failed', 2 * 86_400_000)); // failed: 30 days by default
    await service.pauseType('simulate');
    const pending = await service.submit(submitInput());

    const summary = await functions.scheduledPoll(env);
    expect(summary.claimed).toBe(0);
    const left = await functions.context(env).driver.all('SELECT status, count(*) AS n FROM tasks GROUP BY status ORDER BY status');
    expect(left.map((r) => [r.status, Number(r.n)])).toEqual([['completed', 1], ['failed', 1], ['pending', 1]]);

    await service.resumeType('simulate');
    expect((await functions.scheduledPoll(env)).completed).toBe(1);
    expect((await service.get(pending.task.id)).status).toBe('completed');
  });
});

describe('the new routes', () => {
  it('are declared in /openapi.json', async () => {
    const rt = await startRuntime({ processing: false });
    const doc = (await (await rt.app.fetch(new Request('http://test/openapi.json'))).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths['/tasks/batch']!)).toEqual(['post']);
    expect(Object.keys(doc.paths['/tasks/{id}']!).sort()).toEqual(['delete', 'get']);
    expect(Object.keys(doc.paths['/tasks/cancel']!)).toEqual(['post']);
    expect(Object.keys(doc.paths['/tasks/retry']!)).toEqual(['post']);
    expect(Object.keys(doc.paths['/types']!)).toEqual(['get']);
    expect(Object.keys(doc.paths['/types/{type}/pause']!)).toEqual(['post']);
    expect(Object.keys(doc.paths['/types/{type}/resume']!)).toEqual(['post']);
  });

  it('need API_TOKEN when it is set', async () => {
    const token = 'a-token-of-sixteen-chars';
    const rt = await startRuntime({ processing: false, env: { API_TOKEN: token } });
    const call = (method: string, path: string, auth?: string) =>
      rt.app.fetch(new Request(`http://test${path}`, { method, headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) }, body: method === 'POST' ? '{"type":"x"}' : undefined }));
    for (const [method, path] of [['GET', '/types'], ['POST', '/types/x/pause'], ['POST', '/tasks/cancel'], ['POST', '/tasks/batch'], ['DELETE', '/tasks/x']] as const) {
      expect((await call(method, path)).status, `${method} ${path}`).toBe(401);
    }
    expect((await call('GET', '/types', token)).status).toBe(200);
    expect((await call('POST', '/tasks/cancel', token)).status).toBe(200);
  });
});
