import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { submitInput, openTestRepo, tempDbUrl } from './helpers.ts';
import { ROOT } from './processes.ts';

/** The claim hands each task to exactly one claimer, in one process or across processes. */

async function seed(url: string, n: number) {
  const { service, close } = await openTestRepo(url);
  await Promise.all(Array.from({ length: n }, (_, i) => service.submit(submitInput({ title: `t${i}` }))));
  await close();
}

function expectPartition(lists: number[][], n: number) {
  const all = lists.flat();
  expect(all).toHaveLength(n);
  expect(new Set(all).size).toBe(n);
}

describe('claimDueTasks under concurrency', () => {
  it('two clients in one process claiming from 2,000 rows get each task once', async () => {
    const url = tempDbUrl();
    await seed(url, 2000);
    const a = await openTestRepo(url);
    const b = await openTestRepo(url, 'client');
    const drain = async (repo: typeof a.repo, workerId: string) => {
      const ids: number[] = [];
      for (;;) {
        const tasks = await repo.claimDueTasks({ limit: 20, workerId, leaseMs: 600_000 });
        if (tasks.length === 0) return ids;
        ids.push(...tasks.map((t) => t.id));
      }
    };
    const lists = await Promise.all([drain(a.repo, 'a'), drain(b.repo, 'b')]);
    expectPartition(lists, 2000);
    expect(lists[0]!.length).toBeGreaterThan(0);
    expect(lists[1]!.length).toBeGreaterThan(0);
    await a.close();
    await b.close();
  });

  it('two OS processes claiming from 2,000 rows get each task once', async () => {
    const url = tempDbUrl();
    await seed(url, 2000);
    const run = (id: string) =>
      promisify(execFile)('node', ['--import', 'tsx', 'test/fixtures/claim.ts', url, id], { cwd: ROOT }).then((r) => JSON.parse(r.stdout) as number[]);
    const lists = await Promise.all([run('p1'), run('p2')]);
    expectPartition(lists, 2000);
    const { repo, close } = await openTestRepo(url);
    expect((await repo.stats()).counts.in_progress).toBe(2000);
    await close();
  });
});
