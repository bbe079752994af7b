import { hc, type InferResponseType } from 'hono/client';
import type { TaskRoutes } from '../api/routes/tasks.ts';
import type { SubmitTaskBody } from '../api/schemas.ts';

/**
 * The typed client of the task API: `import { createClient } from 'task-pool/client'`.
 *
 * Built on hono/client from the server's own route types (`TaskRoutes`, the return type of
 * lib/api/routes/tasks.ts's registerTaskRoutes): a changed path, query or response shape is a
 * type error here, not a surprise at run time. `POST /tasks` is the exception: it reads its
 * body itself (limits, 415 rules; lib/api/openapi.ts's registerWithOwnBody), so hono cannot
 * infer it; `submit` is typed by hand from the same zod schema (`SubmitTaskBody`) and the
 * task's JSON type.
 *
 * Only `fetch` is used: runs on Node, Deno, Bun, browsers and workers. Imports from the
 * rest of lib/ are types only.
 */

type Api = ReturnType<typeof hc<TaskRoutes>>;
/** A task as the API answers it, inferred from `GET /tasks/:id`'s 200 response. */
export type TaskJson = InferResponseType<Api['tasks'][':id']['$get'], 200>;
/** One page of `GET /tasks`, inferred from its 200 response. */
export type TaskList = InferResponseType<Api['tasks']['$get'], 200>;
export type TaskStatus = TaskJson['status'];
/** The body of `POST /tasks` (typed by hand: see above). */
export type SubmitTask = SubmitTaskBody;

export interface ListQuery {
  status?: TaskStatus;
  type?: string;
  limit?: number;
  cursor?: string;
}

export interface ClientOptions {
  /** Sent as `Authorization: Bearer <token>` (the server's API_TOKEN). */
  token?: string;
  /** Another fetch (tests, proxies, retries). */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
}

/** A non-2xx answer: the server's `{"message","code"}` with the status and `Retry-After`. */
export class TaskPoolError extends Error {
  readonly status: number;
  readonly code: string;
  /** Seconds, from `Retry-After` on a 429. */
  readonly retryAfter: number | undefined;
  constructor(status: number, code: string, message: string, retryAfter?: number) {
    super(message);
    this.name = 'TaskPoolError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** The longest single hold the server allows (`?wait=`, lib/api/schemas.ts). */
export const MAX_WAIT_SECONDS = 60;

const FINAL: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

export function isFinal(task: Pick<TaskJson, 'status'>): boolean {
  return FINAL.has(task.status);
}

export function createClient(baseUrl: string, options: ClientOptions = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const api: Api = hc<TaskRoutes>(baseUrl, { headers, fetch: doFetch });
  const root = baseUrl.replace(/\/+$/, '');

  /** `GET /tasks/:id`; with `wait` (seconds, at most 60) once it is final or the time is up. */
  const get = async (id: string, options: { wait?: number } = {}): Promise<TaskJson> => {
    const query = options.wait === undefined ? {} : { wait: String(options.wait) };
    return read<TaskJson>(await api.tasks[':id'].$get({ param: { id }, query }));
  };

  return {
    /** The raw hono/client, typed from the server's routes, for anything not wrapped below. */
    api,
    get,

    /** `POST /tasks`. `replayed` is true when an Idempotency-Key matched an earlier request. */
    async submit(task: SubmitTask, options: { idempotencyKey?: string } = {}): Promise<{ task: TaskJson; replayed: boolean }> {
      const response = await doFetch(`${root}/tasks`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', ...(options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {}) },
        body: JSON.stringify(task),
      });
      return { task: await read<TaskJson>(response), replayed: response.status === 200 };
    },

    /** `GET /tasks`, newest first; pass `next_cursor` back as `cursor` for the next page. */
    async list(query: ListQuery = {}): Promise<TaskList> {
      return read<TaskList>(
        await api.tasks.$get({
          query: { status: query.status, type: query.type, cursor: query.cursor, limit: query.limit === undefined ? undefined : String(query.limit) },
        }),
      );
    },

    async cancel(id: string): Promise<TaskJson> {
      return read<TaskJson>(await api.tasks[':id'].cancel.$post({ param: { id } }));
    },

    async retry(id: string): Promise<TaskJson> {
      return read<TaskJson>(await api.tasks[':id'].retry.$post({ param: { id } }));
    },

    /**
     * The task once final, or as it is when `timeoutSeconds` have passed (check `isFinal`).
     * Longer than the server's 60-second hold: asks again with what is left.
     */
    async wait(id: string, timeoutSeconds = MAX_WAIT_SECONDS): Promise<TaskJson> {
      const deadline = Date.now() + timeoutSeconds * 1000;
      for (;;) {
        const left = Math.max(0, (deadline - Date.now()) / 1000);
        const task = await get(id, { wait: Math.min(MAX_WAIT_SECONDS, Math.round(left * 1000) / 1000) });
        if (isFinal(task) || Date.now() >= deadline) return task;
      }
    },
  };
}

export type TaskPoolClient = ReturnType<typeof createClient>;

async function read<T>(response: Response): Promise<T> {
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.ok) return body as T;
  const error = (body ?? {}) as { message?: unknown; code?: unknown };
  const retryAfter = response.headers.get('retry-after');
  throw new TaskPoolError(
    response.status,
    typeof error.code === 'string' ? error.code : 'http_error',
    typeof error.message === 'string' ? error.message : `HTTP ${response.status}`,
    retryAfter === null || Number.isNaN(Number(retryAfter)) ? undefined : Number(retryAfter),
  );
}
