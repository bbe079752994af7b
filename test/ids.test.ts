import { describe, expect, it } from 'vitest';
import { formatTaskId, ID_EPOCH_MS, idFloor, IDS_PER_MS, isLegacyTaskId, isTaskId, parseTaskId } from '../lib/tasks/ids.ts';

/** Task ids' public form and their time floor (lib/tasks/ids.ts); the database assigns them (test/ids.storage.test.ts). */
describe('task ids', () => {
  it('format as 16 digits whose string order is the numbers\' order, and parse back', () => {
    const ids = [0, 1, 9, 10, 4095, 4096, idFloor(Date.now()), idFloor(Date.now()) + 1, Number.MAX_SAFE_INTEGER];
    const formatted = ids.map(formatTaskId);
    for (const text of formatted) expect(text).toMatch(/^\d{16}$/);
    expect([...formatted].sort()).toEqual(formatted);
    expect(formatted.map(parseTaskId)).toEqual(ids);
    expect(formatted.every(isTaskId)).toBe(true);
  });

  it('parse nothing that is not exactly 16 digits of a safe integer', () => {
    for (const text of ['', '1', '000000000000001', '00000000000000001', ' 000000000000001', '-000000000000001', '000000000000001a', '9007199254740992', '9999999999999999', '0x00000000000001']) {
      expect(parseTaskId(text), text).toBeNull();
      expect(isTaskId(text), text).toBe(false);
    }
  });

  it('floor: 4,096 ids a millisecond from 2025-01-01, below 2^53 until 2094', () => {
    expect(ID_EPOCH_MS).toBe(Date.parse('2025-01-01T00:00:00Z'));
    expect(idFloor(ID_EPOCH_MS)).toBe(0);
    expect(idFloor(ID_EPOCH_MS - 1000)).toBe(0);
    expect(idFloor(ID_EPOCH_MS + 1) - idFloor(ID_EPOCH_MS)).toBe(IDS_PER_MS);
    expect(idFloor(ID_EPOCH_MS + 1.9)).toBe(IDS_PER_MS);
    expect(Number.isSafeInteger(idFloor(Date.parse('2094-09-01T00:00:00Z')))).toBe(true);
    expect(Number.isSafeInteger(idFloor(Date.parse('2094-11-01T00:00:00Z')))).toBe(false);
  });

  it('tells an id from before the rowid migration (a lower-case UUID) from a current one', () => {
    expect(isLegacyTaskId('0198f4c2-1a2b-7c3d-8e4f-000000000001')).toBe(true);
    expect(isLegacyTaskId('0198F4C2-1A2B-7C3D-8E4F-000000000001')).toBe(false);
    expect(isLegacyTaskId(formatTaskId(idFloor(Date.now())))).toBe(false);
    expect(isTaskId('0198f4c2-1a2b-7c3d-8e4f-000000000001')).toBe(false);
  });
});
