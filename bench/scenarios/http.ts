import { serve } from '@hono/node-server';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Hono } from 'hono';
import { listen } from '../../local/server.ts';
import { benchConfig, noopProbe, startRuntime, tempDir, type ScenarioOptions } from '../harness.ts';
import type { LoadResult } from '../load.ts';

const run = promisify(execFile);
const LOAD = fileURLToPath(new URL('../load.ts', import.meta.url));

/**
 * `POST /tasks` over a real node server (local/server.ts `listen`, the product's app) with
 * 50 keep-alive connections, against a trivial Hono route (`POST /trivial` → `{"ok":true}`,
 * same request body, same @hono/node-server) served by this process in the same run. The load
 * generator is a separate process (bench/load.ts). The runtime is API-only (processing off):
 * the figure is the API's, not the API's minus a pool sharing its core.
 * Afterwards every id answered with 202 is looked up in the database.
 */
export interface HttpResult {
  trivial: LoadResult;
  tasks: LoadResult;
  ratio: number;
  accepted: number;
  stored: number;
  missing: number;
}

export async function httpSubmit(options: ScenarioOptions): Promise<HttpResult> {
  const seconds = options.quick ? 2 : 10;
  const warmup = options.quick ? 0.5 : 1;
  const { dir, remove } = tempDir();
  try {
    const config = benchConfig(`file:${join(dir, 'tasks.db')}`, { APP_PORT: '0', ...options.env });
    const runtime = await startRuntime(config, noopProbe(), false);
    const { server, url } = await listen(runtime);

    const trivialApp = new Hono().post('/trivial', (c) => c.json({ ok: true }));
    let trivialServer: ReturnType<typeof serve> | undefined;
    const trivialUrl = await new Promise<string>((resolve) => {
      trivialServer = serve({ fetch: trivialApp.fetch, hostname: '127.0.0.1', port: 0 }, (info) => resolve(`http://127.0.0.1:${info.port}`));
    });

    const load = async (origin: string, path: string, idsFile?: string): Promise<LoadResult> => {
      const args = ['--import', 'tsx', LOAD, origin, path, String(seconds), '50', String(warmup)];
      if (idsFile) args.push(idsFile);
      const { stdout } = await run(process.execPath, args, { maxBuffer: 64 * 2 ** 20 });
      return JSON.parse(stdout.trim().split('\n').pop()!) as LoadResult;
    };
    const trivial = await load(trivialUrl, '/trivial');
    const idsFile = join(dir, 'ids.txt');
    const tasks = await load(url, '/tasks', idsFile);

    server.close();
    trivialServer?.close();
    const ids = readFileSync(idsFile, 'utf8').split('\n').filter(Boolean);
    let stored = 0;
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = await runtime.driver.all(`SELECT count(*) AS n FROM tasks WHERE id IN (${chunk.map(() => '?').join(',')})`, chunk);
      stored += Number(rows[0]!.n);
    }
    await runtime.shutdown();
    return { trivial, tasks, ratio: tasks.requests_per_s / trivial.requests_per_s, accepted: ids.length, stored, missing: ids.length - stored };
  } finally {
    remove();
  }
}
