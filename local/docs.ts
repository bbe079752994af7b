import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Hono } from 'hono';

/**
 * `GET /docs`: Swagger UI (the `swagger-ui-dist` package, version 5) rendering `/openapi.json`,
 * every asset served by this server from the installed package: no CDN, works offline.
 *
 * Why Swagger UI and why here: Scalar's packages declare node >= 22 (this project runs on
 * Node 20), and swagger-ui-dist ships ready-built files. Its bundle is 1.4 MB, so it is read
 * from node_modules at run time by the Node server (local/) rather than built into lib/ or
 * the function bundles (the Workers bundle has a budget: DESIGN.md's, checked by
 * test/bundles.test.ts).
 *
 * Strict CSP: the page has no inline script (the start-up code is `/docs/init.js`), every
 * fetch, script, style, font and image is same-origin. Two allowances, both same-origin:
 * `data:` images (Swagger UI's icons are data-URI SVGs in its CSS) and inline style
 * attributes/elements, which Swagger UI 5 still applies at run time
 * (swagger-api/swagger-ui issue 10655); neither admits another origin.
 */

export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The package files /docs serves, by the name under /docs/, with their content type. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>task-pool API</title>
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// validatorUrl: null, or Swagger UI asks validator.swagger.io about the document.
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  validatorUrl: null,
  deepLinking: true,
});
`;

function packageDir(): string {
  return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
}

/** Mounts `/docs` and its assets. Files are read on first request and kept in memory. */
export function registerDocs(app: Pick<Hono, 'get'>): void {
  const dir = packageDir();
  const cache = new Map<string, Promise<Buffer>>();
  const security = { 'content-security-policy': DOCS_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };

  app.get('/docs', (c) => c.body(PAGE, 200, { ...security, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }));
  app.get('/docs/init.js', (c) => c.body(INIT, 200, { ...security, 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' }));
  for (const [name, contentType] of Object.entries(ASSETS)) {
    app.get(`/docs/${name}`, async (c) => {
      let file = cache.get(name);
      if (!file) cache.set(name, (file = readFile(join(dir, name))));
      const body = await file;
      // The package version is pinned by the lock file; a day of caching is safe across restarts.
      return c.body(new Uint8Array(body), 200, { ...security, 'content-type': contentType, 'cache-control': 'public, max-age=86400' });
    });
  }
}
