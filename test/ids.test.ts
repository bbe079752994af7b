import { validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import { newTaskId } from '../lib/tasks/ids.ts';

describe('newTaskId', () => {
  it('makes valid, unique, strictly increasing UUIDv7s across pool refills', () => {
    const ids = Array.from({ length: 5000 }, () => newTaskId());
    for (const id of ids) {
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
    }
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
  });

  it('stays increasing within one millisecond and when the clock goes back', () => {
    const t = Date.now() + 60_000;
    const a = newTaskId(t);
    const b = newTaskId(t);
    const c = newTaskId(t - 5000);
    expect(a < b && b < c).toBe(true);
    // The time prefix is the millisecond given (48 bits, hex).
    expect(parseInt(a.replace(/-/g, '').slice(0, 12), 16)).toBe(t);
  });
});
