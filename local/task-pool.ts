import type { OpenAPIHono } from '../lib/api/openapi-hono.ts';
import type { EnvRecord } from '../lib/config/config.ts';
import type { TaskHandler } from '../lib/processing/handlers.ts';
import { inProcessApi, type InProcessApi } from '../lib/wiring/in-process.ts';
import type { Workflow } from '../lib/workflows/define.ts';
import { createRuntime } from './runtime.ts';

/**
 * `import { createTaskPool } from 'task-pool'`: task-pool inside a Node app (docs/package.md).
 * The same runtime as `task-pool serve` (local/runtime.ts: the database migrated at start, the
 * API, the dashboard, the pool and poller), without its HTTP server and signal handlers: the
 * app serves `fetch` or mounts `app` where it likes, and calls `stop()` when it shuts down.
 */
export interface TaskPoolOptions {
  /**
   * The libSQL database: a URL (`file:tasks.db`, `libsql://…`, `http://127.0.0.1:8080`) or a
   * URL with its token. Default: DATABASE_URL from `env`, else `tasks.db`.
   */
  database?: string | { url: string; authToken?: string };
  /** Task types beyond the built-in `simulate` and `http`: type → async (task, ctx) => result. */
  handlers?: Record<string, TaskHandler>;
  /** Workflows (`defineWorkflow(...)`), run as tasks of type `workflow:<name>`. */
  workflows?: readonly Workflow[];
  /** Configuration variables (docs/configuration.md). Default: `process.env`. */
  env?: EnvRecord;
}

export interface TaskPool extends InProcessApi {
  /** The HTTP API (every route of `task-pool serve`), a Hono app: `parent.route('/queue', pool.app)`. */
  app: OpenAPIHono;
  /** The API as a fetch handler: `serve({ fetch: pool.fetch })`. */
  fetch(request: Request, env?: object): Promise<Response>;
  /** Starts claiming and processing tasks (TASK_WORKERS at a time). */
  start(): void;
  /**
   * Stops claiming, lets running handlers finish within SHUTDOWN_TIMEOUT_SECONDS, releases the
   * rest back to pending and closes the database. Stop serving `fetch` first.
   */
  stop(): Promise<void>;
}

export async function createTaskPool(options: TaskPoolOptions = {}): Promise<TaskPool> {
  const env: EnvRecord = { ...(options.env ?? process.env) };
  if (options.database !== undefined) {
    const { url, authToken } = typeof options.database === 'string' ? { url: options.database, authToken: undefined } : options.database;
    env.DATABASE_URL = url;
    env.DATABASE_AUTH_TOKEN = authToken;
  }
  const runtime = await createRuntime({ env, handlers: options.handlers, workflows: options.workflows });
  return {
    ...inProcessApi(runtime),
    app: runtime.app,
    fetch: async (request, platformEnv) => runtime.app.fetch(request, platformEnv),
    start: () => runtime.start(),
    stop: () => runtime.shutdown(),
  };
}

// The rest of the package's main entry, which Web platforms get without createTaskPool.
export * from '../functions/task-pool.ts';
export type { InProcessApi } from '../lib/wiring/in-process.ts';
