#!/usr/bin/env node
// `task-pool` on the PATH: registers tsx's loader, then runs the TypeScript CLI.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
