import { describe, expect, it } from 'vitest';
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
