import { describe, expect, it } from 'vitest';
import { createLogger } from '../lib/foundation/log.ts';
import { captureLogs, startRuntime, testConfig, waitFor } from './helpers.ts';

/** JSON lines, level filtering, a line per transition at debug, no secrets. */

describe('logs', () => {
  it('writes one JSON object per line with time, level and msg, filtered by level', () => {
    const logs = captureLogs();
    const logger = createLogger('warn', logs.sink);
    logger.info('hidden');
    logger.warn('shown', { task_id: 'x' });
    logger.child({ worker: 'w1' }).error('boom', { error: new Error('why') });
    const lines = logs.records();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'warn', msg: 'shown', task_id: 'x' });
    expect(Date.parse(lines[0]!.time as string)).not.toBeNaN();
    expect(lines[1]).toMatchObject({ level: 'error', msg: 'boom', worker: 'w1', error: 'why' });
  });

  it('redacts fields that look like secrets', () => {
    const logs = captureLogs();
    createLogger('info', logs.sink).info('x', { api_token: 's3cret', authorization: 'Bearer s3cret', password: 'p' });
    const lines = logs.records();
    expect(JSON.stringify(lines)).not.toContain('s3cret');
    expect(lines[0]).toMatchObject({ api_token: '[redacted]', authorization: '[redacted]', password: '[redacted]' });
  });

  it('logs each request and each transition of a task at debug', async () => {
    const logs = captureLogs();
    const runtime = await startRuntime({ config: testConfig({ LOG_LEVEL: 'debug' }), logSink: logs.sink });
    runtime.start();
    const response = await runtime.app.request('/tasks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 't', description: 'd' }),
    });
    const { id } = (await response.json()) as { id: string };
    await waitFor(() => logs.records().some((l) => l.msg === 'task completed' && l.task_id === id), 5000, 'completion line');
    const lines = logs.records();
    const forTask = lines.filter((l) => l.task_id === id).map((l) => l.msg);
    // A claim queued in the same turn as the submit shares its commit (lib/db/group-commit.ts:
    // the claim goes last in a turn's transaction, so it sees the new task) and its caller,
    // fewer awaits away, may log first: the two lines are in either order, the completion last.
    expect(forTask.slice(0, 2).sort()).toEqual(['task claimed', 'task submitted']);
    expect(forTask.slice(2)).toEqual(['task completed']);
    expect(lines.find((l) => l.msg === 'request')).toMatchObject({ method: 'POST', path: '/tasks', status: 202 });
  });
});
