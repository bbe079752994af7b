import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startupPages } from '../local/server.ts';
import { tempDir } from './helpers.ts';
import { killAll, startServe, type ServiceProcess } from './processes.ts';

/** What `task-pool serve` says when it starts: where it listens, the pages to open, its pid. */

const services: ServiceProcess[] = [];
afterEach(() => killAll(services.splice(0)));

const startupLine = (service: ServiceProcess) => service.waitForLog((r) => r.mode === 'serve');

describe('the start-up line of serve', () => {
  it('names the dashboard and the API docs, both answering, and the pid', async () => {
    const service = await startServe({ DATABASE_DSN: join(tempDir(), 'tasks.db') });
    services.push(service);
    const { url } = service;
    const line = await startupLine(service);
    expect(line).toMatchObject({ url, dashboard: `${url}/ui`, docs: `${url}/docs`, pid: service.proc.pid });
    expect(line.msg).toBe(`task-pool listening on ${url} (dashboard ${url}/ui, API docs ${url}/docs)`);
    const [dashboard, docs] = await Promise.all([fetch(`${url}/ui`), fetch(`${url}/docs`)]);
    expect(dashboard.status).toBe(200);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger-ui');
  });

  it('leaves the dashboard out when DASHBOARD_ENABLED=false', async () => {
    const service = await startServe({ DATABASE_DSN: join(tempDir(), 'tasks.db'), DASHBOARD_ENABLED: 'false' });
    services.push(service);
    const line = await startupLine(service);
    expect(line).not.toHaveProperty('dashboard');
    expect(line.msg).toBe(`task-pool listening on ${service.url} (API docs ${service.url}/docs)`);
    expect((await fetch(`${service.url}/ui`)).status).toBe(404);
  });

  it('links a wildcard listen address through loopback', () => {
    expect(startupPages('http://0.0.0.0:8080', true)).toEqual({ dashboard: 'http://127.0.0.1:8080/ui', docs: 'http://127.0.0.1:8080/docs' });
    expect(startupPages('http://[::]:8080', false)).toEqual({ dashboard: undefined, docs: 'http://[::1]:8080/docs' });
    expect(startupPages('http://127.0.0.1:9000', false).docs).toBe('http://127.0.0.1:9000/docs');
  });
});
