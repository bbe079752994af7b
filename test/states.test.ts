import { describe, expect, it } from 'vitest';
import { canTransition, STATUSES, TRANSITIONS, type TaskStatus } from '../lib/tasks/states.ts';

/** The one state machine (lib/tasks/states.ts): canTransition agrees with TRANSITIONS, and its properties. */

const ALL_PAIRS = STATUSES.flatMap((from) => STATUSES.map((to) => [from, to] as [TaskStatus, TaskStatus]));

describe('canTransition', () => {
  it.each(STATUSES.flatMap((from) => TRANSITIONS[from].map((to) => [from, to])))('allows %s → %s', (from, to) => {
    expect(canTransition(from as TaskStatus, to as TaskStatus)).toBe(true);
  });

  it.each([
    ['pending', 'completed'],
    ['pending', 'failed'],
    ['pending', 'pending'],
    ['completed', 'pending'],
    ['completed', 'failed'],
    ['completed', 'cancelled'],
    ['failed', 'completed'],
    ['failed', 'in_progress'],
    ['failed', 'cancelled'],
    ['cancelled', 'in_progress'],
    ['cancelled', 'completed'],
    ['cancelled', 'cancelled'],
  ] as [TaskStatus, TaskStatus][])('forbids %s → %s', (from, to) => {
    expect(TRANSITIONS[from]).not.toContain(to);
    expect(canTransition(from, to)).toBe(false);
  });

  it('says yes exactly for the edges in TRANSITIONS, for every pair of statuses', () => {
    const allowed = ALL_PAIRS.filter(([from, to]) => canTransition(from, to)).map((pair) => pair.join('→'));
    const listed = STATUSES.flatMap((from) => TRANSITIONS[from].map((to) => `${from}→${to}`));
    expect(allowed.sort()).toEqual(listed.sort());
    // Every status has an entry, and every target is a status.
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...STATUSES].sort());
    for (const targets of Object.values(TRANSITIONS)) for (const to of targets) expect(STATUSES).toContain(to);
  });
});

describe('state machine properties', () => {
  it('nothing leaves completed', () => {
    for (const to of STATUSES) expect(canTransition('completed', to), `completed → ${to}`).toBe(false);
  });

  it('the only way out of failed and cancelled is a retry to pending', () => {
    for (const from of ['failed', 'cancelled'] as const) {
      expect(STATUSES.filter((to) => canTransition(from, to))).toEqual(['pending']);
    }
  });

  it('a retry (back to pending from a finished state) starts only from failed or cancelled', () => {
    const finished: TaskStatus[] = ['completed', 'failed', 'cancelled'];
    expect(finished.filter((from) => canTransition(from, 'pending'))).toEqual(['failed', 'cancelled']);
  });

  it('only a claimed task can finish: completed and failed are reached from in_progress alone', () => {
    for (const end of ['completed', 'failed'] as const) {
      expect(STATUSES.filter((from) => canTransition(from, end))).toEqual(['in_progress']);
    }
  });

  it('a claim starts from pending (or re-claims in_progress after lease expiry), never from a finished task', () => {
    expect(STATUSES.filter((from) => canTransition(from, 'in_progress'))).toEqual(['pending', 'in_progress']);
  });

  it('every status is reachable from pending', () => {
    const seen = new Set<TaskStatus>(['pending']);
    const frontier: TaskStatus[] = ['pending'];
    while (frontier.length > 0) {
      for (const to of TRANSITIONS[frontier.pop()!]) if (!seen.has(to)) (seen.add(to), frontier.push(to));
    }
    expect([...seen].sort()).toEqual([...STATUSES].sort());
  });
});
