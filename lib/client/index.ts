import { hc, type InferResponseType } from 'hono/client';
import type { z } from 'zod';
import type { TaskRoutes } from '../api/routes/tasks.ts';
import type { TypeRoutes } from '../api/routes/types.ts';
import type { BatchResultSchema, BatchTaskItem, SubmittedTaskSchema, SubmitTaskBody } from '../api/schemas.ts';
import type { PutScheduleBody, ScheduleRoutes } from '../schedules/routes.ts';
import type { WorkflowRoutes } from '../workflows/routes.ts';
import type { PutWorkflowBody, SendEventBody, StartRunBody } from '../workflows/schemas.ts';

/**
 * The typed client of the task API: `import { createClient } from 'task-pool/client'`.
 *
 * Built on hono/client from the server's own route types (`TaskRoutes`, `TypeRoutes`,
 * `ScheduleRoutes`: the return types of registerTaskRoutes, registerTypeRoutes and
 * registerScheduleRoutes): a changed path, query or response shape is a type error here, not
 * a surprise at run time. The routes that read their body themselves (limits, 415 rules;
 * lib/api/openapi.ts's registerWithOwnBody) are the exception, as hono cannot infer them:
 * `submit`, `submitBatch` and `schedules.put` are typed by hand from the same zod schemas
 * (`SubmitTaskBody`, `BatchTaskItem`, `PutScheduleBody`) and the JSON types inferred here.
 *
 * The workflow routes are the same, from `WorkflowRoutes` (lib/workflows/routes.ts); starting
 * a run and sending an event read their own bodies and are typed by hand like `submit`.
 *
 * Only `fetch` is used: runs on Node, Deno, Bun, browsers and workers. Imports from the
 * rest of lib/ are types only.
 */

type Api = ReturnType<typeof hc<TaskRoutes>>;
type TypesApi = ReturnType<typeof hc<TypeRoutes>>;
type SchedulesApi = ReturnType<typeof hc<ScheduleRoutes>>;
/** A task as the API answers it, inferred from `GET /tasks/:id`'s 200 response. */
export type TaskJson = InferResponseType<Api['tasks'][':id']['$get'], 200>;
/** One page of `GET /tasks`, inferred from its 200 response. */
export type TaskList = InferResponseType<Api['tasks']['$get'], 200>;
export type TaskStatus = TaskJson['status'];
/** `GET /tasks/:id/attempts`: every attempt of a task, oldest first, inferred from its 200 response. */
export type AttemptList = InferResponseType<Api['tasks'][':id']['attempts']['$get'], 200>;
export type AttemptJson = AttemptList['attempts'][number];
/** The body of `POST /tasks` (typed by hand: see above). */
export type SubmitTask = SubmitTaskBody;
/** The answer of `POST /tasks`: the task, and what a `debounce` or `throttle` did. */
export type SubmittedTask = TaskJson & Pick<z.infer<typeof SubmittedTaskSchema>, 'debounced' | 'throttled'>;
/** What `submit` returns. */
export interface SubmitResult {
  task: TaskJson;
  /** An Idempotency-Key matched an earlier identical request. */
  replayed: boolean;
  /** Present when the task asked for `debounce`: true when it replaced the pending task of its key. */
  debounced?: boolean;
  /** Present when the task asked for `throttle`: true when the task of its key held it back. */
  throttled?: boolean;
}
/** `flow_control` of a task, a batch item, a schedule's task or a run (docs/flow-control.md). */
export type FlowControl = NonNullable<SubmitTaskBody['flow_control']>;
/** One item of `POST /tasks/batch`: the body of `POST /tasks` and an optional `idempotency_key`. */
export type BatchTask = z.infer<typeof BatchTaskItem>;
/** The answer of `POST /tasks/batch`: the tasks in request order, each marked `replayed`. */
export type BatchResult = z.infer<typeof BatchResultSchema>;
/** `GET /types`: per type, counts by status, paused or not, the oldest pending task's age. */
export type TaskTypeList = InferResponseType<TypesApi['types']['$get'], 200>;
/** The answer of `POST /types/:type/pause` and `/resume`. */
export type TaskTypePause = InferResponseType<TypesApi['types'][':type']['pause']['$post'], 200>;
/** A schedule as the API answers it, inferred from `GET /schedules/:name`'s 200 response. */
export type ScheduleJson = InferResponseType<SchedulesApi['schedules'][':name']['$get'], 200>;
/** One page of `GET /schedules`, by name. */
export type ScheduleList = InferResponseType<SchedulesApi['schedules']['$get'], 200>;
/** The body of `PUT /schedules/:name` (typed by hand: see above); `task` is a `POST /tasks` body without `run_at`. */
export type PutSchedule = Omit<z.input<typeof PutScheduleBody>, 'task'> & { task: Omit<SubmitTask, 'run_at'> };

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
/** `GET /workflows/:name`: a workflow with its runs by status, and `remote` for one served by an app. */
export type WorkflowJson = InferResponseType<WorkflowApi['workflows'][':name']['$get'], 200>;
/** The body of `PUT /workflows/:name` (typed by hand: the route reads its own body); defaults may be left out. */
export type PutWorkflow = Partial<PutWorkflowBody> & { url: string };
/** `DELETE /workflows/:name`. */
export type DeletedWorkflow = InferResponseType<WorkflowApi['workflows'][':name']['$delete'], 200>;
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
  const typesApi: TypesApi = hc<TypeRoutes>(baseUrl, { headers, fetch: doFetch });
  const schedulesApi: SchedulesApi = hc<ScheduleRoutes>(baseUrl, { headers, fetch: doFetch });
  const workflowApi: WorkflowApi = hc<WorkflowRoutes>(baseUrl, { headers, fetch: doFetch });
  const root = baseUrl.replace(/\/+$/, '');
  /** A path segment: hono/client puts params in the path as they are (a type name may hold `/`). */
  const segment = (value: string) => encodeURIComponent(value);
  /** A request with a JSON body, for the routes hono/client cannot type (see above). */
  const sendJson = (method: string, path: string, body: unknown, extra: Record<string, string> = {}) =>
    doFetch(`${root}${path}`, { method, headers: { ...headers, 'content-type': 'application/json', ...extra }, body: JSON.stringify(body) });

  /** `GET /tasks/:id`; with `wait` (seconds, at most 60) once it is final or the time is up. */
  const get = async (id: string, options: { wait?: number } = {}): Promise<TaskJson> => {
    const query = options.wait === undefined ? {} : { wait: String(options.wait) };
    return read<TaskJson>(await api.tasks[':id'].$get({ param: { id: segment(id) }, query }));
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

    /**
     * `POST /tasks`. `replayed` is true when an Idempotency-Key matched an earlier request;
     * `debounced` / `throttled` are set when the task asked for `debounce` / `throttle`: true
     * when the pending task of its key (`task`) took it in (docs/debounce.md).
     */
    async submit(task: SubmitTask, options: { idempotencyKey?: string } = {}): Promise<SubmitResult> {
      const response = await sendJson('POST', '/tasks', task, options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {});
      const { debounced, throttled, ...stored } = await read<SubmittedTask>(response);
      const result: SubmitResult = { task: stored, replayed: response.headers.get('idempotent-replayed') === 'true' };
      if (debounced !== undefined) result.debounced = debounced;
      if (throttled !== undefined) result.throttled = throttled;
      return result;
    },

    /**
     * `POST /tasks/batch`: up to MAX_BATCH_TASKS tasks stored in one transaction, or none (a
     * 400 names the first bad item, `tasks[3]: …`).
     */
    async submitBatch(tasks: BatchTask[]): Promise<BatchResult> {
      return read<BatchResult>(await sendJson('POST', '/tasks/batch', { tasks }));
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
      return read<TaskJson>(await api.tasks[':id'].cancel.$post({ param: { id: segment(id) } }));
    },

    async retry(id: string): Promise<TaskJson> {
      return read<TaskJson>(await api.tasks[':id'].retry.$post({ param: { id: segment(id) } }));
    },

    /**
     * `GET /tasks/:id/attempts`: each attempt's worker, start, end, outcome and error, oldest
     * first (the newest TASK_ATTEMPTS_KEPT that did not complete, then the running or completed one).
     */
    async attempts(id: string): Promise<AttemptList> {
      return read<AttemptList>(await api.tasks[':id'].attempts.$get({ param: { id: segment(id) } }));
    },

    wait,

    /**
     * `POST /workflows/:name/runs`. `replayed` is true when the idempotency key matched an
     * earlier request (the run is that one).
     */
    async startRun(workflow: string, start: StartRun = {}, options: { idempotencyKey?: string } = {}): Promise<{ run: RunJson; replayed: boolean }> {
      const response = await sendJson('POST', `/workflows/${segment(workflow)}/runs`, start, options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {});
      return { run: await read<RunJson>(response), replayed: response.status === 200 };
    },

    /** `GET /runs/:id`: the run with its steps and what it waits for. */
    async getRun(id: string): Promise<RunDetail> {
      return read<RunDetail>(await workflowApi.runs[':id'].$get({ param: { id: segment(id) } }));
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
      return read<RunJson>(await workflowApi.runs[':id'].cancel.$post({ param: { id: segment(id) } }));
    },

    /** `POST /runs/:id/retry`: resumes a failed or cancelled run at the step that failed. */
    async retryRun(id: string): Promise<RunJson> {
      return read<RunJson>(await workflowApi.runs[':id'].retry.$post({ param: { id: segment(id) } }));
    },

    /**
     * The run once it has ended, or as it is when `timeoutSeconds` have passed (check
     * `isFinal`). A run is a task: this holds on `GET /tasks/:id?wait=`, then reads the run.
     */
    async waitRun(id: string, timeoutSeconds = MAX_WAIT_SECONDS): Promise<RunDetail> {
      await wait(id, timeoutSeconds);
      return read<RunDetail>(await workflowApi.runs[':id'].$get({ param: { id: segment(id) } }));
    },

    /** `POST /events`: `resumed` counts the runs waiting for it that were made due. */
    async sendEvent(event: SendEvent): Promise<EventResult> {
      return read<EventResult>(await sendJson('POST', '/events', event));
    },

    /** `GET /workflows`: the workflows registered on the server, with their runs by status. */
    async listWorkflows(): Promise<WorkflowList> {
      return read<WorkflowList>(await workflowApi.workflows.$get());
    },

    /** `GET /workflows/:name`: one workflow, in process or served by an app (`remote`). */
    async getWorkflow(name: string): Promise<WorkflowJson> {
      return read<WorkflowJson>(await workflowApi.workflows[':name'].$get({ param: { name: segment(name) } }));
    },

    /**
     * `PUT /workflows/:name`: registers a workflow served by your app at `url` (`created`), or
     * replaces its registration (docs/workflow-protocol.md). The secret is never shown back.
     */
    async putWorkflow(name: string, workflow: PutWorkflow): Promise<{ workflow: WorkflowJson; created: boolean }> {
      const response = await sendJson('PUT', `/workflows/${segment(name)}`, workflow);
      return { workflow: await read<WorkflowJson>(response), created: response.status === 201 };
    },

    /** `DELETE /workflows/:name`: 409 while it has active runs, unless `force` (they are cancelled). */
    async deleteWorkflow(name: string, options: { force?: boolean } = {}): Promise<DeletedWorkflow> {
      return read<DeletedWorkflow>(await workflowApi.workflows[':name'].$delete({ param: { name: segment(name) }, query: { force: options.force ? 'true' : undefined } }));
    },

    /** Task types: counts, pause and resume (a paused type is claimed nowhere; submits still go in). */
    types: {
      async list(): Promise<TaskTypeList> {
        return read<TaskTypeList>(await typesApi.types.$get());
      },
      async pause(type: string): Promise<TaskTypePause> {
        return read<TaskTypePause>(await typesApi.types[':type'].pause.$post({ param: { type: segment(type) } }));
      },
      async resume(type: string): Promise<TaskTypePause> {
        return read<TaskTypePause>(await typesApi.types[':type'].resume.$post({ param: { type: segment(type) } }));
      },
    },

    /** Cron schedules, by name. */
    schedules: {
      /** `GET /schedules`, by name; pass `next_cursor` back as `cursor` for the next page. */
      async list(query: { limit?: number; cursor?: string } = {}): Promise<ScheduleList> {
        return read<ScheduleList>(
          await schedulesApi.schedules.$get({ query: { cursor: query.cursor, limit: query.limit === undefined ? undefined : String(query.limit) } }),
        );
      },
      async get(name: string): Promise<ScheduleJson> {
        return read<ScheduleJson>(await schedulesApi.schedules[':name'].$get({ param: { name: segment(name) } }));
      },
      /** `PUT /schedules/:name`: creates (`created: true`) or replaces it. */
      async put(name: string, schedule: PutSchedule): Promise<{ schedule: ScheduleJson; created: boolean }> {
        const response = await sendJson('PUT', `/schedules/${segment(name)}`, schedule);
        return { schedule: await read<ScheduleJson>(response), created: response.status === 201 };
      },
      async delete(name: string): Promise<void> {
        await read<undefined>(await schedulesApi.schedules[':name'].$delete({ param: { name: segment(name) } }));
      },
      async pause(name: string): Promise<ScheduleJson> {
        return read<ScheduleJson>(await schedulesApi.schedules[':name'].pause.$post({ param: { name: segment(name) } }));
      },
      async resume(name: string): Promise<ScheduleJson> {
        return read<ScheduleJson>(await schedulesApi.schedules[':name'].resume.$post({ param: { name: segment(name) } }));
      },
      /** Creates one task from the schedule's template now. */
      async trigger(name: string): Promise<TaskJson> {
        return read<TaskJson>(await schedulesApi.schedules[':name'].trigger.$post({ param: { name: segment(name) } }));
      },
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
