import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native modules (libsql) and real child processes: run files in forked processes.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Files that spawn servers and workers compete for 2 cores; bound the parallelism.
    maxWorkers: 2,
    // Built bundles (test/bundles.ts) are loaded as Node loads them, not transformed again.
    server: { deps: { external: [/[\\/]\.test-dist[\\/]/] } },
  },
});
