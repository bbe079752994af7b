/**
 * `task-pool/workflow`: a workflow served by the user's own app (docs/workflows.md, "A workflow
 * in your own app"; the protocol: docs/workflow-protocol.md). Everything here runs on Web APIs
 * alone and bundles to a few KB (test/bundles.test.ts holds its budget): it imports nothing
 * that reaches the database, the API or zod.
 */
export { serve, type ServeOptions, type WorkflowHandler } from './serve.ts';
export { toNodeHandler, type NodeRequestLike, type NodeResponseLike } from './node-handler.ts';
export { defineWorkflow, type Duration, type StepContext, type StepOptions, type WaitOptions, type Workflow, type WorkflowContext, type WorkflowFunction, type WorkflowOptions } from './define.ts';
export { StepError } from './executor.ts';
export { TaskFailure } from '../processing/task-failure.ts';
export type { LogFields, Logger, LogLevel } from '../foundation/log.ts';
