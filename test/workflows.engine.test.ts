import { describe, expect, it } from 'vitest';
import { TaskFailure } from '../lib/processing/task-failure.ts';
import { defineWorkflow, type Workflow } from '../lib/workflows/define.ts';
import { startRuntime, waitFor } from './helpers.ts';

/**
 * The workflow engine in one process on a real file (lib/workflows/): steps recorded once
 * across suspensions, sleeps, events before and after the wait, timeouts, retries, failures
 * caught and uncaught, retry of a run, child runs, workflow_changed and the limits.
 */

async function runtimeWith(workflows: Workflow[], env: Record<string, string> = {}) {
  const runtime = await startRuntime({ workflows, env: { TASK_BACKOFF_BASE_MS: '10', TASK_BACKOFF_MAX_MS: '50', ...env } });
  runtime.start();
  return runtime;
}

async function finished(runtime: Awaited<ReturnType<typeof runtimeWith>>, id: string, timeoutMs = 10_000) {
  return waitFor(async () => {
    const run = await runtime.workflows.getRun(id);
    return ['completed', 'failed', 'cancelled'].includes(run.status) ? run : null;
  }, timeoutMs, `run ${id} to end`);
}

describe('workflow engine (in process)', () => {
  it('runs steps once each across a sleep and an event, and returns the output', async () => {
    const calls: string[] = [];
    const signup = defineWorkflow('signup', async (ctx, input: { email: string }) => {
      const account = await ctx.step('create account', () => (calls.push('create'), { id: 7, email: input.email }));
      await ctx.sleep('wait a bit', '200ms');
      const verified = await ctx.waitForEvent<{ ok: boolean }>('verified', { event: 'email.verified', key: input.email, timeout: '10s' });
      const charge = await ctx.step('charge', () => (calls.push('charge'), { charged: verified?.ok === true }));
      return { account, charge };
    });
    const runtime = await runtimeWith([signup]);
    const { run } = await runtime.workflows.startRun('signup', { input: { email: 'a@example.com' } });
    await waitFor(async () => (await runtime.workflows.getRun(run.id)).waiting_for?.some((w) => w.kind === 'event'), 10_000, 'the run to wait for the event');
    const waiting = await runtime.workflows.getRun(run.id);
    expect(waiting.status).toBe('pending');
    expect(waiting.waiting_for).toEqual([expect.objectContaining({ kind: 'event', event: 'email.verified', key: 'a@example.com' })]);
    expect(await runtime.workflows.sendEvent('email.verified', 'a@example.com', { ok: true })).toEqual({ event: 'email.verified', key: 'a@example.com', resumed: 1 });
    const done = await finished(runtime, run.id);
    expect(done).toMatchObject({ status: 'completed', output: { account: { id: 7, email: 'a@example.com' }, charge: { charged: true } }, attempts: 1 });
    expect(calls).toEqual(['create', 'charge']);
    expect(done.steps!.map((s) => [s.name, s.kind, s.status])).toEqual([
      ['create account', 'step', 'completed'],
      ['wait a bit', 'sleep', 'completed'],
      ['verified', 'wait', 'completed'],
      ['charge', 'step', 'completed'],
    ]);
  });

  it('an event sent before the run reaches its wait is not lost; a timeout returns null; two waits take two events', async () => {
    const flow = defineWorkflow('events', async (ctx) => {
      await ctx.sleep('first', '300ms');
      const a = await ctx.waitForEvent('a', { event: 'ping', key: 'k', timeout: '5s' });
      const b = await ctx.waitForEvent('b', { event: 'ping', key: 'k', timeout: '5s' });
      const none = await ctx.waitForEvent('never', { event: 'nobody-sends', timeout: '100ms' });
      return { a, b, none };
    });
    const runtime = await runtimeWith([flow]);
    const { run } = await runtime.workflows.startRun('events', {});
    await runtime.workflows.sendEvent('ping', 'k', 1);
    await runtime.workflows.sendEvent('ping', 'other-key', 99);
    await runtime.workflows.sendEvent('ping', 'k', 2);
    const done = await finished(runtime, run.id);
    expect(done).toMatchObject({ status: 'completed', output: { a: 1, b: 2, none: null } });
  });

  it('which events a run takes is decided by the database\'s order, not clocks', async () => {
    const flow = defineWorkflow('ordered', async (ctx) => {
      const early = await ctx.waitForEvent('early', { event: 'sent-before', timeout: '300ms' });
      const late = await ctx.waitForEvent('late', { event: 'sent-after', timeout: '10s' });
      return { early, late };
    });
    const runtime = await runtimeWith([flow]);
    // Sent before the run exists, by a host whose clock runs a minute ahead: not for this run.
    await runtime.workflowRepo.sendEvent('sent-before', null, '"early"', Date.now() + 60_000);
    const { run } = await runtime.workflows.startRun('ordered', {});
    await waitFor(async () => (await runtime.workflows.getRun(run.id)).waiting_for?.some((w) => w.kind === 'event' && w.event === 'sent-after'), 10_000, 'the second wait');
    // Sent after, by a host whose clock runs a minute behind: for this run.
    expect(await runtime.workflowRepo.sendEvent('sent-after', null, '"late"', Date.now() - 60_000)).toBe(1);
    expect(await finished(runtime, run.id)).toMatchObject({ status: 'completed', output: { early: null, late: 'late' } });
  });

  it('a step failing twice then succeeding is retried without a worker; one always failing is caught by the code', async () => {
    let flaky = 0;
    let broken = 0;
    const flow = defineWorkflow('retries', async (ctx) => {
      const value = await ctx.step('flaky', () => {
        if (++flaky < 3) throw new Error(`flake ${flaky}`);
        return 'ok';
      });
      let caught: string | null = null;
      try {
        await ctx.step('broken', () => {
          broken++;
          throw new Error('always');
        }, { retries: 1 });
      } catch (error) {
        caught = (error as Error).message;
      }
      return { value, caught };
    });
    const runtime = await runtimeWith([flow]);
    const { run } = await runtime.workflows.startRun('retries', {});
    const done = await finished(runtime, run.id);
    expect(done).toMatchObject({ status: 'completed', output: { value: 'ok', caught: 'always' } });
    expect([flaky, broken]).toEqual([3, 2]);
    expect(done.steps!.find((s) => s.name === 'flaky')).toMatchObject({ status: 'completed', attempts: 3 });
    expect(done.steps!.find((s) => s.name === 'broken')).toMatchObject({ status: 'failed', attempts: 2, error: 'always' });
  });

  it('an uncaught step failure fails the run; retry resumes at that step, not before it', async () => {
    let first = 0;
    let fail = true;
    const flow = defineWorkflow('resume', async (ctx) => {
      await ctx.step('first', () => ++first);
      return ctx.step('second', () => {
        if (fail) throw new TaskFailure('declined', { permanent: true });
        return 'charged';
      });
    });
    const runtime = await runtimeWith([flow]);
    const { run } = await runtime.workflows.startRun('resume', {});
    expect(await finished(runtime, run.id)).toMatchObject({ status: 'failed', error: 'declined' });
    fail = false;
    await runtime.workflows.retryRun(run.id);
    expect(await finished(runtime, run.id)).toMatchObject({ status: 'completed', output: 'charged' });
    expect(first).toBe(1);
  });

  it('repeated names become name#2, name#3; a step recorded as another kind fails the run with workflow_changed', async () => {
    let changed = false;
    const flow = defineWorkflow('loop', async (ctx) => {
      const out: number[] = [];
      for (let i = 0; i < 3; i++) out.push(await ctx.step('item', () => i));
      if (changed) await ctx.step('pause', () => 1);
      else await ctx.sleep('pause', '300ms');
      return out;
    });
    const runtime = await runtimeWith([flow]);
    const { run } = await runtime.workflows.startRun('loop', {});
    await waitFor(async () => (await runtime.workflows.getRun(run.id)).waiting_for !== null, 10_000, 'the sleep');
    expect((await runtime.workflows.getRun(run.id)).steps!.map((s) => s.name)).toEqual(['item', 'item#2', 'item#3', 'pause']);
    changed = true;
    const done = await finished(runtime, run.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/workflow_changed: "pause" was recorded as a sleep, the code now calls a step/);
  });

  it('a child run: the parent waits without a worker and gets its output; a failed child throws into the parent', async () => {
    const child = defineWorkflow('child', async (ctx, input: { n: number }) => {
      await ctx.sleep('nap', '200ms');
      if (input.n < 0) throw new Error('negative');
      return input.n * 2;
    });
    const parent = defineWorkflow('parent', async (ctx, input: { n: number }) => {
      try {
        return { doubled: await ctx.invoke('double', child, input) };
      } catch (error) {
        return { error: (error as Error).message };
      }
    });
    const runtime = await runtimeWith([child, parent], { TASK_WORKERS: '1' });
    const ok = (await runtime.workflows.startRun('parent', { input: { n: 21 } })).run;
    const bad = (await runtime.workflows.startRun('parent', { input: { n: -1 } })).run;
    expect(await finished(runtime, ok.id)).toMatchObject({ status: 'completed', output: { doubled: 42 } });
    expect(await finished(runtime, bad.id)).toMatchObject({ status: 'completed', output: { error: 'negative' } });
  });

  it("a child's start and end wake this process's poller: with a 30 s poll interval, parent and child finish long before a tick", async () => {
    const child = defineWorkflow('quick-child', async (ctx) => ctx.step('work', () => 'done'));
    const parent = defineWorkflow('quick-parent', async (ctx) => ctx.invoke('child', child, {}));
    const runtime = await runtimeWith([child, parent], { TASK_POLL_INTERVAL_SECONDS: '30' });
    // The start-up poll has run; from here only wake-ups can start the child and resume the parent.
    await waitFor(() => runtime.poller.polls >= 1, 10_000, 'the start-up poll');
    const { run } = await runtime.workflows.startRun('quick-parent', {});
    expect(await finished(runtime, run.id, 15_000)).toMatchObject({ status: 'completed', output: 'done' });
  });

  it('limits: an output over WORKFLOW_MAX_STEP_BYTES fails that step naming the size; more than WORKFLOW_MAX_STEPS fails the run', async () => {
    const big = defineWorkflow('big', async (ctx) => {
      try {
        await ctx.step('huge', () => 'x'.repeat(5000));
      } catch (error) {
        return (error as Error).message;
      }
      return 'no error';
    });
    const many = defineWorkflow('many', async (ctx) => {
      for (let i = 0; i < 10; i++) await ctx.step('s', () => i);
      return 'done';
    });
    const runtime = await runtimeWith([big, many], { WORKFLOW_MAX_STEP_BYTES: '4096', WORKFLOW_MAX_STEPS: '5' });
    const a = (await runtime.workflows.startRun('big', {})).run;
    const b = (await runtime.workflows.startRun('many', {})).run;
    expect((await finished(runtime, a.id)).output).toMatch(/step "huge" output is 5002 bytes, over WORKFLOW_MAX_STEP_BYTES \(4096\)/);
    expect(await finished(runtime, b.id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/more than 5 steps/) });
  });

  it('retrying a parent that failed with its child resumes the child at its failed step, then the parent', async () => {
    let fail = true;
    let first = 0;
    const child = defineWorkflow('flaky-child', async (ctx) => {
      await ctx.step('first', () => ++first);
      return ctx.step('may fail', () => {
        if (fail) throw new TaskFailure('not yet', { permanent: true });
        return 'ok';
      });
    });
    const parent = defineWorkflow('parent-of-flaky', async (ctx) => ({ child: await ctx.invoke('child', child, {}) }));
    const runtime = await runtimeWith([child, parent]);
    const { run } = await runtime.workflows.startRun('parent-of-flaky', {});
    expect(await finished(runtime, run.id)).toMatchObject({ status: 'failed', error: 'not yet' });
    fail = false;
    await runtime.workflows.retryRun(run.id);
    expect(await finished(runtime, run.id)).toMatchObject({ status: 'completed', output: { child: 'ok' } });
    expect(first).toBe(1);
  });

  it('cancelling a sleeping parent cancels its running child', async () => {
    const child = defineWorkflow('slow-child', async (ctx) => {
      await ctx.sleep('long', '1h');
      return 'never';
    });
    const parent = defineWorkflow('slow-parent', async (ctx) => ctx.invoke('child', child, {}));
    const runtime = await runtimeWith([child, parent]);
    const { run } = await runtime.workflows.startRun('slow-parent', {});
    const childId = await waitFor(async () => (await runtime.workflows.getRun(run.id)).steps?.[0]?.child_run_id, 10_000, 'the child to start');
    await waitFor(async () => (await runtime.workflows.getRun(childId)).waiting_for !== null, 10_000, 'the child to sleep');
    await runtime.workflows.cancelRun(run.id);
    expect((await runtime.workflows.getRun(run.id)).status).toBe('cancelled');
    expect((await runtime.workflows.getRun(childId)).status).toBe('cancelled');
  });
});
