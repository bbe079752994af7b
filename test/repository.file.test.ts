import { openDatabase } from '../local/database.ts';
import { TaskRepository } from '../lib/tasks/repository.ts';
import { openTestRepo, tempDbUrl } from './helpers.ts';
import { repositoryContract } from './repository.contract.ts';

repositoryContract('libSQL file', async () => {
  const url = tempDbUrl();
  const { repo, service, close } = await openTestRepo(url);
  return {
    repo,
    service,
    close,
    async openPeer() {
      const driver = await openDatabase({ url });
      return { repo: new TaskRepository(driver), close: () => driver.close() };
    },
  };
});
