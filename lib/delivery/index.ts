/**
 * lib/delivery/: HTTP delivery, the built-in `http` task type. It owns the payload schema
 * (payload.ts), the SSRF guard (address.ts: a pure address classifier; guard.ts: the policy),
 * Standard Webhooks signing and verification (signing.ts, verify.ts), the per-host limit
 * (host-limit.ts), the handler (http-task.ts) and callbacks as follow-up tasks (callbacks.ts).
 *
 * May import: lib/config/config.ts, lib/foundation/errors.ts, lib/processing/{handlers,task-failure}.ts,
 * lib/tasks/model.ts, zod, and Web-standard APIs (fetch, Web Crypto) only. No `node:` modules
 * and no undici: the Node transport (undici `request()`, checking resolved addresses) is
 * injected from local/http-transport.ts.
 */
import type { HandlerRegistry } from '../processing/handlers.ts';
import { callbackFollowUps } from './callbacks.ts';
import { createHttpTask, type HttpTask, type HttpTaskConfig } from './http-task.ts';
import { webTransport, type HttpTransport } from './transport.ts';

export { createHttpTask } from './http-task.ts';
export { fetchTransport, decodeChunks, webTransport, type HttpAnswer, type HttpFetch, type HttpRequest, type HttpTransport } from './transport.ts';
export { HttpPayloadDoc } from './payload.ts';
export { verifyWebhook } from './verify.ts';

/** Registers the `http` type on `registry`: handler, submit-time payload check, callbacks. */
export function registerHttpTask(registry: HandlerRegistry, config: HttpTaskConfig, transport: HttpTransport = webTransport): HttpTask {
  const task = createHttpTask(config, transport);
  registry.register('http', task.handler, { validatePayload: task.validatePayload, followUps: callbackFollowUps });
  return task;
}
