import type { HandlerRegistry } from '../processing/handlers.ts';
import type { TaskService } from '../tasks/service.ts';
import type { AccessControlDeps } from './access-control.ts';
import type { BodyMemory } from './body-memory.ts';

/**
 * What the HTTP app and its routes are built from (lib/wiring/app-services.ts wires it):
 * access control's config, logger, limiter and peer address, plus the task core.
 */
export interface AppDeps extends AccessControlDeps {
  service: TaskService;
  handlers: HandlerRegistry;
  /** The request bodies held at once (MAX_BODY_MEMORY_BYTES), shared by every route that reads one. */
  bodyMemory: BodyMemory;
  /** Schedules and paused ones, for /stats (lib/schedules/; its routes are registered by lib/wiring/app-services.ts). */
  scheduleCounts?: () => Promise<{ total: number; paused: number }>;
  /** Workflow runs by status, for /stats (lib/workflows/; its routes are registered by lib/wiring/app-services.ts). */
  runCounts?: () => Promise<{ counts: Record<string, number>; total: number }>;
}
