import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDbUrl, tempDir } from './helpers.ts';
import { killAll, postTask, ROOT, spawnService, type ServiceProcess } from './processes.ts';

/**
 * A user's handlers module that is not in a `"type": "module"` package is loaded by tsx as
 * CommonJS, and its `import { TaskFailure }` then gets a second copy of the class (the CJS
 * loader's), not the one lib/processing/outcome.ts holds. `instanceof` failed across the two
 * copies, so a permanent failure was retried: a declined card was charged on every attempt.
 * Here real `serve` processes load such a module from a plain temp folder (no package.json
 * above it) and from a `"type": "commonjs"` package; the task must fail after one execution.
 */

const taskFailureBrand = join(ROOT, 'lib/processing/task-failure.ts');

/** A handlers module in `dir` whose `charge` handler logs each execution to payload.file, then declines for good. */
function writeHandlers(dir: string): string {
  const file = join(dir, 'handlers.ts');
  writeFileSync(
    file,
    `import { appendFileSync } from 'node:fs';
import { TaskFailure } from ${JSON.stringify(taskFailureBrand)};

export const handlers = {
  charge: async (task: { payload: { file: string } }, { attempt }: { attempt: number }) => {
    appendFileSync(task.payload.file, attempt + '\\n');
    throw new TaskFailure('card declined', { permanent: true });
  },
};
`,
  );
  return file;
}

/** No package.json in `dir` or any folder above it: Node's default (CommonJS) applies. */
function noPackageJsonAbove(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return false;
    if (dirname(d) === d) return true;
  }
}

describe('a permanent TaskFailure from a handlers module loaded as CommonJS', () => {
  const services: ServiceProcess[] = [];
  afterEach(() => killAll(services.splice(0)));

  async function declineOnce(handlersFile: string): Promise<void> {
    const executions = join(tempDir(), 'executions.log');
    writeFileSync(executions, '');
    const service = spawnService(['serve', '--handlers', handlersFile], { DATABASE_URL: tempDbUrl(), TASK_BACKOFF_BASE_MS: '10', TASK_BACKOFF_MAX_MS: '50' });
    services.push(service);
    const { url } = (await service.waitForLog((r) => typeof r.url === 'string' && r.mode === 'serve')) as { url: string };

    const { id } = await postTask(url, { title: 'charge', description: 'a card that is declined', type: 'charge', payload: { file: executions }, max_attempts: 3 });
    const task = (await (await fetch(`${url}/tasks/${id}?wait=20`)).json()) as { status: string; attempts: number; last_error: string };
    expect(task).toMatchObject({ status: 'failed', attempts: 1, last_error: 'card declined' });
    // The handler's own record: one execution, one charge.
    expect(readFileSync(executions, 'utf8')).toBe('1\n');
  }

  it('in a plain folder without package.json', async () => {
    const dir = tempDir('task-pool-handlers-');
    expect(noPackageJsonAbove(dir)).toBe(true);
    await declineOnce(writeHandlers(dir));
  });

  it('in a "type": "commonjs" package', async () => {
    const dir = tempDir('task-pool-handlers-cjs-');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'user-handlers', type: 'commonjs' }));
    await declineOnce(writeHandlers(dir));
  });
});
