import { createFunctions, type OperationName } from '../../functions.ts';
import { handlers, workflows } from '../../task-handlers.ts';
import { processEnv } from '../process-env.ts';

/**
 * Netlify Functions (v2, Web handlers): one function per operation, routed by the `config`
 * each file exports (path and method); env from the process environment (process-env.ts).
 */
export interface NetlifyConfig {
  path: string | string[];
  method?: string | string[];
}

const functions = createFunctions({
  platform: 'netlify',
  handlers,
  workflows,
  // Set by Netlify's edge from the connection; clients cannot supply it.
  clientAddress: (c) => c.req.header('x-nf-client-connection-ip'),
});

export const on = (name: OperationName | 'api') => (request: Request): Promise<Response> => functions[name](request, processEnv());

/** The scheduled function's body: netlify.toml gives it the cron schedule. */
export const scheduledPoll = async (): Promise<Response> => Response.json(await functions.scheduledPoll(processEnv()));
