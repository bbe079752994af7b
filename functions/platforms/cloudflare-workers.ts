import { cloudflareClientAddress } from '../../lib/api/client-identity.ts';
import { envRecordFrom } from '../environment.ts';
import { createFunctions } from '../functions.ts';
import { handlers, workflows } from '../task-handlers.ts';

/** Cloudflare Workers: the API on `fetch`; the cron trigger (wrangler.toml `crons`) polls. */
interface WaitUntil {
  waitUntil(promise: Promise<unknown>): void;
}

const functions = createFunctions({ platform: 'workers', handlers, workflows, clientAddress: cloudflareClientAddress });

export default {
  fetch: (request: Request, env: object): Promise<Response> => functions.api(request, envRecordFrom(env)),
  scheduled(_controller: { cron: string; scheduledTime: number }, env: object, ctx: WaitUntil): void {
    ctx.waitUntil(functions.scheduledPoll(envRecordFrom(env)));
  },
};
