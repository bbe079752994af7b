import { validate } from '../api/body.ts';
import { submitTaskBody } from '../api/routes/tasks.ts';
import { flowControlInput, type SubmitTaskBody } from '../api/schemas.ts';
import { taskToJson, type TaskJson } from '../tasks/model.ts';
import { SendEventBody, StartRunBody } from '../workflows/schemas.ts';
import type { RunJson } from '../workflows/service.ts';
import type { TaskServices } from './task-services.ts';

/**
 * What an app that embeds task-pool calls instead of the HTTP API (local/task-pool.ts,
 * `createTaskPool`): submit a task, start a run, send an event. The bodies are the API's, read
 * by the same schemas and functions as its routes, and the answers have the shapes of the
 * typed client's methods (lib/client/), so code moves between the two without change. No
 * HTTP, so no token, rate limit or body size limit: the caller is the process itself.
 */
export interface InProcessApi {
  /**
   * As `POST /tasks`: `replayed` when `idempotencyKey` matched an earlier submit; `debounced` /
   * `throttled` when the task asked for `debounce` / `throttle` (true: the key's task took it in).
   */
  submit(task: SubmitTaskBody, options?: { idempotencyKey?: string }): Promise<{ task: TaskJson; replayed: boolean; debounced?: boolean; throttled?: boolean }>;
  /** As `POST /workflows/:name/runs`. */
  startRun(workflow: string, start?: Omit<StartRunBody, 'idempotency_key'>, options?: { idempotencyKey?: string }): Promise<{ run: RunJson; replayed: boolean }>;
  /** As `POST /events`: `resumed` counts the runs waiting for it that were made due. */
  sendEvent(event: SendEventBody): Promise<{ event: string; key: string | null; resumed: number }>;
}

export function inProcessApi(services: Pick<TaskServices, 'service' | 'handlers' | 'workflows'>): InProcessApi {
  return {
    async submit(task, options = {}) {
      const { task: stored, replayed, debounced, throttled } = await submitTaskBody(services, task, options.idempotencyKey);
      return { task: taskToJson(stored), replayed, ...(debounced === undefined ? {} : { debounced }), ...(throttled === undefined ? {} : { throttled }) };
    },
    async startRun(workflow, start = {}, options = {}) {
      const body = validate(StartRunBody, { ...start, idempotency_key: options.idempotencyKey });
      return services.workflows.startRun(workflow, {
        input: body.input,
        idempotencyKey: body.idempotency_key,
        runAt: body.run_at === undefined ? undefined : Date.parse(body.run_at),
        delaySeconds: body.delay_seconds,
        flowControl: flowControlInput(body.flow_control),
      });
    },
    async sendEvent(event) {
      const body = validate(SendEventBody, event);
      return services.workflows.sendEvent(body.event, body.key ?? null, body.payload);
    },
  };
}
