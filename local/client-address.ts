import { getConnInfo } from '@hono/node-server/conninfo';
import type { ClientAddress } from '../lib/api/client-identity.ts';

/**
 * The socket's peer address under @hono/node-server. Requests that did not come through the
 * server (`app.request()` in tests, the CLI) have no socket: undefined, counted as unknown.
 */
export const nodeClientAddress: ClientAddress = (c) => {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined;
  }
};
