import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { build, type BuiltFile, type TargetName } from '../esbuild.config.mjs';
import type { Metafile } from 'esbuild';
import { Miniflare } from 'miniflare';
import { ROOT } from './processes.ts';

export interface Bundles {
  dir: string;
  files: BuiltFile[];
  metafiles: Partial<Record<TargetName, Metafile>>;
  /** Absolute path of `<target>/<relative>` in the build. */
  path(target: TargetName, relative: string): string;
}

/**
 * Builds the named targets with esbuild.config.mjs (the same code as `npm run build`) into a
 * fresh directory for this test file, so tests never depend on a stale dist/ and files
 * running in parallel never share one. Under the repo (.test-dist/) because miniflare
 * refuses module paths outside its working directory.
 */
export function useBundles(targets: TargetName[]): Bundles {
  const bundles = { files: [], metafiles: {} } as unknown as Bundles;
  beforeAll(async () => {
    mkdirSync(join(ROOT, '.test-dist'), { recursive: true });
    const dir = mkdtempSync(join(ROOT, '.test-dist', 'build-'));
    const result = await build({ outdir: dir, targets, log: false });
    Object.assign(bundles, result, { dir, path: (target: TargetName, relative: string) => join(dir, target, relative) });
  });
  afterAll(() => {
    if (bundles.dir) rmSync(bundles.dir, { recursive: true, force: true });
  });
  return bundles;
}

/** A built Workers bundle in real workerd (miniflare); `bindings` are wrangler's `vars`. */
export async function startWorkerd(bundles: Bundles, bindings: Record<string, string | number>, target: 'workers' | 'workers-dashboard' = 'workers'): Promise<Miniflare> {
  const mf = new Miniflare({
    modules: true,
    scriptPath: bundles.path(target, 'index.mjs'),
    modulesRoot: '/',
    compatibilityDate: '2026-04-01',
    bindings,
  });
  await mf.ready;
  return mf;
}
