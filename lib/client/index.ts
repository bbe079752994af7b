import { hc, type InferResponseType } from 'hono/client';
import type { TaskRoutes } from '../api/routes/tasks.ts';
import type { SubmitTaskBody } from '../api/schemas.ts';
import type { WorkflowRoutes } from '../workflows/routes.ts';
import type { SendEventBody, StartRunBody } from '../workflows/schemas.ts';

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
 * The workflow routes are the same, from `WorkflowRoutes` (lib/workflows/routes.ts); starting
 * a run and sending an event read their own bodies and are typed by hand like `submit`.
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

type WorkflowApi = ReturnType<typeof hc<WorkflowRoutes>>;
/** A run with its steps and what it waits for, inferred from `GET /runs/:id`'s 200 response. */
export type RunDetail = InferResponseType<WorkflowApi['runs'][':id']['$get'], 200>;
/** One page of `GET /runs`, inferred from its 200 response. */
export type RunList = InferResponseType<WorkflowApi['runs']['$get'], 200>;
/** A run as lists, start, cancel and retry answer it (no `steps`). */
export type RunJson = RunList['runs'][number];
export type StepJson = RunDetail['steps'][number];
/** `GET /workflows`, inferred from its 200 response. */
export type WorkflowList = InferResponseType<WorkflowApi['workflows']['$get'], 200>;
/** The body of `POST /workflows/:name/runs` less its idempotency key (an option of `startRun`). */
export type StartRun = Omit<StartRunBody, 'idempotency_key'>;
/** The body of `POST /events`. */
export type SendEvent = SendEventBody;
export type EventResult = { event: string; key: string | null; resumed: number };

export interface ListRunsQuery {
  workflow?: string;
  status?: TaskStatus;
  limit?: number;
  cursor?: string;
}

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
  const workflowApi: WorkflowApi = hc<WorkflowRoutes>(baseUrl, { headers, fetch: doFetch });
  const root = baseUrl.replace(/\/+$/, '');
  const postJson = (path: string, body: unknown, extra: Record<string, string> = {}) =>
    doFetch(`${root}${path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', ...extra }, body: JSON.stringify(body) });

  /** `GET /tasks/:id`; with `wait` (seconds, at most 60) once it is final or the time is up. */
  const get = async (id: string, options: { wait?: number } = {}): Promise<TaskJson> => {
    const query = options.wait === undefined ? {} : { wait: String(options.wait) };
    return read<TaskJson>(await api.tasks[':id'].$get({ param: { id }, query }));
  };

  /**
   * The task once final, or as it is when `timeoutSeconds` have passed (check `isFinal`).
   * Longer than the server's 60-second hold: asks again with what is left.
   */
  const wait = async (id: string, timeoutSeconds = MAX_WAIT_SECONDS): Promise<TaskJson> => {
    const deadline = Date.now() + timeoutSeconds * 1000;
    for (;;) {
      const left = Math.max(0, (deadline - Date.now()) / 1000);
      const task = await get(id, { wait: Math.min(MAX_WAIT_SECONDS, Math.round(left * 1000) / 1000) });
      if (isFinal(task) || Date.now() >= deadline) return task;
    }
  };

  return {
    /** The raw hono/client, typed from the server's task routes, for anything not wrapped below. */
    api,
    get,

    /** The raw hono/client for the workflow routes (lib/workflows/routes.ts). */
    workflowApi,

    /** `POST /tasks`. `replayed` is true when an Idempotency-Key matched an earlier request. */
    async submit(task: SubmitTask, options: { idempotencyKey?: string } = {}): Promise<{ task: TaskJson; replayed: boolean }> {
      const response = await postJson('/tasks', task, options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {});
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

    wait,

    /**
     * `POST /workflows/:name/runs`. `replayed` is true when the idempotency key matched an
     * earlier request (the run is that one).
     */
    async startRun(workflow: string, start: StartRun = {}, options: { idempotencyKey?: string } = {}): Promise<{ run: RunJson; replayed: boolean }> {
      const response = await postJson(`/workflows/${encodeURIComponent(workflow)}/runs`, start, options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {});
      return { run: await read<RunJson>(response), replayed: response.status === 200 };
    },

    /** `GET /runs/:id`: the run with its steps and what it waits for. */
    async getRun(id: string): Promise<RunDetail> {
      return read<RunDetail>(await workflowApi.runs[':id'].$get({ param: { id } }));
    },

    /** `GET /runs`, newest first; pass `next_cursor` back as `cursor` for the next page. */
    async listRuns(query: ListRunsQuery = {}): Promise<RunList> {
      return read<RunList>(
        await workflowApi.runs.$get({
          query: { workflow: query.workflow, status: query.status, cursor: query.cursor, limit: query.limit === undefined ? undefined : String(query.limit) },
        }),
      );
    },

    /** `POST /runs/:id/cancel`: the run and the child runs it started that have not ended. */
    async cancelRun(id: string): Promise<RunJson> {
      return read<RunJson>(await workflowApi.runs[':id'].cancel.$post({ param: { id } }));
    },

    /** `POST /runs/:id/retry`: resumes a failed or cancelled run at the step that failed. */
    async retryRun(id: string): Promise<RunJson> {
      return read<RunJson>(await workflowApi.runs[':id'].retry.$post({ param: { id } }));
    },

    /**
     * The run once it has ended, or as it is when `timeoutSeconds` have passed (check
     * `isFinal`). A run is a task: this holds on `GET /tasks/:id?wait=`, then reads the run.
     */
    async waitRun(id: string, timeoutSeconds = MAX_WAIT_SECONDS): Promise<RunDetail> {
      await wait(id, timeoutSeconds);
      return read<RunDetail>(await workflowApi.runs[':id'].$get({ param: { id } }));
    },

    /** `POST /events`: `resumed` counts the runs waiting for it that were made due. */
    async sendEvent(event: SendEvent): Promise<EventResult> {
      return read<EventResult>(await postJson('/events', event));
    },

    /** `GET /workflows`: the workflows registered on the server, with their runs by status. */
    async listWorkflows(): Promise<WorkflowList> {
      return read<WorkflowList>(await workflowApi.workflows.$get());
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
