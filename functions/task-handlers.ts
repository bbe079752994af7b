import type { TaskHandler } from '../lib/processing/handlers.ts';

/**
 * Task types the deployed functions run, besides the built-in `simulate`. The platform entry
 * points (functions/platforms/) all register this object, so a type added here is accepted by
 * `POST /tasks` and processed by the scheduled poll on every platform. It has the shape the
 * local CLI takes with `--handlers <module>`, so one module can serve both.
 */
export const handlers: Record<string, TaskHandler> = {};
