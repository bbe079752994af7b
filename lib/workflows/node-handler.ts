import type { WorkflowHandler } from './serve.ts';

/**
 * `serve()`'s handler for node:http and Express: `http.createServer(toNodeHandler(handler))`
 * or `app.post('/wf', toNodeHandler(handler))`. The types below are the few members of
 * IncomingMessage and ServerResponse it uses, written out so that this file imports nothing
 * from Node: the `task-pool/workflow` bundle stays Web-only (test/bundles.test.ts).
 *
 * The signature covers the body's exact bytes, so the body must reach this handler unread:
 * mount it before `express.json()`, or give it the raw body (`express.raw()` or
 * `express.text()` leave `req.body` a Buffer or a string, which is used as it is).
 */

export interface NodeRequestLike {
  method?: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  /** Set by a body parser that ran first (Express). */
  body?: unknown;
  readableEnded?: boolean;
  on(event: 'data', listener: (chunk: Uint8Array | string) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export interface NodeResponseLike {
  writableFinished?: boolean;
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body?: string): unknown;
  on(event: 'close', listener: () => void): unknown;
}

export function toNodeHandler(handler: WorkflowHandler): (req: NodeRequestLike, res: NodeResponseLike) => void {
  return (req, res) => {
    const aborted = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) aborted.abort(new Error('the engine closed the connection before the answer'));
    });
    readBody(req)
      .then((body) => {
        if (body === null) return json(400, 'body_already_parsed', 'the body was parsed before the workflow handler (its signature covers the raw bytes): mount it before express.json(), or use express.raw()');
        const headers = new Headers();
        for (const [name, value] of Object.entries(req.headers)) {
          if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        const host = headers.get('host') ?? 'localhost';
        return handler(new Request(`http://${host}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body, signal: aborted.signal }));
      })
      .then(
        async (response) => {
          const text = await response.text();
          const headers: Record<string, string> = {};
          response.headers.forEach((value, name) => {
            headers[name] = value;
          });
          res.writeHead(response.status, headers);
          res.end(text);
        },
        (failure: unknown) => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ message: `the workflow handler failed: ${failure instanceof Error ? failure.message : String(failure)}`, code: 'sdk_error' }));
        },
      );
  };
}

/** The raw body as text; null when a body parser already turned it into something else. */
function readBody(req: NodeRequestLike): Promise<string | null> {
  if (typeof req.body === 'string') return Promise.resolve(req.body);
  if (req.body instanceof Uint8Array) return Promise.resolve(new TextDecoder().decode(req.body));
  if (req.body !== undefined && req.readableEnded) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    const encoder = new TextEncoder();
    req.on('data', (chunk) => chunks.push(typeof chunk === 'string' ? encoder.encode(chunk) : chunk));
    req.on('error', reject);
    req.on('end', () => {
      const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
      let at = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, at);
        at += chunk.byteLength;
      }
      resolve(new TextDecoder().decode(bytes));
    });
  });
}

function json(status: number, code: string, message: string): Response {
  return new Response(JSON.stringify({ message, code }), { status, headers: { 'content-type': 'application/json' } });
}
