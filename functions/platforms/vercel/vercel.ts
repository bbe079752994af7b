import { createFunctions, type OperationName } from '../../functions.ts';
import { handlers, workflows } from '../../task-handlers.ts';
import { processEnv } from '../process-env.ts';

/** Vercel Functions (Node.js runtime): Web handlers per HTTP method, env from the process environment (process-env.ts). */
const functions = createFunctions({
  platform: 'vercel',
  handlers,
  workflows,
  // Vercel's edge network sets it from the connection and overwrites what clients send.
  clientAddress: (c) => c.req.header('x-real-ip'),
});

export const on = (name: OperationName | 'api') => (request: Request): Promise<Response> => functions[name](request, processEnv());
