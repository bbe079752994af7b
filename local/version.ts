import { readFileSync } from 'node:fs';

/**
 * task-pool's version, from the nearest package.json above this module that has one: the
 * repository's for the source (local/) and for the npm package (build/local/), the one
 * esbuild.config.mjs writes beside the Node bundle (dist/node/).
 */
export function packageVersion(): string {
  for (let up = '../'; up.length <= 4 * 3; up += '../') {
    try {
      const { version } = JSON.parse(readFileSync(new URL(`${up}package.json`, import.meta.url), 'utf8')) as { version?: unknown };
      if (typeof version === 'string') return version;
    } catch {
      // No package.json at this level: look one higher.
    }
  }
  return 'unknown';
}
