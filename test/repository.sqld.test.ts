import { describe } from 'vitest';
import { openRemoteDriver } from '../local/remote-transport.ts';
import { createLogger } from '../lib/foundation/log.ts';
import { TaskRepository } from '../lib/tasks/repository.ts';
import { TaskService } from '../lib/tasks/service.ts';
import { repositoryContract } from './repository.contract.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

const available = await sqldAvailable();

// Over each transport the Node process may use (local/remote-transport.ts), with the drivers
// it opens for them: one WebSocket (the default; writes on one kept stream,
// local/stream-driver.ts) and HTTP (the fallback) with the fetch the process gives it.
// Functions' HTTP over the global fetch runs against sqld in test/functions*.test.ts.
describe.skipIf(!available).each(['ws', 'http'] as const)('sqld over %s', (transport) => {
  const sqld = useSqld();
  const connect = async () => {
    const driver = await openRemoteDriver({ url: sqld.url, transport, timeoutMs: 30_000 });
    return { repo: new TaskRepository(driver), close: () => driver.close() };
  };

  repositoryContract(`libSQL server (sqld, ${transport})`, async () => {
    await sqld.reset();
    const { repo, close } = await connect();
    return {
      repo,
      service: new TaskService(repo, { maxAttempts: 3, maxPending: 0 }, createLogger('silent')),
      close,
      openPeer: () => connect(),
    };
  });
});
