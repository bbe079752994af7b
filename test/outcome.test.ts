import { describe, expect, it } from 'vitest';
import { backoffMs, decideOutcome, errorText, StopReason, type HandlerEnd, type RetryPolicy } from '../lib/processing/outcome.ts';
import { TaskFailure } from '../lib/processing/task-failure.ts';
import { newTask, withId, type Task } from '../lib/tasks/model.ts';

/**
 * decideOutcome (lib/processing/outcome.ts), the table in its header comment, row by row: pure,
 * with a fixed clock and a fixed random draw, no database.
 */

const NOW = 1_700_000_000_000;
const POLICY: RetryPolicy = { backoffBaseMs: 1000, backoffMaxMs: 60_000 };

/** A claimed task on its `attempts`-th attempt of `maxAttempts`. */
function claimed(attempts: number, maxAttempts = 3): Task {
  const task = withId(newTask({ title: 't', description: 'd', type: 'x', priority: 0, runAt: NOW - 5000, maxAttempts, createdAt: NOW - 5000, updatedAt: NOW - 10 }), 1234);
  return { ...task, status: 'in_progress', version: 2, attempts, startedAt: NOW - 10, leaseExpiresAt: NOW + 30_000, lockedBy: 'w1' };
}

const returned = (value: unknown): HandlerEnd => ({ kind: 'returned', value });
const threw = (error: unknown): HandlerEnd => ({ kind: 'threw', error });
const stopped = (kind: StopReason['kind'], message: string = kind): HandlerEnd => ({ kind: 'stopped', reason: new StopReason(kind, message) });

describe('decideOutcome', () => {
  it('returned JSON → completed with the result as JSON text, lease and last error cleared', () => {
    const task = claimed(1);
    const decision = decideOutcome(task, returned({ ok: true, n: [1, 2] }), POLICY, NOW);
    expect(decision.outcome).toBe('completed');
    expect(decision.error).toBeUndefined();
    expect(decision.request).toEqual({ task, to: 'completed', now: NOW, fields: { result: '{"ok":true,"n":[1,2]}', completedAt: NOW, leaseExpiresAt: null, lastError: null } });
  });

  it('returned undefined → completed with JSON null', () => {
    expect(decideOutcome(claimed(1), returned(undefined), POLICY, NOW).request?.fields?.result).toBe('null');
    expect(decideOutcome(claimed(1), returned(null), POLICY, NOW).request?.fields?.result).toBe('null');
  });

  it('returned something not JSON-serialisable → the failure path: retried with attempts left, failed on the last', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const retried = decideOutcome(claimed(1), returned(cyclic), POLICY, NOW, () => 1);
    expect(retried.outcome).toBe('retried');
    expect(retried.request?.to).toBe('pending');
    expect(retried.error).toMatch(/^handler result is not JSON-serialisable: TypeError: /);
    expect(retried.request?.fields?.lastError).toBe(retried.error);

    const failed = decideOutcome(claimed(3), returned(10n), POLICY, NOW);
    expect(failed.outcome).toBe('failed');
    expect(failed.error).toMatch(/^handler result is not JSON-serialisable: TypeError: .*BigInt/);
  });

  it('threw with attempts left → pending, run_at in [now + base/2, now + base] on the first attempt, lease cleared', () => {
    const task = claimed(1);
    for (const draw of [0, 0.25, 0.5, 0.999, 1]) {
      const decision = decideOutcome(task, threw(new Error('boom')), POLICY, NOW, () => draw);
      expect(decision.outcome).toBe('retried');
      expect(decision.error).toBe('boom');
      const fields = decision.request!.fields!;
      expect(decision.request).toMatchObject({ task, to: 'pending', now: NOW });
      expect(fields.runAt).toBeGreaterThanOrEqual(NOW + POLICY.backoffBaseMs / 2);
      expect(fields.runAt).toBeLessThanOrEqual(NOW + POLICY.backoffBaseMs);
      expect(fields).toMatchObject({ lastError: 'boom', leaseExpiresAt: null });
      expect(fields.completedAt).toBeUndefined();
    }
    // Extremes of the draw are the ends of the window.
    expect(decideOutcome(task, threw(new Error('x')), POLICY, NOW, () => 0).request!.fields!.runAt).toBe(NOW + 500);
    expect(decideOutcome(task, threw(new Error('x')), POLICY, NOW, () => 1).request!.fields!.runAt).toBe(NOW + 1000);
  });

  it('the backoff doubles per attempt and is capped at backoffMax', () => {
    const policy: RetryPolicy = { backoffBaseMs: 1000, backoffMaxMs: 3000 };
    const runAt = (attempts: number) => decideOutcome(claimed(attempts, 10), threw(new Error('x')), policy, NOW, () => 1).request!.fields!.runAt;
    expect([1, 2, 3, 4, 9].map(runAt)).toEqual([NOW + 1000, NOW + 2000, NOW + 3000, NOW + 3000, NOW + 3000]);
    expect(backoffMs(3, 1000, 60_000, () => 0)).toBe(2000);
    expect(backoffMs(3, 1000, 60_000, () => 1)).toBe(4000);
  });

  it('threw on the last attempt → failed, completed_at now, lease cleared', () => {
    const task = claimed(3, 3);
    const decision = decideOutcome(task, threw(new RangeError('out of range')), POLICY, NOW);
    expect(decision.outcome).toBe('failed');
    expect(decision.error).toBe('RangeError: out of range');
    expect(decision.request).toEqual({ task, to: 'failed', now: NOW, fields: { lastError: 'RangeError: out of range', completedAt: NOW, leaseExpiresAt: null }, attempt: { outcome: 'failed', error: 'RangeError: out of range' } });
  });

  it('a permanent TaskFailure → failed at once, with attempts left', () => {
    const decision = decideOutcome(claimed(1, 5), threw(new TaskFailure('HTTP 404', { permanent: true })), POLICY, NOW);
    expect(decision.outcome).toBe('failed');
    expect(decision.request?.to).toBe('failed');
    expect(decision.error).toBe('HTTP 404');
  });

  it('a TaskFailure with retryAt → run_at = retryAt, capped at now + backoffMax', () => {
    const at = (retryAt: number) => decideOutcome(claimed(1), threw(new TaskFailure('429', { retryAt })), POLICY, NOW, () => 1).request!.fields!.runAt;
    expect(at(NOW + 7_000)).toBe(NOW + 7_000);
    expect(at(NOW + 3_600_000)).toBe(NOW + POLICY.backoffMaxMs);
    // Not later than now: the ordinary backoff.
    expect(at(NOW - 1)).toBe(NOW + 1000);
    // retryAt does not extend the attempts: on the last one the task fails.
    expect(decideOutcome(claimed(3), threw(new TaskFailure('429', { retryAt: NOW + 7_000 })), POLICY, NOW).outcome).toBe('failed');
  });

  it('cancelled → no request (the cancel already wrote cancelled)', () => {
    expect(decideOutcome(claimed(1), stopped('cancelled'), POLICY, NOW)).toEqual({ outcome: 'cancelled' });
  });

  it('lease lost → no request (another worker owns the task now)', () => {
    expect(decideOutcome(claimed(1), stopped('lease_lost'), POLICY, NOW)).toEqual({ outcome: 'lost' });
  });

  it('shutdown → released to pending, unleased, the attempt given back', () => {
    const task = claimed(3, 3);
    const decision = decideOutcome(task, stopped('shutdown'), POLICY, NOW);
    expect(decision.outcome).toBe('released');
    expect(decision.request).toEqual({ task, to: 'pending', now: NOW, fields: { leaseExpiresAt: null, attemptsDelta: -1, startedAt: null }, attempt: { outcome: 'released', error: null } });
  });

  it('timeout → the failure path, with the timeout message as last_error', () => {
    const message = 'timed out after 30s';
    const retried = decideOutcome(claimed(1), stopped('timeout', message), POLICY, NOW, () => 1);
    expect(retried.outcome).toBe('retried');
    expect(retried.request?.fields).toMatchObject({ lastError: `StopReason: ${message}`, runAt: NOW + 1000 });
    const failed = decideOutcome(claimed(3), stopped('timeout', message), POLICY, NOW);
    expect(failed.outcome).toBe('failed');
    expect(failed.error).toBe(`StopReason: ${message}`);
    // The attempt is recorded as timed out, whether the task is retried or failed.
    expect(retried.request?.attempt).toEqual({ outcome: 'timed_out', error: `StopReason: ${message}` });
    expect(failed.request?.attempt).toEqual({ outcome: 'timed_out', error: `StopReason: ${message}` });
  });

  describe('a stopped handler that has not returned yet: the lease stays, and a pending task waits for it', () => {
    const running = (kind: StopReason['kind']): HandlerEnd => ({ kind: 'stopped', reason: new StopReason(kind, kind), running: true });
    const lease = NOW + 30_000;

    it('shutdown → released, due when the lease ends; due now once the handler returns', () => {
      const task = claimed(1);
      const decision = decideOutcome(task, running('shutdown'), POLICY, NOW);
      expect(decision).toEqual({ outcome: 'released', dueAt: NOW, request: { task, to: 'pending', now: NOW, fields: { attemptsDelta: -1, startedAt: null, runAt: lease }, attempt: { outcome: 'released', error: null } } });
    });

    it('timeout with attempts left → retried when the lease ends; at its backoff once the handler returns', () => {
      const decision = decideOutcome(claimed(1), running('timeout'), POLICY, NOW, () => 1);
      expect(decision).toMatchObject({ outcome: 'retried', dueAt: NOW + 1000 });
      expect(decision.request!.fields).toEqual({ lastError: 'StopReason: timeout', runAt: lease });
      // A backoff beyond the lease is kept.
      expect(decideOutcome(claimed(6, 9), running('timeout'), POLICY, NOW, () => 1).request!.fields!.runAt).toBe(NOW + 32_000);
    });

    it('timeout on the last attempt → failed with the lease kept (a retry waits for it)', () => {
      const decision = decideOutcome(claimed(3), running('timeout'), POLICY, NOW);
      expect(decision).toMatchObject({ outcome: 'failed', dueAt: 0 });
      expect(decision.request!.fields).toEqual({ lastError: 'StopReason: timeout', completedAt: NOW });
    });

    it('cancelled, lease lost → no request, as when the handler has returned', () => {
      expect(decideOutcome(claimed(1), running('cancelled'), POLICY, NOW)).toEqual({ outcome: 'cancelled' });
      expect(decideOutcome(claimed(1), running('lease_lost'), POLICY, NOW)).toEqual({ outcome: 'lost' });
    });
  });
});

describe('errorText', () => {
  it('names the error class except for plain Error and TaskFailure; non-errors as strings', () => {
    expect(errorText(new Error('plain'))).toBe('plain');
    expect(errorText(new TypeError('typed'))).toBe('TypeError: typed');
    expect(errorText(new TaskFailure('steered'))).toBe('steered');
    expect(errorText('a string')).toBe('a string');
    expect(errorText(42)).toBe('42');
  });

  it('truncates at 2,000 characters with an ellipsis; 2,000 exactly stays whole', () => {
    expect(errorText(new Error('x'.repeat(2000)))).toBe('x'.repeat(2000));
    const long = errorText(new Error('y'.repeat(5000)));
    expect(long).toBe(`${'y'.repeat(2000)}…`);
    expect(long).toHaveLength(2001);
    // The truncated text is what a failure records.
    const decision = decideOutcome(claimed(3), threw(new Error('z'.repeat(3000))), POLICY, NOW);
    expect(decision.request?.fields?.lastError).toBe(`${'z'.repeat(2000)}…`);
  });
});

describe('a TaskFailure from another copy of its module (a handlers module loaded as CommonJS)', () => {
  // A second module instance, as tsx's CommonJS loader gives a user's module
  // (test/task-failure.processes.test.ts shows it with real processes).
  const copyPath = '../lib/processing/task-failure.ts?another-copy';
  const loadCopy = () => import(/* @vite-ignore */ copyPath) as Promise<typeof import('../lib/processing/task-failure.ts')>;

  it('is another class, recognised all the same: permanent fails at once, retryAt steers, no class name in last_error', async () => {
    const { TaskFailure: Foreign, isTaskFailure } = await loadCopy();
    expect(Foreign).not.toBe(TaskFailure);
    const permanent = new Foreign('card declined', { permanent: true });
    expect(Object.getPrototypeOf(permanent)).not.toBe(TaskFailure.prototype);

    const decision = decideOutcome(claimed(1, 3), threw(permanent), POLICY, NOW);
    expect(decision.outcome).toBe('failed');
    expect(decision.error).toBe('card declined');
    expect(decideOutcome(claimed(1), threw(new Foreign('429', { retryAt: NOW + 7_000 })), POLICY, NOW).request!.fields!.runAt).toBe(NOW + 7_000);
    // Either copy's guard and `instanceof` know the other's instances.
    expect(isTaskFailure(new TaskFailure('x'))).toBe(true);
    expect(permanent instanceof TaskFailure).toBe(true);
    expect(new TaskFailure('x') instanceof Foreign).toBe(true);
  });

  it('an error that only looks like one (name, permanent) is not steered', () => {
    const lookalike = Object.assign(new Error('declined'), { name: 'TaskFailure', permanent: true });
    expect(decideOutcome(claimed(1, 3), threw(lookalike), POLICY, NOW).outcome).toBe('retried');
    expect(lookalike instanceof TaskFailure).toBe(false);
  });

  it('a subclass keeps the ordinary prototype check', () => {
    class CardDeclined extends TaskFailure {}
    expect(new CardDeclined('no', { permanent: true }) instanceof CardDeclined).toBe(true);
    expect(new TaskFailure('no') instanceof CardDeclined).toBe(false);
    expect(decideOutcome(claimed(1, 3), threw(new CardDeclined('no', { permanent: true })), POLICY, NOW).outcome).toBe('failed');
  });
});
