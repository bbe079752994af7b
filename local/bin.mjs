#!/usr/bin/env node
// `task-pool` on the PATH: registers tsx's loader, then runs the TypeScript CLI in this same
// process. No child process: a signal sent to the bin reaches the server's own handlers and
// the exit code is the server's. What npx's shell does not pass on: local/server.ts onParentGone.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
