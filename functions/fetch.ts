/**
 * `import { createFunctions } from 'task-pool/fetch'`: the one factory every function platform
 * is built on (functions/functions.ts), for a platform with Web-standard handlers that has no
 * entry of its own here: Vercel, Netlify, Deno, Bun (docs/package.md). `api` serves every
 * route, each operation also has its own handler, and `scheduledPoll` is what a cron runs.
 * task-pool/workers and task-pool/lambda are this factory with their platform's shape.
 */
export { createFunctions, OPERATIONS, type FetchHandler, type FunctionsOptions, type OperationName, type TaskPoolFunctions } from './functions.ts';
export { envRecordFrom } from './environment.ts';
export { processEnv } from './platforms/process-env.ts';
export type { PollSummary } from '../lib/processing/deadline-poll.ts';
export type { EnvRecord } from '../lib/config/config.ts';
