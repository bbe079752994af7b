import type { Config } from '../config/config.ts';
import { AppError } from '../foundation/errors.ts';
import type { TaskHandler } from '../processing/handlers.ts';
import { isTaskFailure, TaskFailure } from '../processing/task-failure.ts';
import type { TaskJson } from '../tasks/model.ts';
import { DestinationRefused, guardFromConfig, type DestinationGuard } from './guard.ts';
import { HostLimiter } from './host-limit.ts';
import { httpPayloadSchema, parseHttpPayload, type HttpPayload } from './payload.ts';
import { webhookHeaders } from './signing.ts';
import type { HttpAnswer, HttpTransport } from './transport.ts';

/**
 * The `http` task type: one signed request per attempt, its outcome mapped onto the task's
 * state machine (lib/processing/process-task.ts does the writing):
 *
 *   2xx                          → completed; result {status, headers, body, duration_ms}
 *   408, 429, 5xx                → retried with backoff; `Retry-After` sets the next run_at
 *   network error, no response   → retried with backoff
 *   other 4xx                    → failed now (TaskFailure permanent), whatever attempts remain
 *   3xx beyond HTTP_FOLLOW_REDIRECTS → failed now: the redirect is the answer
 *   refused by the SSRF guard    → failed now, saying which address and why
 *
 * The request goes through an injected transport (transport.ts): on Node undici's `request()`
 * over connections that refuse private addresses after DNS (local/http-transport.ts), at the
 * edge the platform's fetch.
 */

export type HttpTaskConfig = Pick<
  Config,
  'timeoutSeconds' | 'httpAllowPrivateNetworks' | 'httpAllowedHosts' | 'httpMaxResponseBytes' | 'httpFollowRedirects' | 'httpMaxPerHost' | 'webhookSecrets'
>;

/** Response headers kept in `result.headers`: enough to correlate, not the whole set. */
const KEPT_HEADERS = ['content-type', 'content-length', 'location', 'etag', 'last-modified', 'date', 'retry-after', 'x-request-id'];
const ERROR_BODY_CHARS = 300;
/** The fetch standard's "request-body-header names": dropped with the body on a redirect to GET. */
const BODY_HEADERS = ['content-type', 'content-encoding', 'content-language', 'content-location'];

export interface HttpTask {
  handler: TaskHandler;
  /** Submit-time validation (400 naming the field). */
  validatePayload(payload: unknown): void;
  guard: DestinationGuard;
  limiter: HostLimiter;
}

export function createHttpTask(config: HttpTaskConfig, transport: HttpTransport): HttpTask {
  const guard = guardFromConfig(config);
  const limiter = new HostLimiter(config.httpMaxPerHost);
  const schema = httpPayloadSchema(config.timeoutSeconds);
  const parse = (payload: unknown) => parseHttpPayload(payload, schema, guard);

  const handler: TaskHandler = async (task, { signal, waitWithoutWorker }) => {
    let payload: HttpPayload;
    try {
      payload = parse(task.payload);
    } catch (error) {
      // Stored before a config change, or inserted without the API: it will not get better.
      throw new TaskFailure(error instanceof AppError ? error.message : String(error), { permanent: true });
    }
    const host = new URL(payload.url).hostname.toLowerCase();
    const release = limiter.tryAcquire(host) ?? (await waitWithoutWorker(limiter.acquire(host, signal)));
    try {
      return await deliver(task, payload, signal);
    } finally {
      release();
    }
  };

  async function deliver(task: TaskJson, payload: HttpPayload, taskSignal: AbortSignal): Promise<unknown> {
    const body = payload.body === undefined ? undefined : typeof payload.body === 'string' ? payload.body : JSON.stringify(payload.body);
    const headers: Record<string, string> = { 'user-agent': 'task-pool', ...lowerCaseKeys(payload.headers) };
    if (body !== undefined && typeof payload.body !== 'string' && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
    Object.assign(headers, await webhookHeaders(config.webhookSecrets, task.id, body ?? '', transport.hmacSha256));

    const started = Date.now();
    const timeoutMs = payload.timeout_seconds * 1000;
    const controller = new AbortController();
    const onTaskAbort = () => controller.abort(taskSignal.reason);
    if (taskSignal.aborted) onTaskAbort();
    taskSignal.addEventListener('abort', onTaskAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error('timeout'));
    }, timeoutMs);

    let url = payload.url;
    let method: string = payload.method;
    let sentBody = body;
    try {
      for (let hop = 0; ; hop++) {
        const target = new URL(url);
        const refusal = guard.checkHost(target.hostname, !transport.checksResolvedAddresses);
        if (refusal) throw new TaskFailure(refusal, { permanent: true });
        let response: HttpAnswer;
        try {
          response = await transport.send({ url, method, headers, body: sentBody, signal: controller.signal });
        } catch (error) {
          throw requestError(error, target, timedOut, taskSignal, payload.timeout_seconds);
        }
        const status = response.status;
        if (status >= 300 && status < 400) {
          const location = response.header('location');
          await response.discard();
          if (location === null || hop >= config.httpFollowRedirects) {
            const where = location === null ? '' : ` to ${location}`;
            throw new TaskFailure(`HTTP ${status} redirect${where} not followed (HTTP_FOLLOW_REDIRECTS=${config.httpFollowRedirects})`, { permanent: true });
          }
          const next = new URL(location, url);
          if (next.protocol !== 'http:' && next.protocol !== 'https:') {
            throw new TaskFailure(`HTTP ${status} redirect to a ${next.protocol} URL refused`, { permanent: true });
          }
          // As fetch does: 303 (and 301/302 after a POST) continue as GET without a body and
          // without the headers that described it; credentials are not carried to another
          // origin. The signature covered the body that is gone: signed again over the empty
          // body this request carries, so the receiver can verify what it gets.
          if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
            method = 'GET';
            sentBody = undefined;
            for (const name of BODY_HEADERS) delete headers[name];
            Object.assign(headers, await webhookHeaders(config.webhookSecrets, task.id, '', transport.hmacSha256));
          }
          if (next.origin !== target.origin) {
            delete headers['authorization'];
            delete headers['cookie'];
          }
          url = next.href;
          continue;
        }
        const read = await response.read(config.httpMaxResponseBytes);
        const duration = Date.now() - started;
        if (status >= 200 && status < 300) {
          return {
            status,
            headers: keptHeaders(response),
            body: decodeBody(response.header('content-type'), read),
            ...(read.truncated ? { body_truncated: true } : {}),
            ...(hop > 0 ? { url } : {}),
            duration_ms: duration,
          };
        }
        const start = read.text.slice(0, ERROR_BODY_CHARS);
        const message = `HTTP ${status}${response.statusText ? ` ${response.statusText}` : ''}${start ? `: ${start}` : ''}`;
        if (status === 408 || status === 429 || status >= 500) {
          throw new TaskFailure(message, { retryAt: retryAfter(response.header('retry-after')) });
        }
        throw new TaskFailure(message, { permanent: true });
      }
    } catch (error) {
      if (timedOut && !isTaskFailure(error)) throw new Error(`no response from ${new URL(url).host} within ${payload.timeout_seconds}s`);
      throw error;
    } finally {
      clearTimeout(timer);
      taskSignal.removeEventListener('abort', onTaskAbort);
    }
  }

  return { handler, validatePayload: (payload) => void parse(payload), guard, limiter };
}

/** What a failed fetch means for the task: refused (permanent), timed out or a network error (retried). */
function requestError(error: unknown, target: URL, timedOut: boolean, taskSignal: AbortSignal, timeoutSeconds: number): unknown {
  if (taskSignal.aborted) return taskSignal.reason;
  if (timedOut) return new Error(`no response from ${target.host} within ${timeoutSeconds}s`);
  const refused = findCause(error, (e) => e instanceof DestinationRefused || (e as { code?: unknown }).code === 'ERR_DESTINATION_REFUSED');
  if (refused) return new TaskFailure((refused as Error).message, { permanent: true });
  const cause = findCause(error, (e) => e !== error) ?? error;
  const detail = cause instanceof Error ? `${(cause as { code?: string }).code ? `${(cause as { code?: string }).code}: ` : ''}${cause.message}` : String(cause);
  return new Error(`request to ${target.host} failed: ${detail}`, { cause: error });
}

function findCause(error: unknown, match: (e: object) => boolean): object | undefined {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (match(e)) return e;
  }
  return undefined;
}

/** `Retry-After`: delay-seconds or an HTTP-date → epoch ms; anything else → undefined. */
export function retryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return now + Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : date;
}

function decodeBody(contentType: string | null, read: { text: string; truncated: boolean }): unknown {
  if (!read.truncated && contentType && /^application\/([^;]+\+)?json\b/i.test(contentType.trim()) && read.text !== '') {
    try {
      return JSON.parse(read.text);
    } catch {
      // not JSON after all: kept as text
    }
  }
  return read.text;
}

function keptHeaders(response: HttpAnswer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = response.header(name);
    if (value !== null) out[name] = value;
  }
  return out;
}

function lowerCaseKeys(record: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) out[key.toLowerCase()] = value;
  return out;
}
