import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { build, buildWorkersEntry, type BuiltFile, type TargetName } from '../esbuild.config.mjs';
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
    const dir = buildDir();
    const result = await build({ outdir: dir, targets, log: false });
    Object.assign(bundles, result, { dir, path: (target: TargetName, relative: string) => join(dir, target, relative) });
  });
  afterAll(() => {
    if (bundles.dir) rmSync(bundles.dir, { recursive: true, force: true });
  });
  return bundles;
}

/** A fresh build directory under the repo (miniflare refuses module paths outside its working directory). */
function buildDir(): string {
  mkdirSync(join(ROOT, '.test-dist'), { recursive: true });
  return mkdtempSync(join(ROOT, '.test-dist', 'build-'));
}

/**
 * A test-only Workers entry (under test/fixtures/) built exactly as the `workers` target, for
 * this test file. Read `scriptPath` inside tests; give it to `startWorkerd`.
 */
export function useWorkersEntry(entry: string): { readonly scriptPath: string } {
  const built = { scriptPath: '' };
  let dir: string | undefined;
  beforeAll(async () => {
    dir = buildDir();
    built.scriptPath = await buildWorkersEntry({ entry, outdir: dir });
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return built;
}

/**
 * A Workers bundle in real workerd (miniflare): a built target of `bundles`, or the path of a
 * module built by `useWorkersEntry`. `bindings` are wrangler's `vars`.
 */
export async function startWorkerd(
  bundles: Bundles | string,
  bindings: Record<string, string | number>,
  target: 'workers' | 'workers-dashboard' = 'workers',
): Promise<Miniflare> {
  const mf = new Miniflare({
    modules: true,
    scriptPath: typeof bundles === 'string' ? bundles : bundles.path(target, 'index.mjs'),
    modulesRoot: '/',
    compatibilityDate: '2026-04-01',
    bindings,
  });
  await mf.ready;
  return mf;
}
