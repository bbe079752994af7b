import { getEventListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../lib/foundation/log.ts';
import { defineWorkflow, type Workflow, type WorkflowContext } from '../lib/workflows/define.ts';
import { execute, type ExecutionIO } from '../lib/workflows/executor.ts';
import type { StepRecord } from '../lib/workflows/protocol.ts';

/**
 * The executor alone (lib/workflows/executor.ts), on records kept in memory: what an
 * execution leaves behind once it has ended. A process holds thousands of suspended runs and
 * runs thousands of steps per run; neither may stay in its memory.
 */

function memoryIO(): ExecutionIO & { records: Map<string, StepRecord> } {
  const records = new Map<string, StepRecord>();
  return {
    records,
    record: async (step) => (records.set(step.name, step), true),
    findEvent: async () => null,
    startChild: async () => null,
    childState: async () => null,
  };
}

function run(workflow: Workflow, io: ExecutionIO, signal = new AbortController().signal) {
  return execute(workflow, { runId: 1, workflow: workflow.name, input: null, attempt: 1, createdAt: Date.now(), eventMark: 0, steps: [] }, io, {
    runId: '1',
    signal,
    logger: createLogger('silent'),
    settings: { maxStepBytes: 65_536, maxSteps: 1000, defaultRetries: 0, backoffMs: () => 10, backoffMaxMs: 100 },
  });
}

function forceGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('workflow executor', () => {
  it('keeps nothing of a suspended execution: its code, context and records can be collected', async () => {
    const contexts: WeakRef<WorkflowContext>[] = [];
    const flow = defineWorkflow('sleeps', async (ctx) => {
      contexts.push(new WeakRef(ctx));
      await ctx.step('first', () => 1);
      await ctx.sleep('long', '1h');
      await ctx.waitForEvent('then', { event: 'e', timeout: '1h' });
    });
    for (let i = 0; i < 3; i++) expect(await run(flow, memoryIO())).toMatchObject({ kind: 'suspended' });
    const gc = forceGc();
    // A WeakRef's target stays alive until the current job ends: collect between turns.
    for (let i = 0; i < 3; i++) {
      await sleep(10);
      gc();
    }
    expect(contexts.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
  });

  it('removes each step’s abort listener when the step ends, and a step still stops on abort', async () => {
    const controller = new AbortController();
    const many = defineWorkflow('many', async (ctx) => {
      for (let i = 0; i < 30; i++) await ctx.step(`s${i}`, () => i);
      return getEventListeners(controller.signal, 'abort').length;
    });
    expect(await run(many, memoryIO(), controller.signal)).toEqual({ kind: 'completed', output: 0 });

    const stuck = defineWorkflow('stuck', async (ctx) => {
      await ctx.step('forever', () => new Promise(() => undefined));
    });
    const stopping = run(stuck, memoryIO(), controller.signal);
    setTimeout(() => controller.abort(new Error('shutdown')), 10);
    await expect(stopping).rejects.toThrow('shutdown');
  });
});
