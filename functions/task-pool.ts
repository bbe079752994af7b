/**
 * `import { defineWorkflow, TaskFailure } from 'task-pool'` on a Web platform (a Worker, a
 * fetch function): what handlers and workflows are written with. package.json sends Node to
 * local/task-pool.ts, which adds `createTaskPool`, and every other runtime or bundler here, so
 * that one handlers module serves `task-pool serve` and a Worker alike.
 */
export { defineWorkflow } from '../lib/workflows/define.ts';
export type { Duration, StepContext, StepOptions, WaitOptions, Workflow, WorkflowContext, WorkflowFunction, WorkflowOptions } from '../lib/workflows/define.ts';
export { TaskFailure } from '../lib/processing/task-failure.ts';
export type { HandlerContext, TaskHandler } from '../lib/processing/handlers.ts';
export type { TaskJson } from '../lib/tasks/model.ts';
export type { TaskStatus } from '../lib/tasks/states.ts';
export type { SubmitTaskBody as SubmitTask } from '../lib/api/schemas.ts';
export type { SendEventBody as SendEvent, StartRunBody } from '../lib/workflows/schemas.ts';
export type { RunJson, StepJson, WaitingFor } from '../lib/workflows/service.ts';
export type { Logger } from '../lib/foundation/log.ts';
export type { EnvRecord } from '../lib/config/config.ts';
