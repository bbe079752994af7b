import { createClient } from '@libsql/client';
import { describe } from 'vitest';
import { ClientDriver } from '../lib/db/client-driver.ts';
import { createLogger } from '../lib/foundation/log.ts';
import { TaskRepository } from '../lib/tasks/repository.ts';
import { TaskService } from '../lib/tasks/service.ts';
import { repositoryContract } from './repository.contract.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

const available = await sqldAvailable();

describe.skipIf(!available)('sqld', () => {
  const sqld = useSqld();
  const connect = () => {
    const client = createClient({ url: sqld.url });
    return { repo: new TaskRepository(new ClientDriver(client, sqld.url)), close: async () => client.close() };
  };

  repositoryContract('libSQL server (sqld)', async () => {
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
