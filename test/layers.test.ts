import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './processes.ts';

/**
 * The import rules each folder's README states (lib/<folder>/README.md, docs/architecture.md):
 * which parts of lib/ a folder may use. A violation names the file and the import.
 */
const ALLOWED: Record<string, string[]> = {
  'lib/tasks': ['lib/tasks', 'lib/db', 'lib/metrics', 'lib/errors.ts', 'lib/log.ts', 'lib/config.ts', 'lib/iso-time.ts'],
  'lib/processing': ['lib/processing', 'lib/tasks', 'lib/metrics', 'lib/db/errors.ts', 'lib/db/outage-log.ts', 'lib/errors.ts', 'lib/log.ts', 'lib/config.ts', 'lib/next-turn.ts'],
  'lib/api': ['lib/api', 'lib/ip.ts', 'lib/tasks', 'lib/processing', 'lib/rate-limit', 'lib/db/errors.ts', 'lib/errors.ts', 'lib/log.ts', 'lib/config.ts'],
  'lib/db': ['lib/db', 'lib/tasks/states.ts', 'lib/next-turn.ts'],
  'lib/rate-limit': ['lib/rate-limit', 'lib/errors.ts', 'lib/log.ts', 'lib/config.ts'],
  'lib/schedules': ['lib/schedules', 'lib/tasks', 'lib/db', 'lib/api', 'lib/processing/handlers.ts', 'lib/errors.ts', 'lib/log.ts', 'lib/config.ts'],
  'lib/delivery': ['lib/delivery', 'lib/ip.ts', 'lib/processing/handlers.ts', 'lib/processing/task-failure.ts', 'lib/tasks/model.ts', 'lib/errors.ts', 'lib/config.ts'],
  'lib/ui': ['lib/ui', 'lib/tasks', 'lib/db/driver.ts', 'lib/errors.ts', 'lib/log.ts', 'lib/config.ts'],
  'lib/metrics': ['lib/metrics'],
  'lib/client': ['lib/client', 'lib/api'],
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

  it('lib/client takes only types from the rest of lib/ (its run time is hono/client and fetch)', () => {
    const valueImports = sources(join(ROOT, 'lib/client')).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/^import\s+(?!type\b)[^;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => `${relative(ROOT, file)} imports ${m[1]}`),
    );
    expect(valueImports).toEqual([]);
  });

  it('nothing in lib/ or functions/ imports local/', () => {
    const violations = [...sources(join(ROOT, 'lib')), ...sources(join(ROOT, 'functions'))].flatMap((file) =>
      relativeImports(file).filter((t) => t.startsWith('local/')).map((t) => `${relative(ROOT, file)} imports ${t}`),
    );
    expect(violations).toEqual([]);
  });
});
