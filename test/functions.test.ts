import { describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/config/config.ts';
import { createFunctions } from '../functions/functions.ts';
import { envRecordFrom } from '../functions/environment.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/** functions/ from source: per-isolate contexts, operation functions, /poll's guard, bad config. */
const available = await sqldAvailable();
const SECRET = 'functions-cron-secret-0123456789';
const JSON_HEADERS = { 'content-type': 'application/json' };

describe('envRecordFrom', () => {
  it('keeps strings, stringifies wrangler number/boolean vars, drops binding objects', () => {
    expect(envRecordFrom({ A: 'x', TASK_WORKERS: 5, TRUST_PROXY: true, KV: { get() {} }, N: null })).toEqual({ A: 'x', TASK_WORKERS: '5', TRUST_PROXY: 'true' });
  });
});

describe('a misconfigured deployment', () => {
  const functions = createFunctions({ platform: 'test', logSink: () => {} });

  it('answers 500 JSON without the offending value, and the cron poll rejects with the reason', async () => {
    const env = { DATABASE_URL: 'file:tasks.db', CRON_SECRET: 'short' };
    const response = await functions.api(new Request('https://x.test/tasks'), env);
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({ message: 'the service is misconfigured (see the function logs)', code: 'misconfigured' });
    expect(body).not.toContain('short');
    await expect(functions.scheduledPoll({ DATABASE_URL: 'file:tasks.db' })).rejects.toThrow(ConfigError);
    await expect(functions.scheduledPoll({ DATABASE_URL: 'file:tasks.db' })).rejects.toThrow(/DATABASE_URL.*remote libSQL URL/);
  });
});

describe.skipIf(!available)('functions over sqld', () => {
  const sqld = useSqld();
  const env = (extra: Record<string, string> = {}) => ({ DATABASE_URL: sqld.url, SIMULATE_MIN_MS: '0', SIMULATE_MAX_MS: '0', LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '0', ...extra });

  it('builds one context per configuration, on first use, and reuses it', () => {
    const functions = createFunctions({ platform: 'test' });
    const first = functions.context(env());
    expect(functions.context({ ...env(), UNRELATED_BINDING: 'x' })).toBe(first);
    expect(functions.context(env({ TASK_WORKERS: '7' }))).not.toBe(first);
    expect(first.workerId).toMatch(/^test:[0-9a-f]{8}$/);
  });

  it('POST /poll is 503 without CRON_SECRET, 401 with a wrong one, 200 with it', async () => {
    const functions = createFunctions({ platform: 'test' });
    const poll = (headers: Record<string, string>, extra?: Record<string, string>) =>
      functions.poll(new Request('https://x.test/poll', { method: 'POST', headers }), env(extra));

    const disabled = await poll({ authorization: `Bearer ${SECRET}` });
    expect(disabled.status).toBe(503);
    expect(await disabled.json()).toMatchObject({ code: 'cron_secret_unset' });

    const wrong = await poll({ authorization: 'Bearer not-the-secret-0123456789' }, { CRON_SECRET: SECRET });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await poll({}, { CRON_SECRET: SECRET })).status).toBe(401);

    const ok = await poll({ authorization: `Bearer ${SECRET}` }, { CRON_SECRET: SECRET });
    expect(ok.status).toBe(200);
    expect(Object.keys(await ok.json()).sort()).toEqual(['cancelled', 'claimed', 'completed', 'duration_ms', 'expired_failed', 'failed', 'lost', 'released', 'retried']);
  });

  it('an operation function serves its own route and answers others like the API would', async () => {
    const functions = createFunctions({ platform: 'test' });
    const created = await functions.createTask(new Request('https://x.test/tasks', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ title: 't', description: 'd' }) }), env());
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };

    const wrongMethod = await functions.getTask(new Request(`https://x.test/tasks/${id}`, { method: 'DELETE' }), env());
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD');
    const otherRoute = await functions.getTask(new Request('https://x.test/stats'), env());
    expect(otherRoute.status).toBe(404);
    expect(await otherRoute.json()).toMatchObject({ code: 'route_not_found' });
    expect(await (await functions.getTask(new Request(`https://x.test/tasks/${id}`), env())).json()).toMatchObject({ id, status: 'pending' });
    // A validation error comes from the same app: same message, same code.
    const invalid = await functions.createTask(new Request('https://x.test/tasks', { method: 'POST', headers: JSON_HEADERS, body: '{"title":""}' }), env());
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toEqual({ message: 'title is required', code: 'invalid_field' });
  });
});
