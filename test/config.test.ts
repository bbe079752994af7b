import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig, normalizeDatabaseUrl, redactUrl } from '../lib/config/config.ts';
import { readFileSync } from 'node:fs';

describe('loadConfig', () => {
  it('has the documented defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1', port: 8080, workers: 5, queueSize: 10, pollIntervalSeconds: 5, pollBatchSize: 10,
      databaseUrl: 'file:tasks.db', rateLimitPerMinute: 60, shutdownTimeoutSeconds: 20, leaseSeconds: 30, maxAttempts: 3,
      maxPending: 0, simulateMinMs: 1000, simulateMaxMs: 5000, maxBodyBytes: 65_536, trustProxy: false, logLevel: 'info',
      rateLimitPrefix: 'task-pool', rateLimitTimeoutMs: 200, redisUrl: undefined,
    });
  });

  it('reads DATABASE_URL before DATABASE_DSN, and a bare path as a file', () => {
    expect(loadConfig({ DATABASE_DSN: '/tmp/x.db' }).databaseUrl).toBe('file:/tmp/x.db');
    expect(loadConfig({ DATABASE_DSN: 'a.db', DATABASE_URL: 'libsql://db.example.com' }).databaseUrl).toBe('libsql://db.example.com');
    expect(() => normalizeDatabaseUrl('postgres://u:p@h/db')).toThrow(ConfigError);
  });

  it('reads the remote transport and statement timeout: auto and 30 s unless set', () => {
    expect(loadConfig({})).toMatchObject({ databaseTransport: 'auto', databaseTimeoutSeconds: 30 });
    expect(loadConfig({ DATABASE_TRANSPORT: 'http', DATABASE_TIMEOUT_SECONDS: '2.5' })).toMatchObject({ databaseTransport: 'http', databaseTimeoutSeconds: 2.5 });
    expect(() => loadConfig({ DATABASE_TRANSPORT: 'websocket' })).toThrow('invalid DATABASE_TRANSPORT="websocket": must be auto, ws or http');
    expect(() => loadConfig({ DATABASE_TIMEOUT_SECONDS: '0' })).toThrow(/invalid DATABASE_TIMEOUT_SECONDS="0"/);
  });

  it('builds a Redis URL from REDIS_HOST/REDIS_PORT when REDIS_URL is absent', () => {
    expect(loadConfig({ REDIS_HOST: 'cache', REDIS_PORT: '6380' }).redisUrl).toBe('redis://cache:6380');
    expect(loadConfig({ REDIS_URL: 'redis://a:1', REDIS_HOST: 'b' }).redisUrl).toBe('redis://a:1');
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ TASK_WORKERS: '', APP_PORT: ' ' }).workers).toBe(5);
  });

  it.each([
    ['TASK_WORKERS', '0'], ['TASK_WORKERS', 'abc'], ['TASK_WORKERS', '1.5'], ['APP_PORT', '70000'], ['APP_PORT', '-1'],
    ['TASK_QUEUE_SIZE', '-1'], ['TASK_POLL_INTERVAL_SECONDS', '0'], ['TASK_LEASE_SECONDS', 'soon'], ['TRUST_PROXY', 'maybe'],
    ['LOG_LEVEL', 'verbose'], ['REDIS_URL', 'http://x'], ['MAX_BODY_BYTES', '10'], ['API_TOKEN', 'short'],
  ])('rejects %s=%s with one line naming it', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(name);
    expect((error as Error).message).not.toContain('\n');
  });

  it('rejects SIMULATE_MIN_MS above SIMULATE_MAX_MS', () => {
    expect(() => loadConfig({ SIMULATE_MIN_MS: '10', SIMULATE_MAX_MS: '5' })).toThrow(/SIMULATE_MIN_MS/);
  });

  it('redacts credentials in URLs for logs', () => {
    expect(redactUrl('libsql://db.turso.io?authToken=abc')).not.toContain('abc');
    expect(redactUrl('redis://user:secret@host:6379')).not.toContain('secret');
  });

  it('.env.example lists every variable', () => {
    const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
    for (const name of CONFIG_VARIABLES) expect(example).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
  });
});
