// Builds every deploy target into dist/ and prints each bundle's size (raw and gzipped).
//   node esbuild.config.mjs            all targets
//   node esbuild.config.mjs workers    only the named ones
// Tests import `build()` to bundle into a temp dir (test/bundles.ts).
import * as esbuild from 'esbuild';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = dirname(fileURLToPath(import.meta.url));
const at = (path) => join(ROOT, path);

// Web-standard platforms: a Node built-in import fails the build (it is not polyfilled).
// No plugin: a user's own Worker built from the package with plain esbuild gets the same bytes
// (zod's trimming is in the code: lib/foundation/zod-openapi.ts, lib/api/openapi-hono.ts).
// `workerd`/`worker`/`browser` select the fetch-based builds of dependencies (uuid's Web
// Crypto path, @libsql/client's HTTP client).
const WEB = {
  bundle: true,
  platform: 'neutral',
  format: 'esm',
  target: 'es2022',
  conditions: ['workerd', 'worker', 'browser'],
  mainFields: ['browser', 'module', 'main'],
  minify: true,
  legalComments: 'none',
  outExtension: { '.js': '.mjs' },
};

/**
 * A platform that deploys one function per file (Vercel, Netlify): every file of its folder is
 * an entry point but the module they share, named after the folder (`vercel.ts`). A new
 * function file is built without an edit here.
 */
const functionEntries = (dir) => {
  const shared = `${basename(dir)}.ts`;
  const files = readdirSync(at(dir)).filter((file) => file.endsWith('.ts') && file !== shared).sort();
  return Object.fromEntries(files.map((file) => [file.slice(0, -'.ts'.length), at(`${dir}/${file}`)]));
};

/** Each target: esbuild options (paths relative to its output dir) plus files to lay beside. */
export const TARGETS = {
  // `task-pool serve|worker|migrate|poll` as one file. `libsql` stays external: its native
  // part is loaded with a dynamic require, so it is installed next to the bundle
  // (package.json written below; the Dockerfile runs `npm install` there). So does `tsx`,
  // imported only for a TypeScript handlers module (local/runtime.ts): bundled, it would carry
  // esbuild's JavaScript without its binary; the image runs JavaScript handlers. The
  // createRequire banner serves CommonJS dependencies that `require()` Node built-ins.
  node: {
    options: {
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      entryPoints: { 'bin/cli': at('local/cli.ts') },
      external: ['libsql', 'tsx'],
      banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
      minify: true,
      legalComments: 'none',
      outExtension: { '.js': '.mjs' },
    },
    extras(outdir) {
      // local/database.ts finds migrations at `../drizzle` from the module: bin/ → drizzle/.
      cpSync(at('drizzle'), join(outdir, 'drizzle'), { recursive: true });
      const libsql = JSON.parse(readFileSync(at('node_modules/libsql/package.json'), 'utf8')).version;
      // `version` is what `task-pool --version` prints (local/version.ts).
      const { version } = JSON.parse(readFileSync(at('package.json'), 'utf8'));
      writeFileSync(
        join(outdir, 'package.json'),
        `${JSON.stringify({ name: 'task-pool-dist', version, private: true, type: 'module', bin: { 'task-pool': 'bin/cli.mjs' }, dependencies: { libsql } }, null, 2)}\n`,
      );
    },
  },
  workers: {
    options: { ...WEB, entryPoints: { index: at('functions/platforms/cloudflare-workers.ts') } },
  },
  // The dashboard as its own Worker (see functions/platforms/cloudflare-workers-dashboard.ts).
  'workers-dashboard': {
    options: { ...WEB, entryPoints: { index: at('functions/platforms/cloudflare-workers-dashboard.ts') } },
  },
  vercel: {
    // dist/vercel is a deployable project: api/<function>.mjs plus vercel.json.
    options: { ...WEB, entryPoints: functionEntries('functions/platforms/vercel'), outdir: 'api' },
    extras(outdir) {
      cpSync(at('deploy/vercel/vercel.json'), join(outdir, 'vercel.json'));
    },
  },
  // Lambda runs Node 20: hono/aws-lambda imports `node:stream/promises` (its streaming
  // handler), the only built-in allowed here and checked by test/bundles.test.ts.
  lambda: {
    options: { ...WEB, external: ['node:*'], entryPoints: { index: at('functions/platforms/aws-lambda.ts') } },
  },
  netlify: {
    // dist/netlify is a deployable site: functions/<name>.mjs plus netlify.toml.
    options: {
      ...WEB,
      entryPoints: functionEntries('functions/platforms/netlify'),
      outdir: 'functions',
    },
    extras(outdir) {
      cpSync(at('deploy/netlify/netlify.toml'), join(outdir, 'netlify.toml'));
      mkdirSync(join(outdir, 'public'), { recursive: true });
    },
  },
};

/**
 * Builds `targets` into `outdir/<target>/`. Returns every output file with its size, and each
 * target's metafile (tests read the imports left external).
 */
export async function build({ outdir = at('dist'), targets = Object.keys(TARGETS), log = true } = {}) {
  const files = [];
  const metafiles = {};
  for (const name of targets) {
    const target = TARGETS[name];
    if (!target) throw new Error(`unknown target ${JSON.stringify(name)}; known: ${Object.keys(TARGETS).join(', ')}`);
    const dir = resolve(outdir, name);
    rmSync(dir, { recursive: true, force: true });
    const { outdir: sub = '.', ...options } = target.options;
    const result = await esbuild.build({ ...options, outdir: join(dir, sub), metafile: true, logLevel: 'warning', absWorkingDir: ROOT });
    target.extras?.(dir);
    metafiles[name] = result.metafile;
    for (const file of Object.keys(result.metafile.outputs)) {
      const path = resolve(ROOT, file);
      const bytes = readFileSync(path);
      files.push({ target: name, path, bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length });
    }
  }
  if (log) printSizes(files, outdir);
  return { files, metafiles };
}

/**
 * A Workers module built exactly as the `workers` target is, from another entry: tests build
 * their own entries this way (test/bundles.ts, `useWorkersEntry`) to run test-only workflows
 * in workerd without putting them into functions/task-handlers.ts. Writes `outdir/index.mjs`.
 */
export async function buildWorkersEntry({ entry, outdir }) {
  await esbuild.build({ ...TARGETS.workers.options, entryPoints: { index: entry }, outdir, logLevel: 'warning', absWorkingDir: ROOT });
  return join(outdir, 'index.mjs');
}

function printSizes(files, outdir) {
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  const rows = files.map((f) => [f.target, relative(outdir, f.path), kb(f.bytes), kb(f.gzipBytes)]);
  const header = ['target', 'file', 'size', 'gzip'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  console.log([line(header), ...rows.map(line)].join('\n'));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const requested = process.argv.slice(2);
  build({ targets: requested.length ? requested : undefined }).catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
