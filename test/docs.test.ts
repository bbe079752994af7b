import { describe, expect, it } from 'vitest';
import { createFunctions } from '../functions/functions.ts';
import { apiTags } from '../lib/api/openapi.ts';
import { serveRuntime } from './support/serve.ts';

/** Every `src`/`href` in the page. */
function references(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href)\s*=\s*["']([^"']+)["']/gi)].map((m) => m[1]!);
}

/** `directive → sources` of a Content-Security-Policy header. */
function parseCsp(header: string): Map<string, string[]> {
  return new Map(
    header
      .split(';')
      .map((part) => part.trim().split(/\s+/))
      .filter((words) => words[0])
      .map(([name, ...sources]) => [name!.toLowerCase(), sources]),
  );
}

const EXPECTED_TYPES: Record<string, RegExp> = {
  '.js': /^text\/javascript; charset=utf-8$/,
  '.css': /^text\/css; charset=utf-8$/,
  '.png': /^image\/png$/,
};

describe('GET /docs', () => {
  it('serves Swagger UI whose every asset is same-origin, answers 200 with its content type, under a CSP that admits no other origin', async () => {
    // API_TOKEN on: the docs and the document they render stay readable without it.
    const { url } = await serveRuntime({ env: { API_TOKEN: 'api-token-0123456789' }, processing: false });
    const page = await fetch(`${url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).toContain('<div id="swagger-ui">');
    // No inline script: every <script> has a src.
    expect([...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)].every((m) => /\bsrc=/.test(m[1]!) && m[2]!.trim() === '')).toBe(true);

    const refs = references(html);
    expect(refs.length).toBeGreaterThanOrEqual(4);
    for (const ref of refs) {
      // Same origin: a path on this server, never a scheme or a protocol-relative URL.
      expect(ref).toMatch(/^\/[^/]/);
      const response = await fetch(`${url}${ref}`);
      expect(response.status, ref).toBe(200);
      const extension = /\.[a-z]+$/.exec(ref)?.[0] ?? '';
      expect(response.headers.get('content-type'), ref).toMatch(EXPECTED_TYPES[extension]!);
      expect((await response.arrayBuffer()).byteLength, ref).toBeGreaterThan(100);
    }

    // The start-up script points Swagger UI at our own document, and the document is there.
    const init = await (await fetch(`${url}/docs/init.js`)).text();
    expect(init).toContain("url: '/openapi.json'");
    expect(init).toContain('validatorUrl: null');
    const spec = (await (await fetch(`${url}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
      security: unknown;
      components: { securitySchemes: Record<string, unknown> };
    };
    expect(Object.keys(spec.paths)).toContain('/tasks/{id}');
    // "Authorize" in the UI: an optional bearer scheme, so "Try it out" can send API_TOKEN.
    expect(spec.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    expect(spec.security).toEqual([{}, { bearer: [] }]);

    const csp = parseCsp(page.headers.get('content-security-policy') ?? '');
    expect(csp.get('default-src')).toEqual(["'none'"]);
    expect(csp.get('script-src')).toEqual(["'self'"]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    for (const [directive, sources] of csp) {
      for (const source of sources) {
        // Keywords, 'self' and data: only: no host, no scheme that reaches another origin, no wildcard.
        expect(source, `${directive} ${source}`).toMatch(/^('none'|'self'|'unsafe-inline'|data:)$/);
      }
    }
    expect(csp.get('script-src')).not.toContain("'unsafe-inline'");
  });

  it('serves only the files it names from the package', async () => {
    const { url } = await serveRuntime({ processing: false });
    for (const path of ['/docs/package.json', '/docs/..%2Fpackage.json', '/docs/swagger-ui-bundle.js.map', '/docs/index.html']) {
      expect((await fetch(`${url}${path}`)).status, path).toBe(404);
    }
  });
});

type OpenApiDocument = {
  tags?: { name: string; description?: string }[];
  paths: Record<string, Record<string, { tags?: string[] }>>;
};

/**
 * Every operation of the document sits under exactly one tag, a tag the document declares
 * with a description, in apiTags' order; no declared tag is an empty group. Returns each
 * operation (`METHOD path`) with its tag.
 */
function expectEveryOperationTagged(doc: OpenApiDocument): Map<string, string> {
  const declared = (doc.tags ?? []).map((t) => t.name);
  expect(declared.length).toBeGreaterThan(0);
  for (const t of doc.tags ?? []) expect(t.description, t.name).toMatch(/\S/);
  expect(declared).toEqual(apiTags.map((t) => t.name).filter((name) => declared.includes(name)));
  const operations = Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ op: `${method.toUpperCase()} ${path}`, tags: op.tags ?? [] })));
  expect(operations.length).toBeGreaterThan(0);
  expect(operations.filter((o) => o.tags.length !== 1).map((o) => o.op), 'operations without exactly one tag').toEqual([]);
  expect(operations.filter((o) => !declared.includes(o.tags[0]!)).map((o) => `${o.op}: ${o.tags[0]}`), 'operations under an undeclared tag').toEqual([]);
  expect(declared.filter((name) => !operations.some((o) => o.tags[0] === name)), 'declared tags without an operation').toEqual([]);
  return new Map(operations.map((o) => [o.op, o.tags[0]!]));
}

describe('GET /openapi.json groups the operations by resource', () => {
  it('on the Node server: every operation under a declared tag (no /poll there, so no poll group)', async () => {
    const { url } = await serveRuntime({ processing: false });
    const tags = expectEveryOperationTagged((await (await fetch(`${url}/openapi.json`)).json()) as OpenApiDocument);
    expect(tags.get('POST /tasks')).toBe('tasks');
    expect(tags.get('DELETE /tasks/{id}')).toBe('tasks');
    expect(tags.get('POST /tasks/batch')).toBe('batch');
    expect(tags.get('POST /tasks/cancel')).toBe('bulk');
    expect(tags.get('POST /types/{type}/pause')).toBe('types');
    expect(tags.get('PUT /schedules/{name}')).toBe('schedules');
    expect(tags.get('POST /workflows/{name}/runs')).toBe('workflows');
    expect(tags.get('GET /workflows')).toBe('workflows');
    expect(tags.get('GET /runs/{id}')).toBe('runs');
    expect(tags.get('POST /runs/{id}/retry')).toBe('runs');
    expect(tags.get('POST /events')).toBe('events');
    expect(tags.get('GET /healthz')).toBe('system');
    expect([...tags.values()]).not.toContain('poll');
  });

  it('in the functions: the same, with /poll; between them every tag of apiTags is used', async () => {
    const functions = createFunctions({ platform: 'test', logSink: () => {} });
    // /openapi.json answers before the database: nothing listens on this loopback port.
    const response = await functions.api(new Request('https://x.test/openapi.json'), { DATABASE_URL: 'http://127.0.0.1:9', RATE_LIMIT_PER_MINUTE: '0', LOG_LEVEL: 'silent' });
    const tags = expectEveryOperationTagged((await response.json()) as OpenApiDocument);
    expect(tags.get('POST /poll')).toBe('poll');
    expect(new Set(tags.values())).toEqual(new Set(apiTags.map((t) => t.name)));
  });
});
