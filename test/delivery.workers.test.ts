import type { Miniflare } from 'miniflare';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskJson } from '../lib/tasks/model.ts';
import { startWorkerd, useBundles } from './bundles.ts';
import { startReceiver, type Receiver } from './fixtures/receiver.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * `http` tasks at the edge: the built Workers bundle in real workerd against a real sqld,
 * delivering from its scheduled poll through the platform's fetch to a loopback receiver.
 * Loopback is reachable only with HTTP_ALLOW_PRIVATE_NETWORKS=true; without it the edge
 * guard refuses literal addresses at submit and `localhost` names before the request.
 */
const available = await sqldAvailable();
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

describe.skipIf(!available)('http tasks in the Workers bundle', () => {
  const sqld = useSqld();
  const bundles = useBundles(['workers']);
  let open: Miniflare;
  let guarded: Miniflare;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"received":true}' }));
    const common = { DATABASE_URL: sqld.url, LOG_LEVEL: 'warn', POLL_BUDGET_SECONDS: '5', RATE_LIMIT_PER_MINUTE: '0', WEBHOOK_SECRET: SECRET };
    open = await startWorkerd(bundles, { ...common, HTTP_ALLOW_PRIVATE_NETWORKS: 'true' });
    guarded = await startWorkerd(bundles, common);
  });
  afterAll(async () => {
    await open?.dispose();
    await guarded?.dispose();
    await receiver?.close();
  });

  const call = async (mf: Miniflare, method: string, path: string, body?: unknown) => {
    const response = await mf.dispatchFetch(`http://task-pool.test${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const scheduled = async (mf: Miniflare) => {
    // miniflare types Fetcher through @cloudflare/workers-types, which is not installed.
    const worker = (await mf.getWorker()) as unknown as { scheduled(options: { cron?: string; scheduledTime?: Date }): Promise<{ outcome: string }> };
    expect((await worker.scheduled({ cron: '* * * * *', scheduledTime: new Date() })).outcome).toBe('ok');
  };

  it('delivers a signed request from the scheduled poll and stores the result', async () => {
    const created = await call(open, 'POST', '/tasks', {
      title: 'edge delivery',
      description: 'd',
      type: 'http',
      payload: { url: `${receiver.url}/edge`, headers: { 'x-from': 'workerd' }, body: { order: 7 } },
    });
    expect(created.status).toBe(202);
    const id = created.body.id as string;
    await scheduled(open);
    const task = (await call(open, 'GET', `/tasks/${id}`)).body as unknown as TaskJson;
    expect(task.status).toBe('completed');
    expect(task.result).toMatchObject({ status: 200, body: { received: true } });

    const request = receiver.requests.find((r) => r.path === '/edge')!;
    expect(request.headers['x-from']).toBe('workerd');
    expect(request.headers['webhook-id']).toBe(id);
    expect(new Webhook(SECRET).verify(request.body, request.headers as Record<string, string>)).toEqual({ order: 7 });
  });

  it('serves /openapi.json with the http payload (esbuild.config.mjs cuts zod’s own JSON Schema output from this bundle)', async () => {
    const response = await open.dispatchFetch('http://task-pool.test/openapi.json');
    expect(response.status).toBe(200);
    const doc = (await response.json()) as { components: { schemas: Record<string, { properties?: Record<string, unknown> }> } };
    expect(Object.keys(doc.components.schemas.HttpPayload!.properties!)).toContain('failure_callback_url');
    expect(Object.keys(doc.components.schemas.SubmitTask!.properties!)).toContain('payload');
  });

  it('without HTTP_ALLOW_PRIVATE_NETWORKS: a loopback literal is refused at submit, `localhost` before the request', async () => {
    const literal = await call(guarded, 'POST', '/tasks', { title: 't', description: 'd', type: 'http', payload: { url: `${receiver.url}/never` } });
    expect(literal.status).toBe(400);
    expect(literal.body.message).toMatch(/^payload\.url: destination refused: 127\.0\.0\.1 is a loopback address/);

    const named = await call(guarded, 'POST', '/tasks', { title: 't', description: 'd', type: 'http', payload: { url: `http://localhost:${receiver.port}/never` } });
    expect(named.status).toBe(202);
    await scheduled(guarded);
    const task = (await call(guarded, 'GET', `/tasks/${named.body.id as string}`)).body as unknown as TaskJson;
    expect(task.status).toBe('failed');
    expect(task.attempts).toBe(1);
    expect(task.last_error).toMatch(/^destination refused: localhost is a loopback name/);
    expect(receiver.requests.filter((r) => r.path === '/never')).toHaveLength(0);
  });
});
