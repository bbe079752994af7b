import { createWorker } from '../workers.ts';
import { handlers, workflows } from '../task-handlers.ts';

/** Cloudflare Workers: the API on `fetch`; the cron trigger (wrangler.toml `crons`) polls. */
export default createWorker({ handlers, workflows });
