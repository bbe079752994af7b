import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './processes.ts';

/**
 * The import rules each folder's README states (lib/<folder>/README.md, docs/architecture.md):
 * which parts of lib/ a folder may use. A violation names the file and the import.
 */
const F = 'lib/foundation';
const C = 'lib/config';
const ALLOWED: Record<string, string[]> = {
  'lib/foundation': [F],
  'lib/config': [C, F],
  'lib/metrics': ['lib/metrics'],
  'lib/db': ['lib/db', 'lib/tasks/states.ts', F],
  'lib/tasks': ['lib/tasks', 'lib/db', 'lib/metrics', 'lib/flow-control', C, F],
  // Pieces of the claim statement and reads over the same indexes; the task's types.
  'lib/flow-control': ['lib/flow-control', 'lib/db/driver.ts', 'lib/tasks/model.ts'],
  'lib/processing': ['lib/processing', 'lib/tasks', 'lib/metrics', 'lib/db/outage-log.ts', 'lib/db/driver.ts', C, F],
  'lib/rate-limit': ['lib/rate-limit', C, F],
  'lib/api': ['lib/api', 'lib/tasks', 'lib/processing', 'lib/rate-limit', 'lib/flow-control/claim.ts', C, F],
  'lib/schedules': ['lib/schedules', 'lib/tasks', 'lib/db', 'lib/api', 'lib/processing/handlers.ts', C, F],
  'lib/delivery': ['lib/delivery', 'lib/processing/handlers.ts', 'lib/processing/task-failure.ts', 'lib/tasks/model.ts', C, F],
  // The workflow pages read runs through the service and check an event with the API's schema.
  'lib/ui': ['lib/ui', 'lib/tasks', 'lib/db/driver.ts', 'lib/rate-limit', 'lib/workflows/service.ts', 'lib/workflows/define.ts', 'lib/workflows/schemas.ts', C, F],
  // Types only (checked below): the routes' types that the typed client is inferred from.
  'lib/client': ['lib/client', 'lib/api', 'lib/schedules/routes.ts', 'lib/workflows'],
  // Signing and verifying the remote protocol (wire-check.ts, serve.ts); the engine's advances
  // go out as `http` tasks' requests do (remote.ts: guard, host limit, transport).
  'lib/workflows': ['lib/workflows', 'lib/tasks', 'lib/processing', 'lib/db', 'lib/api', 'lib/metrics', 'lib/delivery', C, F],
  // The wiring assembles the capabilities for the adapters: it may use every folder, and no
  // folder but itself may use it (each capability stays unaware of the others' assembly).
  'lib/wiring': ['lib'],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : /\.tsx?$/.test(path) ? [path] : [];
  });
}

function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => relative(ROOT, resolve(dirname(file), m[1]!)));
}

describe('lib/ layers', () => {
  for (const [folder, allowed] of Object.entries(ALLOWED)) {
    it(`${folder} imports only ${allowed.join(', ')}`, () => {
      const violations = sources(join(ROOT, folder)).flatMap((file) =>
        relativeImports(file)
          .filter((target) => !allowed.some((a) => target === a || target.startsWith(`${a}/`)))
          .map((target) => `${relative(ROOT, file)} imports ${target}`),
      );
      expect(violations).toEqual([]);
    });
  }

  it('every file of lib/ sits in a folder that has rules (none at the root, none in a folder left out)', () => {
    const uncovered = sources(join(ROOT, 'lib'))
      .map((file) => relative(ROOT, file))
      .filter((file) => !Object.keys(ALLOWED).some((folder) => file.startsWith(`${folder}/`)));
    expect(uncovered).toEqual([]);
  });

  it('only the adapters and lib/wiring/ use lib/wiring/', () => {
    const violations = sources(join(ROOT, 'lib'))
      .filter((file) => !relative(ROOT, file).startsWith('lib/wiring/'))
      .flatMap((file) => relativeImports(file).filter((t) => t.startsWith('lib/wiring/')).map((t) => `${relative(ROOT, file)} imports ${t}`));
    expect(violations).toEqual([]);
  });

  it('lib/client takes only types from the rest of lib/ (its run time is hono/client and fetch)', () => {
    const valueImports = sources(join(ROOT, 'lib/client')).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/^import\s+(?!type\b)[^;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => `${relative(ROOT, file)} imports ${m[1]}`),
    );
    expect(valueImports).toEqual([]);
  });

  // A zod namespace used as a value keeps all of zod in every bundle built from the package
  // (lib/foundation/zod-openapi.ts says why; test/package.test.ts measures a user's Worker).
  it("zod is imported as `* as z`, and @hono/zod-openapi only for types (lib/api/openapi-hono.ts is its port)", () => {
    const violations = [...sources(join(ROOT, 'lib')), ...sources(join(ROOT, 'functions')), ...sources(join(ROOT, 'local'))].flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      const found = [
        ...text.matchAll(/^import\s+(?!type\b)(?!\*\s+as\s+\w+\s+from)[^;]*?from\s*['"]zod(?:\/[^'"]*)?['"]/gm),
        ...text.matchAll(/^import\s+(?!type\b)[^;]*?from\s*['"]@hono\/zod-openapi['"]/gm),
      ];
      return found.map((m) => `${relative(ROOT, file)}: ${m[0].replace(/\s+/g, ' ')}`);
    });
    expect(violations).toEqual([]);
  });

  it('nothing in lib/ or functions/ imports local/', () => {
    const violations = [...sources(join(ROOT, 'lib')), ...sources(join(ROOT, 'functions'))].flatMap((file) =>
      relativeImports(file).filter((t) => t.startsWith('local/')).map((t) => `${relative(ROOT, file)} imports ${t}`),
    );
    expect(violations).toEqual([]);
  });
});
