import { createClient } from '@libsql/client';
import { describe } from 'vitest';
import { ClientDriver } from '../lib/db/client-driver.ts';
import { requestFetch, transportUrl } from '../local/remote-transport.ts';
import { createLogger } from '../lib/foundation/log.ts';
import { TaskRepository } from '../lib/tasks/repository.ts';
import { TaskService } from '../lib/tasks/service.ts';
import { repositoryContract } from './repository.contract.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

const available = await sqldAvailable();

// Over each transport the Node process may use (local/remote-transport.ts): one WebSocket
// (the default) and HTTP (the fallback) with the fetch the process gives it. Functions' HTTP
// over the global fetch runs against sqld in test/functions*.test.ts.
describe.skipIf(!available).each(['ws', 'http'] as const)('sqld over %s', (transport) => {
  const sqld = useSqld();
  const connect = () => {
    const client = createClient({ url: transportUrl(sqld.url, transport), fetch: transport === 'http' ? requestFetch(30_000) : undefined });
    return { repo: new TaskRepository(new ClientDriver(client, sqld.url)), close: async () => client.close() };
  };

  repositoryContract(`libSQL server (sqld, ${transport})`, async () => {
    await sqld.reset();
    const { repo, close } = connect();
    return {
      repo,
      service: new TaskService(repo, { maxAttempts: 3, maxPending: 0 }, createLogger('silent')),
      close,
      openPeer: async () => connect(),
    };
  });
});
