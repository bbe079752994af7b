import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../lib/config/config.ts';

/**
 * No Docker engine on these machines (docs/architecture.md, "Testing"): the compose file is checked by reading
 * it. The app's environment must be a valid task-pool configuration pointing at the sqld and
 * redis services on the ports they listen on.
 */
interface Service {
  build?: unknown;
  image?: string;
  ports?: string[];
  expose?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const compose = parse(readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8')) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');

/** `${VAR:-default}` as compose would expand it with nothing set. */
const expand = (value: string) => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

describe('docker-compose.yml', () => {
  it('runs app, sqld and redis, each with a health check', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['app', 'redis', 'sqld']);
    for (const [name, service] of Object.entries(compose.services)) expect(service.healthcheck?.test.length, name).toBeGreaterThan(1);
    expect(compose.services.app!.build).toBe('.');
    expect(compose.services.sqld!.image).toMatch(/^ghcr\.io\/tursodatabase\/libsql-server:/);
    expect(compose.services.redis!.image).toMatch(/^redis:7/);
  });

  it('points the app at sqld and redis on the ports they listen on, and publishes the API', () => {
    const { app, sqld, redis } = compose.services;
    const env = Object.fromEntries(Object.entries(app!.environment!).map(([k, v]) => [k, expand(String(v))]));
    const config = loadConfig(env);
    expect(config.databaseUrl).toBe('http://sqld:8080');
    expect(config.redisUrl).toBe('redis://redis:6379');
    expect(config.host).toBe('0.0.0.0');
    expect(sqld!.environment!.SQLD_HTTP_LISTEN_ADDR).toBe('0.0.0.0:8080');
    expect(sqld!.expose).toContain(new URL(config.databaseUrl).port);
    expect(redis!.expose).toContain(new URL(config.redisUrl!).port);
    expect(app!.ports!.map(expand)).toEqual([`8080:${config.port}`]);
    expect(app!.depends_on).toEqual({ sqld: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
  });

  it('keeps data in named volumes', () => {
    expect(Object.keys(compose.volumes).sort()).toEqual(['redis-data', 'sqld-data']);
    expect(compose.services.sqld!.volumes).toEqual(['sqld-data:/var/lib/sqld']);
    expect(compose.services.redis!.volumes).toEqual(['redis-data:/data']);
  });

  it('the Dockerfile builds the node bundle and runs it', () => {
    expect(dockerfile).toMatch(/RUN node esbuild\.config\.mjs node/);
    expect(dockerfile).toMatch(/COPY --from=build \/src\/dist\/node\/ \.\//);
    expect(dockerfile).toMatch(/ENTRYPOINT \["node", "bin\/cli\.mjs"\]/);
  });
});
