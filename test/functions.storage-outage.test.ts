import { describe, expect, it } from 'vitest';
import { createFunctions } from '../functions/functions.ts';
import { freePort } from './helpers.ts';

/**
 * The functions answer a database they cannot reach the way the Node server does (they share
 * lib/api/app.ts's error handler): 503 db_unavailable with Retry-After, no 500, and one
 * warning in the function log for a run of failed requests. The database URL is a loopback
 * port nobody listens on: a real refused connection.
 */
describe('functions with the database unreachable', () => {
  it('answers 503 db_unavailable with Retry-After, per operation and through the api; one warning', async () => {
    const lines: Record<string, unknown>[] = [];
    const functions = createFunctions({ platform: 'test', logSink: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const env = { DATABASE_URL: `http://127.0.0.1:${await freePort()}`, RATE_LIMIT_PER_MINUTE: '0', LOG_LEVEL: 'warn' };
    const post = () => new Request('https://x.test/tasks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 't', description: 'd' }) });

    for (const response of [await functions.createTask(post(), env), await functions.api(post(), env), await functions.listTasks(new Request('https://x.test/tasks'), env)]) {
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('2');
      expect(await response.json()).toEqual({ message: 'database is unavailable', code: 'db_unavailable' });
    }
    expect(lines.filter((l) => l.level === 'warn' && String(l.msg).startsWith('database is unavailable'))).toHaveLength(1);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});
