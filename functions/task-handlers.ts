import type { TaskHandler } from '../lib/processing/handlers.ts';
import type { Workflow } from '../lib/workflows/define.ts';

/**
 * Task types and workflows the deployed functions run, besides the built-in `simulate` and
 * `http`. The platform entry points (functions/platforms/) all register these, so a type added
 * here is accepted by `POST /tasks` and a workflow by `POST /workflows/:name/runs`, and both are
 * processed by the scheduled poll on every platform. They have the shape the local CLI takes
 * with `--handlers <module>`, so one module can serve both.
 */
export const handlers: Record<string, TaskHandler> = {};

export const workflows: Workflow[] = [];
