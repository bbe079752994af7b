import { cloudflareClientAddress } from '../../lib/api/client-identity.ts';
import { registerDashboard } from '../../lib/ui/dashboard.tsx';
import { envRecordFrom } from '../context.ts';
import { createFunctions } from '../functions.ts';
import { handlers } from '../task-handlers.ts';

/**
 * Cloudflare Workers: the dashboard (/ui, and / redirecting there) as its own Worker, routed
 * by deploy/cloudflare/wrangler.dashboard.toml. Its own bundle because the dashboard (pages,
 * hono/jsx, session code) adds ~20 KB gzipped, which with schedules and HTTP delivery would
 * take the `api` Worker past its 130 KB budget (docs/architecture.md, README "Dashboard").
 * It is the same app as the API plus the dashboard, so its forms' actions run the same code.
 * No cron trigger: polling stays with the `api` Worker.
 */
const functions = createFunctions({ platform: 'workers', handlers, clientAddress: cloudflareClientAddress, dashboard: registerDashboard });

export default {
  fetch: (request: Request, env: object): Promise<Response> => functions.api(request, envRecordFrom(env)),
};
