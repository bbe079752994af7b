// Builds every deploy target into dist/ and prints each bundle's size (raw and gzipped).
//   node esbuild.config.mjs            all targets
//   node esbuild.config.mjs workers    only the named ones
// Tests import `build()` to bundle into a temp dir (test/bundles.ts).
import * as esbuild from 'esbuild';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = dirname(fileURLToPath(import.meta.url));
const at = (path) => join(ROOT, path);

/**
 * zod's `z` namespace object re-exports everything, so no part of zod is tree-shaken from a
 * bundle that uses `z`. Three parts nothing here calls are cut from the Web bundles
 * (measured on the Workers bundle: 721 → 422 KB minified, 169 → 119 KB gzipped):
 * - `locales`: ~50 translations of the error messages; zod registers English itself, and
 *   English is all the API speaks;
 * - `z.compile` (zod/v4/core/compile.js), the opt-in JIT parser: only the namespace refers to it;
 * - `z.fromJSONSchema`: idem.
 * Calling a cut function throws, naming this file.
 */
const CUT = 'throw new Error("cut from this bundle by esbuild.config.mjs (slimZod)")';
const ZOD_STUBS = {
  'v4/core/compile.js': `export const INVALID = Symbol.for("zod.compile.invalid");
    export class ZodCompileAsyncError extends Error {}
    export class ZodCompileUnsupportedError extends Error {}
    export function compile() { ${CUT} }
    export function withParser() { ${CUT} }
    export function compileFn() { ${CUT} }`,
  'v4/classic/from-json-schema.js': `export function fromJSONSchema() { ${CUT} }`,
};
const slimZod = {
  name: 'slim-zod',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]/.test(args.importer) ? { path: join(dirname(args.importer), '../locales'), namespace: 'zod-locales' } : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: 'export { default as en } from "./en.js";',
      resolveDir: args.path,
      loader: 'js',
    }));
    pluginBuild.onLoad({ filter: /[\\/]zod[\\/]v4[\\/](core[\\/]compile|classic[\\/]from-json-schema)\.js$/ }, (args) => {
      const key = Object.keys(ZOD_STUBS).find((suffix) => args.path.replaceAll('\\', '/').endsWith(suffix));
      return key ? { contents: ZOD_STUBS[key], loader: 'js' } : undefined;
    });
  },
};

// Web-standard platforms: a Node built-in import fails the build (it is not polyfilled).
// `workerd`/`worker`/`browser` select the fetch-based builds of dependencies (uuid's Web
// Crypto path, @libsql/client's HTTP client).
const WEB = {
  bundle: true,
  plugins: [slimZod],
  platform: 'neutral',
  format: 'esm',
  target: 'es2022',
  conditions: ['workerd', 'worker', 'browser'],
  mainFields: ['browser', 'module', 'main'],
  minify: true,
  legalComments: 'none',
  outExtension: { '.js': '.mjs' },
};

const entries = (dir, names) => Object.fromEntries(names.map((name) => [name, at(`${dir}/${name}.ts`)]));

/** Each target: esbuild options (paths relative to its output dir) plus files to lay beside. */
export const TARGETS = {
  // `task-pool serve|worker|migrate|poll` as one file. `libsql` stays external: its native
  // part is loaded with a dynamic require, so it is installed next to the bundle
  // (package.json written below; the Dockerfile runs `npm install` there). The createRequire
  // banner serves CommonJS dependencies that `require()` Node built-ins.
  node: {
    options: {
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      entryPoints: { 'bin/cli': at('local/cli.ts') },
      external: ['libsql'],
      banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
      minify: true,
      legalComments: 'none',
      outExtension: { '.js': '.mjs' },
    },
    extras(outdir) {
      // local/database.ts finds migrations at `../drizzle` from the module: bin/ → drizzle/.
      cpSync(at('drizzle'), join(outdir, 'drizzle'), { recursive: true });
      const libsql = JSON.parse(readFileSync(at('node_modules/libsql/package.json'), 'utf8')).version;
      writeFileSync(
        join(outdir, 'package.json'),
        `${JSON.stringify({ name: 'task-pool-dist', private: true, type: 'module', bin: { 'task-pool': 'bin/cli.mjs' }, dependencies: { libsql } }, null, 2)}\n`,
      );
    },
  },
  workers: {
    options: { ...WEB, entryPoints: { index: at('functions/platforms/cloudflare-workers.ts') } },
  },
  vercel: {
    // dist/vercel is a deployable project: api/<function>.mjs plus vercel.json.
    options: { ...WEB, entryPoints: entries('functions/platforms/vercel', [
      'index', 'tasks', 'task', 'cancel', 'retry', 'stats', 'poll', 'schedules', 'schedule', 'schedule-pause', 'schedule-resume', 'schedule-trigger',
      'tasks-batch', 'tasks-cancel', 'tasks-retry', 'types', 'type-pause', 'type-resume',
    ]), outdir: 'api' },
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
      entryPoints: entries('functions/platforms/netlify', [
        'api', 'create-task', 'list-tasks', 'get-task', 'cancel-task', 'retry-task', 'stats', 'poll', 'poll-scheduled',
        'put-schedule', 'list-schedules', 'get-schedule', 'delete-schedule', 'pause-schedule', 'resume-schedule', 'trigger-schedule',
        'create-tasks', 'delete-task', 'cancel-tasks', 'retry-tasks', 'list-types', 'pause-type', 'resume-type',
      ]),
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
