import { createDashboardWorker } from '../workers.ts';
import { handlers, workflows } from '../task-handlers.ts';

/**
 * Cloudflare Workers: the dashboard (/ui, and / redirecting there) as its own Worker, routed
 * by deploy/cloudflare/wrangler.dashboard.toml (functions/dashboard.ts says why it is apart).
 * No cron trigger: polling stays with the `api` Worker.
 */
export default createDashboardWorker({ handlers, workflows });
