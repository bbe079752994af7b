import { cloudflareClientAddress } from '../lib/api/client-identity.ts';
import { createDashboardFunction } from './dashboard.ts';
import { envRecordFrom } from './environment.ts';
import { createFunctions, type FunctionsOptions } from './functions.ts';

/**
 * `import { createWorker } from 'task-pool/workers'`: a Cloudflare Worker with the user's own
 * handlers and workflows, built by their own wrangler or esbuild (docs/package.md). The API on
 * `fetch`; the cron trigger (wrangler.toml `crons`) polls. The repository's own Worker
 * (functions/platforms/cloudflare-workers.ts) is one of these.
 *
 * `dashboard` mounts /ui on the same Worker: pass this module's `dashboard`. Left out, no byte
 * of it is in the bundle (package.json `sideEffects`). Or run it as a Worker of its own
 * (`createDashboardWorker`), as the repository deploys it.
 */
export type WorkerOptions = Omit<FunctionsOptions, 'platform' | 'clientAddress'>;

interface WaitUntil {
  waitUntil(promise: Promise<unknown>): void;
}

/** What `export default` of a Worker module is: Workers calls these with its bindings. */
export interface TaskPoolWorker {
  fetch(request: Request, env: object): Promise<Response>;
  scheduled(controller: { cron: string; scheduledTime: number }, env: object, ctx: WaitUntil): void;
}

export function createWorker(options: WorkerOptions = {}): TaskPoolWorker {
  const functions = createFunctions({ ...options, platform: 'workers', clientAddress: cloudflareClientAddress });
  return {
    fetch: (request, env) => functions.api(request, envRecordFrom(env)),
    scheduled(_controller, env, ctx) {
      ctx.waitUntil(functions.scheduledPoll(envRecordFrom(env)));
    },
  };
}

/**
 * The dashboard (/ui, and / redirecting there) as a Worker of its own, routed beside the API's
 * Worker (deploy/cloudflare/wrangler.dashboard.toml): each stays smaller than the two in one
 * (functions/dashboard.ts). No cron trigger: the API's Worker polls.
 */
export function createDashboardWorker(options: Pick<WorkerOptions, 'handlers' | 'workflows' | 'logSink'> = {}): Pick<TaskPoolWorker, 'fetch'> {
  const dashboard = createDashboardFunction({ ...options, platform: 'workers', clientAddress: cloudflareClientAddress });
  return { fetch: (request, env) => dashboard(request, envRecordFrom(env)) };
}

export { registerDashboard as dashboard, type DashboardRegistrar } from '../lib/ui/dashboard.tsx';
