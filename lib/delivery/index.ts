/**
 * lib/delivery/: HTTP delivery, the built-in `http` task type. It owns the payload schema
 * (payload.ts), the SSRF guard (address.ts: a pure address classifier; guard.ts: the policy),
 * Standard Webhooks signing and verification (signing.ts, verify.ts), the per-host limit
 * (host-limit.ts), the handler (http-task.ts) and callbacks as follow-up tasks (callbacks.ts).
 *
 * May import: lib/config.ts, lib/errors.ts, lib/processing/{handlers,task-failure}.ts,
 * lib/tasks/model.ts, zod, and Web-standard APIs (fetch, Web Crypto) only. No `node:` modules
 * and no undici: the Node transport that checks resolved addresses is injected from
 * local/guarded-fetch.ts.
 */
import type { HandlerRegistry } from '../processing/handlers.ts';
import { callbackFollowUps } from './callbacks.ts';
import { createHttpTask, type HttpTask, type HttpTaskConfig, type HttpTransport } from './http-task.ts';

export { createHttpTask, type HttpTransport, type HttpFetch } from './http-task.ts';
export { HttpPayloadDoc } from './payload.ts';
export { verifyWebhook } from './verify.ts';

/** The platform's own fetch: it cannot show resolved addresses, so only literal hosts and `localhost` names are checked. */
export const webTransport: HttpTransport = {
  // Called through a closure: workerd throws "Illegal invocation" for a detached `fetch`.
  fetch: (url, init) => fetch(url, init),
  checksResolvedAddresses: false,
};

/** Registers the `http` type on `registry`: handler, submit-time payload check, callbacks. */
export function registerHttpTask(registry: HandlerRegistry, config: HttpTaskConfig, transport: HttpTransport = webTransport): HttpTask {
  const task = createHttpTask(config, transport);
  registry.register('http', task.handler, { validatePayload: task.validatePayload, followUps: callbackFollowUps });
  return task;
}
