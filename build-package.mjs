// Builds the npm package into build/ (package.json `exports`, `files`): `npm run build:package`.
// TypeScript's own emit (tsconfig.package.json), one .js and one .d.ts per source file, so the
// package's module graph is the repository's and a user's bundler tree-shakes it file by file;
// then the migrations, which local/database.ts reads from `../drizzle` beside the built local/.
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(fileURLToPath(import.meta.url));
const OUT = join(ROOT, 'build');

rmSync(OUT, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.package.json')], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

// The migrator reads the SQL files and meta/_journal.json; the snapshots are drizzle-kit's.
cpSync(join(ROOT, 'drizzle'), join(OUT, 'drizzle'), {
  recursive: true,
  filter: (path) => !/[\\/]meta[\\/].+_snapshot\.json$/.test(path),
});
const count = (dir) => readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? count(join(dir, e.name)) : 1), 0);
console.log(`build/: ${count(OUT)} files`);
