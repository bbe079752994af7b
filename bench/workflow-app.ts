import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defineWorkflow, serve, toNodeHandler } from '../lib/workflows/sdk.ts';

/**
 * The `remote-workflows` scenario's app, in its own process as a user's app would be:
 * `serve()` from `task-pool/workflow` on node:http, one workflow (`bench-steps`) of $STEPS
 * no-op steps, signed with $SECRET. Counts the steps its code ran. Prints `PORT <n>` once
 * listening; on SIGTERM prints `COUNT <n>` and exits.
 *
 *   STEPS=10 SECRET=whsec_… node --import tsx bench/workflow-app.ts
 */
const steps = Number(process.env.STEPS ?? 10);
let count = 0;
const workflow = defineWorkflow('bench-steps', async (ctx) => {
  let sum = 0;
  for (let i = 1; i <= steps; i++) sum += await ctx.step(`s${i}`, () => (count++, i));
  return sum;
});
const server = createServer({ keepAliveTimeout: 60_000 }, toNodeHandler(serve(workflow, { signingSecret: process.env.SECRET!, logLevel: 'warn' })));
server.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => {
  process.stdout.write(`COUNT ${count}\n`);
  process.exit(0);
});
