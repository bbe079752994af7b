#!/usr/bin/env node
// `task-pool` on the PATH. In a clone of the repository it runs the TypeScript CLI through
// tsx's loader; from the npm package, which ships no TypeScript, the built CLI with plain node
// (a TypeScript handlers module registers tsx then: local/runtime.ts, loadHandlersModule).
// In this same process either way, no child process: a signal sent to the bin reaches the
// server's own handlers and the exit code is the server's. What npx's shell does not pass on:
// local/server.ts onParentGone.
import { existsSync } from 'node:fs';

const source = new URL('./cli.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../build/local/cli.js');
}
