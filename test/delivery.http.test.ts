import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { verifyWebhook } from '../lib/delivery/verify.ts';
import type { TaskJson } from '../lib/tasks/model.ts';
import type { Runtime } from '../local/runtime.ts';
import { formatTaskId } from '../lib/tasks/ids.ts';
import { closedPort, startReceiver, type Receiver } from './fixtures/receiver.ts';
import { startRuntime, waitFor, waitForStatus } from './helpers.ts';

/**
 * `http` tasks end to end on Node: a real runtime (pool, poller, libSQL file) delivering to
 * real receivers on loopback through the guarded undici transport. Loopback is reachable
 * only because HTTP_ALLOW_PRIVATE_NETWORKS=true or HTTP_ALLOWED_HOSTS says so; without them
 * the same targets are refused (the guard tests below).
 */
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OLD_SECRET = 'whsec_dGFzay1wb29sLW9sZC1zZWNyZXQtMDEyMzQ1Njc4OQ==';

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});
async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

async function runtimeWith(env: Record<string, string> = {}): Promise<Runtime> {
  const runtime = await startRuntime({
    env: { HTTP_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_SECRET: SECRET, TASK_BACKOFF_BASE_MS: '10', TASK_BACKOFF_MAX_MS: '50', ...env },
  });
  runtime.start();
  return runtime;
}

async function submit(runtime: Runtime, payload: unknown, extra: Record<string, unknown> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await runtime.app.request('/tasks', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'deliver', description: 'an http task', type: 'http', payload, ...extra }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function submitOk(runtime: Runtime, payload: unknown, extra: Record<string, unknown> = {}): Promise<number> {
  const { status, body } = await submit(runtime, payload, extra);
  expect(status, JSON.stringify(body)).toBe(202);
  return Number(body.id);
}

describe('http tasks: delivery', () => {
  it('sends method, headers and a JSON body, signed; the receiver verifies it; the result is stored', async () => {
    const r = await receiver(() => ({ status: 201, headers: { 'content-type': 'application/json', 'x-request-id': 'r-1' }, body: '{"ok":true,"n":7}' }));
    const runtime = await runtimeWith();
    const id = await submitOk(runtime, { url: `${r.url}/hooks/paid?x=1`, headers: { 'X-Tenant': 'acme' }, body: { order: 1234 } });
    const task = await waitForStatus(runtime.repo, id, 'completed');

    expect(r.requests).toHaveLength(1);
    const [request] = r.requests;
    expect(request!.method).toBe('POST');
    expect(request!.path).toBe('/hooks/paid?x=1');
    expect(request!.headers['x-tenant']).toBe('acme');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.body).toBe('{"order":1234}');
    // The task's public id, as a client sees it (stable across retries, below).
    expect(request!.headers['webhook-id']).toBe(formatTaskId(id));
    // Verified with the reference implementation, as a receiver would.
    const verified = new Webhook(SECRET).verify(request!.body, request!.headers as Record<string, string>);
    expect(verified).toEqual({ order: 1234 });
    expect(await verifyWebhook(request!.body, request!.headers, SECRET)).toBe(true);
    expect(await verifyWebhook(request!.body.replace('1234', '1235'), request!.headers, SECRET)).toBe(false);

    const json = (await (await runtime.app.request(`/tasks/${formatTaskId(id)}`)).json()) as TaskJson;
    const result = json.result as Record<string, unknown>;
    expect(result.status).toBe(201);
    expect(result.body).toEqual({ ok: true, n: 7 });
    expect(result.headers).toMatchObject({ 'content-type': 'application/json', 'x-request-id': 'r-1' });
    expect(typeof result.duration_ms).toBe('number');
    expect(task.attempts).toBe(1);
  });

  it('sends a string body as is, with any method; signs with every rotated secret', async () => {
    const r = await receiver(() => ({ status: 200, body: 'plain answer' }));
    const runtime = await runtimeWith({ WEBHOOK_SECRET: `${SECRET}, ${OLD_SECRET}` });
    const id = await submitOk(runtime, { url: r.url, method: 'put', headers: { 'content-type': 'text/csv' }, body: 'a,b\n1,2\n' });
    const task = await waitForStatus(runtime.repo, id, 'completed');
    const [request] = r.requests;
    expect(request!.method).toBe('PUT');
    expect(request!.headers['content-type']).toBe('text/csv');
    expect(request!.body).toBe('a,b\n1,2\n');
    expect(String(request!.headers['webhook-signature']).split(' ')).toHaveLength(2);
    // The reference implementation's own signature with each secret is among those sent
    // (its verify() would also JSON-parse the body, which is CSV here).
    const sent = String(request!.headers['webhook-signature']).split(' ');
    const at = new Date(Number(request!.headers['webhook-timestamp']) * 1000);
    for (const secret of [SECRET, OLD_SECRET]) expect(sent).toContain(new Webhook(secret).sign(formatTaskId(id), at, request!.body));
    expect(await verifyWebhook(request!.body, request!.headers, OLD_SECRET)).toBe(true);
    expect(JSON.parse(task.result!)).toMatchObject({ status: 200, body: 'plain answer' });
  });

  it('keeps only HTTP_MAX_RESPONSE_BYTES of the response body', async () => {
    const r = await receiver(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(500) }) }));
    const runtime = await runtimeWith({ HTTP_MAX_RESPONSE_BYTES: '100' });
    const id = await submitOk(runtime, { url: r.url, method: 'GET' });
    const result = JSON.parse((await waitForStatus(runtime.repo, id, 'completed')).result!) as Record<string, unknown>;
    expect(r.requests[0]!.method).toBe('GET');
    expect(result.body).toHaveLength(100);
    expect(result.body_truncated).toBe(true);
  });

  it('reads a chunked body without a length: a character split across chunks whole, the limit applied', async () => {
    // "é" is two bytes in UTF-8: the first chunk ends inside it.
    const bytes = Buffer.from(JSON.stringify({ word: 'café', pad: 'y'.repeat(60) }));
    const split = bytes.indexOf(0xa9);
    const r = await receiver(() => ({ status: 200, headers: { 'content-type': 'application/json' }, chunks: [bytes.subarray(0, split), bytes.subarray(split)] }));
    const runtime = await runtimeWith({ HTTP_MAX_RESPONSE_BYTES: '100' });
    const whole = JSON.parse((await waitForStatus(runtime.repo, await submitOk(runtime, { url: r.url }), 'completed')).result!) as Record<string, unknown>;
    expect(whole.body).toEqual({ word: 'café', pad: 'y'.repeat(60) });
    expect(whole.body_truncated).toBeUndefined();

    const long = await receiver(() => ({ status: 200, chunks: [Buffer.from('a'.repeat(60)), Buffer.from('b'.repeat(60))] }));
    const cut = JSON.parse((await waitForStatus(runtime.repo, await submitOk(runtime, { url: long.url }), 'completed')).result!) as Record<string, unknown>;
    expect(cut.body).toBe('a'.repeat(60) + 'b'.repeat(40));
    expect(cut.body_truncated).toBe(true);
  });
});

describe('http tasks: outcomes', () => {
  it('500 then 200 → completed on attempt 2, the same webhook-id both times', async () => {
    const r = await receiver((_req, i) => (i === 0 ? { status: 500, body: 'boom' } : { status: 200 }));
    const runtime = await runtimeWith();
    const id = await submitOk(runtime, { url: r.url, body: { n: 1 } });
    const task = await waitForStatus(runtime.repo, id, 'completed');
    expect(task.attempts).toBe(2);
    expect(r.requests.map((q) => q.headers['webhook-id'])).toEqual([formatTaskId(id), formatTaskId(id)]);
  });

  it('429 with Retry-After: 2 → the next attempt is not before 2 s after the answer', async () => {
    const r = await receiver(() => ({ status: 429, headers: { 'retry-after': '2' }, body: 'slow down' }));
    const runtime = await runtimeWith({ TASK_BACKOFF_MAX_MS: '10000' });
    const id = await submitOk(runtime, { url: r.url });
    const task = await waitFor(async () => {
      const t = await runtime.repo.get(id);
      return t?.status === 'pending' && t.attempts === 1 ? t : null;
    });
    expect(task.lastError).toBe('HTTP 429 Too Many Requests: slow down');
    // The backoff alone would be 5 to 10 ms after the first attempt; Retry-After wins.
    expect(task.runAt - r.requests[0]!.receivedAt).toBeGreaterThanOrEqual(2000);
    await runtime.service.cancel(id);
  });

  it('Retry-After as an HTTP-date, capped at TASK_BACKOFF_MAX_MS', async () => {
    const r = await receiver(() => ({ status: 503, headers: { 'retry-after': new Date(Date.now() + 3_600_000).toUTCString() } }));
    const runtime = await runtimeWith({ TASK_BACKOFF_MAX_MS: '5000' });
    const id = await submitOk(runtime, { url: r.url });
    const task = await waitFor(async () => {
      const t = await runtime.repo.get(id);
      return t?.status === 'pending' && t.attempts === 1 ? t : null;
    });
    const delay = task.runAt - r.requests[0]!.receivedAt;
    expect(delay).toBeGreaterThan(4000);
    expect(delay).toBeLessThanOrEqual(5000 + 1000);
    await runtime.service.cancel(id);
  });

  it('404 → failed after one attempt, attempts left unused; last_error names the status and starts the body', async () => {
    const r = await receiver(() => ({ status: 404, body: `no such hook ${'.'.repeat(1000)}` }));
    const runtime = await runtimeWith();
    const id = await submitOk(runtime, { url: r.url }, { max_attempts: 5 });
    const task = await waitForStatus(runtime.repo, id, 'failed');
    expect(task.attempts).toBe(1);
    expect(task.lastError).toMatch(/^HTTP 404 Not Found: no such hook \.+$/);
    expect(task.lastError!.length).toBeLessThan(400);
    expect(r.requests).toHaveLength(1);
  });

  it('a receiver that never answers → timeout, retried, failed after the last attempt', async () => {
    const r = await receiver(() => ({ hang: true }));
    const runtime = await runtimeWith();
    const id = await submitOk(runtime, { url: r.url, timeout_seconds: 0.3 }, { max_attempts: 2 });
    const task = await waitForStatus(runtime.repo, id, 'failed');
    expect(task.attempts).toBe(2);
    expect(task.lastError).toBe(`no response from 127.0.0.1:${r.port} within 0.3s`);
    expect(r.requests).toHaveLength(2);
  });

  it('connection refused → retried, failed after the last attempt', async () => {
    const port = await closedPort();
    const runtime = await runtimeWith();
    const id = await submitOk(runtime, { url: `http://127.0.0.1:${port}/` }, { max_attempts: 3 });
    const task = await waitForStatus(runtime.repo, id, 'failed');
    expect(task.attempts).toBe(3);
    expect(task.lastError).toMatch(new RegExp(`^request to 127\\.0\\.0\\.1:${port} failed: ECONNREFUSED`));
  });

  it('a redirect is a failure, not followed', async () => {
    const r = await receiver((req) => (req.path === '/old' ? { status: 302, headers: { location: '/new' } } : { status: 200 }));
    const runtime = await runtimeWith();
    const id = await submitOk(runtime, { url: `${r.url}/old` }, { max_attempts: 3 });
    const task = await waitForStatus(runtime.repo, id, 'failed');
    expect(task.attempts).toBe(1);
    expect(task.lastError).toBe('HTTP 302 redirect to /new not followed (HTTP_FOLLOW_REDIRECTS=0)');
    expect(r.requests.map((q) => q.path)).toEqual(['/old']);
  });

  it('HTTP_FOLLOW_REDIRECTS=N follows up to N hops (303 turns into GET), no more', async () => {
    const r = await receiver((req) => {
      if (req.path === '/a') return { status: 307, headers: { location: '/b' } };
      if (req.path === '/b') return { status: 303, headers: { location: '/c' } };
      if (req.path === '/loop') return { status: 301, headers: { location: '/loop' } };
      return { status: 200, body: 'arrived' };
    });
    const runtime = await runtimeWith({ HTTP_FOLLOW_REDIRECTS: '2' });
    const id = await submitOk(runtime, { url: `${r.url}/a`, body: { x: 1 } });
    const task = await waitForStatus(runtime.repo, id, 'completed');
    expect(r.requests.map((q) => `${q.method} ${q.path} ${q.body}`)).toEqual(['POST /a {"x":1}', 'POST /b {"x":1}', 'GET /c ']);
    expect(JSON.parse(task.result!)).toMatchObject({ status: 200, body: 'arrived', url: `${r.url}/c` });

    const loop = await submitOk(runtime, { url: `${r.url}/loop` });
    expect((await waitForStatus(runtime.repo, loop, 'failed')).lastError).toMatch(/^HTTP 301 redirect to \/loop not followed/);
  });
});

describe('http tasks: signatures across redirects', () => {
  /** A POST with a JSON body to `first`, which redirects with `status` to a path on a second loopback server. */
  async function redirected(status: number): Promise<{ landed: Receiver; id: number }> {
    const landed = await receiver(() => ({ status: 200, body: 'landed' }));
    const first = await receiver(() => ({ status, headers: { location: `${landed.url}/landed` } }));
    const runtime = await runtimeWith({ HTTP_FOLLOW_REDIRECTS: '1' });
    const id = await submitOk(runtime, { url: `${first.url}/hooks`, headers: { 'Content-Language': 'en' }, body: { order: 1234 } });
    expect(JSON.parse((await waitForStatus(runtime.repo, id, 'completed')).result!)).toMatchObject({ status: 200, url: `${landed.url}/landed` });
    expect(first.requests).toHaveLength(1);
    expect(landed.requests).toHaveLength(1);
    return { landed, id };
  }

  it.each([301, 302, 303])('%i after a POST → a GET without a body, signed over the empty body it carries', async (status) => {
    const { landed, id } = await redirected(status);
    const [request] = landed.requests;
    expect(request!.method).toBe('GET');
    expect(request!.path).toBe('/landed');
    expect(request!.body).toBe('');
    expect(request!.headers['webhook-id']).toBe(formatTaskId(id));
    // Verified over what arrived: throws on a signature over the POST's body.
    expect(new Webhook(SECRET).verify(request!.body, request!.headers as Record<string, string>)).toBeUndefined();
    expect(await verifyWebhook(request!.body, request!.headers, SECRET)).toBe(true);
    // No header describes a body that is not there (the fetch standard's list).
    expect(request!.headers['content-type']).toBeUndefined();
    expect(request!.headers['content-language']).toBeUndefined();
  });

  it.each([307, 308])('%i → the same method and body, and a signature that verifies', async (status) => {
    const { landed, id } = await redirected(status);
    const [request] = landed.requests;
    expect(request!.method).toBe('POST');
    expect(request!.body).toBe('{"order":1234}');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers['webhook-id']).toBe(formatTaskId(id));
    expect(new Webhook(SECRET).verify(request!.body, request!.headers as Record<string, string>)).toEqual({ order: 1234 });
    expect(await verifyWebhook(request!.body, request!.headers, SECRET)).toBe(true);
  });
});

describe("http tasks: the receiver examples in docs/http-tasks.md", () => {
  it('the standardwebhooks example verifies a body that is not JSON (text/plain)', async () => {
    const r = await receiver(() => ({ status: 204 }));
    const runtime = await runtimeWith();
    const text = 'card 4242 declined: not JSON';
    await waitForStatus(runtime.repo, await submitOk(runtime, { url: r.url, headers: { 'content-type': 'text/plain' }, body: text }), 'completed');
    const [received] = r.requests;
    // The receiver as docs/http-tasks.md writes it: a WHATWG Request, its raw text, WEBHOOK_SECRET in the environment.
    const request = new Request(`${r.url}${received!.path}`, {
      method: received!.method,
      headers: Object.entries(received!.headers).map(([name, value]): [string, string] => [name, String(value)]),
      body: received!.body,
    });
    vi.stubEnv('WEBHOOK_SECRET', SECRET);
    try {
      const body = await request.text();
      expect(body).toBe(text);

      // docs/http-tasks.md, "Signing" (keep the two in step):
      new Webhook(process.env.WEBHOOK_SECRET!).verify(body, Object.fromEntries(request.headers), { jsonParse: false });

      // The example it replaces: the signature matched, then JSON.parse threw on the body.
      expect(() => new Webhook(process.env.WEBHOOK_SECRET!).verify(body, Object.fromEntries(request.headers))).toThrow(SyntaxError);
      // Not parsing does not mean not checking.
      expect(() => new Webhook(process.env.WEBHOOK_SECRET!).verify(`${body}!`, Object.fromEntries(request.headers), { jsonParse: false })).toThrow(WebhookVerificationError);
      expect(await verifyWebhook(body, request.headers, process.env.WEBHOOK_SECRET!)).toBe(true);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('http tasks: payload validation at submit', () => {
  const cases: [string, unknown, RegExp][] = [
    ['no payload', undefined, /^payload: must be an object/],
    ['no url', {}, /^payload\.url: must be a URL string/],
    ['ftp url', { url: 'ftp://example.com/x' }, /^payload\.url: must use http or https/],
    ['relative url', { url: '/hooks' }, /^payload\.url: must be an absolute http or https URL/],
    ['credentials', { url: 'https://u:p@example.com/' }, /^payload\.url: must not contain credentials/],
    ['bad method', { url: 'https://example.com/', method: 'BREW' }, /^payload\.method: must be one of GET, HEAD/],
    ['host header', { url: 'https://example.com/', headers: { Host: 'evil' } }, /^payload\.headers\.Host: may not be set/],
    ['hop-by-hop header', { url: 'https://example.com/', headers: { Connection: 'close' } }, /^payload\.headers\.Connection: may not be set/],
    ['transfer-encoding', { url: 'https://example.com/', headers: { 'transfer-encoding': 'chunked' } }, /^payload\.headers\.transfer-encoding: may not be set/],
    ['header value', { url: 'https://example.com/', headers: { 'x-a': 1 } }, /^payload\.headers\.x-a: header values must be strings/],
    ['header CRLF', { url: 'https://example.com/', headers: { 'x-a': 'a\r\nb: c' } }, /^payload\.headers\.x-a: must not contain CR, LF/],
    ['GET with body', { url: 'https://example.com/', method: 'GET', body: 'x' }, /^payload\.body: must be absent for GET/],
    ['timeout above TASK_TIMEOUT_SECONDS', { url: 'https://example.com/', timeout_seconds: 61 }, /^payload\.timeout_seconds: must be at most TASK_TIMEOUT_SECONDS \(60\)/],
    ['zero timeout', { url: 'https://example.com/', timeout_seconds: 0 }, /^payload\.timeout_seconds: must be positive/],
    ['unknown field', { url: 'https://example.com/', callbak_url: 'https://example.com/' }, /^payload: unknown field "callbak_url"/],
    ['bad callback url', { url: 'https://example.com/', callback_url: 'mailto:a@b' }, /^payload\.callback_url: must use http or https/],
  ];
  it.each(cases)('%s → 400 naming the field', async (_name, payload, message) => {
    const runtime = await startRuntime({ env: { TASK_TIMEOUT_SECONDS: '60' } });
    const { status, body } = await submit(runtime, payload);
    expect(status).toBe(400);
    expect(body.message).toMatch(message);
    expect((await runtime.repo.stats()).counts.pending ?? 0).toBe(0);
  });
});

describe('http tasks: SSRF guard', () => {
  // Submitted only: none of these addresses is ever contacted (the submit refuses them).
  it.each([
    ['http://127.0.0.1:9/', '127.0.0.1 is a loopback address'],
    ['http://[::1]:9/', '::1 is a loopback address'],
    ['http://0x7f.1/', '127.0.0.1 is a loopback address'],
    ['http://10.1.2.3/', '10.1.2.3 is a private address'],
    ['http://192.168.0.10/', '192.168.0.10 is a private address'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is a metadata address'],
    ['http://[::ffff:169.254.169.254]/', '::ffff:a9fe:a9fe is a metadata address'],
    ['http://100.64.0.1/', '100.64.0.1 is a cgnat address'],
    ['http://0.0.0.0/', '0.0.0.0 is a unspecified address'],
  ])('refuses %s at submit (400)', async (url, why) => {
    const runtime = await startRuntime();
    const { status, body } = await submit(runtime, { url });
    expect(status).toBe(400);
    expect(body).toMatchObject({ code: 'destination_refused' });
    expect(body.message).toContain(`payload.url: destination refused: ${why}`);
  });

  it('GET /openapi.json describes the http payload', async () => {
    const runtime = await startRuntime();
    const doc = (await (await runtime.app.request('/openapi.json')).json()) as { components: { schemas: Record<string, { properties: Record<string, unknown>; required: string[] }> } };
    expect(Object.keys(doc.components.schemas.HttpPayload!.properties)).toEqual(['url', 'method', 'headers', 'body', 'timeout_seconds', 'callback_url', 'failure_callback_url']);
    expect(doc.components.schemas.HttpPayload!.required).toEqual(['url']);
    expect(JSON.stringify(doc.components.schemas.SubmitTask!.properties.payload)).toContain('#/components/schemas/HttpPayload');
  });

  it('refuses a private callback_url at submit', async () => {
    const runtime = await startRuntime();
    const { status, body } = await submit(runtime, { url: 'https://example.com/', failure_callback_url: 'http://10.0.0.1/dead' });
    expect(status).toBe(400);
    expect(body.message).toMatch(/^payload\.failure_callback_url: destination refused: 10\.0\.0\.1 is a private address/);
  });

  it('refuses `localhost` at connect time: no request reaches the receiver, the task fails at once saying why', async () => {
    const r = await receiver();
    const runtime = await startRuntime();
    runtime.start();
    const id = await submitOk(runtime, { url: `http://localhost:${r.port}/` }, { max_attempts: 3 });
    const task = await waitForStatus(runtime.repo, id, 'failed');
    expect(task.attempts).toBe(1);
    expect(task.lastError).toMatch(/^destination refused: (127\.0\.0\.1|::1) is a loopback address \(localhost resolves to it\); set HTTP_ALLOW_PRIVATE_NETWORKS=true/);
    expect(r.requests).toHaveLength(0);
  });

  it('HTTP_ALLOWED_HOSTS=localhost lets that name through, but a redirect hop to a loopback literal is refused', async () => {
    const r = await receiver((req) => (req.path === '/hop' ? { status: 302, headers: { location: `http://127.0.0.1:${r.port}/inside` } } : { status: 200 }));
    const runtime = await startRuntime({ env: { HTTP_ALLOWED_HOSTS: 'localhost', HTTP_FOLLOW_REDIRECTS: '3', TASK_BACKOFF_BASE_MS: '10' } });
    runtime.start();
    const ok = await submitOk(runtime, { url: `http://localhost:${r.port}/direct` });
    await waitForStatus(runtime.repo, ok, 'completed');
    const hop = await submitOk(runtime, { url: `http://localhost:${r.port}/hop` });
    const task = await waitForStatus(runtime.repo, hop, 'failed');
    expect(task.lastError).toMatch(/^destination refused: 127\.0\.0\.1 is a loopback address/);
    expect(r.requests.map((q) => q.path)).toEqual(['/direct', '/hop']);
  });

  it('HTTP_ALLOW_PRIVATE_NETWORKS=true lets `localhost` and loopback literals through', async () => {
    const r = await receiver();
    const runtime = await runtimeWith({ WEBHOOK_SECRET: '' });
    const a = await submitOk(runtime, { url: `http://localhost:${r.port}/` });
    const b = await submitOk(runtime, { url: `${r.url}/` });
    await waitForStatus(runtime.repo, a, 'completed');
    await waitForStatus(runtime.repo, b, 'completed');
    // No WEBHOOK_SECRET: id and timestamp, no signature.
    expect(r.requests[0]!.headers['webhook-id']).toBeDefined();
    expect(r.requests[0]!.headers['webhook-signature']).toBeUndefined();
  });
});
