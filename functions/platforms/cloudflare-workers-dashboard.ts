import { cloudflareClientAddress } from '../../lib/api/client-identity.ts';
import { createDashboardFunction } from '../dashboard.ts';
import { envRecordFrom } from '../environment.ts';
import { handlers } from '../task-handlers.ts';

/**
 * Cloudflare Workers: the dashboard (/ui, and / redirecting there) as its own Worker, routed
 * by deploy/cloudflare/wrangler.dashboard.toml (functions/dashboard.ts says why it is apart).
 * No cron trigger: polling stays with the `api` Worker.
 */
const dashboard = createDashboardFunction({ platform: 'workers', handlers, clientAddress: cloudflareClientAddress });

export default {
  fetch: (request: Request, env: object): Promise<Response> => dashboard(request, envRecordFrom(env)),
};
