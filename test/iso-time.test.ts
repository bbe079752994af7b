import { describe, expect, it } from 'vitest';
import { isoTime } from '../lib/foundation/iso-time.ts';

/** isoTime is toISOString, faster: the same string for every millisecond it is given. */
describe('isoTime', () => {
  it('matches toISOString across days, years and the edges of its fast range', () => {
    const samples = [
      0, 1, 999, 1000, 59_999, 60_000, 3_599_999, 86_399_999, 86_400_000, Date.UTC(2024, 1, 29, 23, 59, 59, 999),
      Date.UTC(2026, 10, 30, 13, 40, 2, 5), Date.UTC(2026, 10, 30, 13, 40, 2, 50), -1, -86_400_001, Date.UTC(1969, 11, 31, 0, 0, 0, 7),
      -62_167_219_200_000, -62_167_219_200_001, 253_402_300_799_999, 253_402_300_800_000, 8.64e15, -8.64e15,
    ];
    // A pseudo-random walk over 200 years, alternating days so the cached date part is replaced.
    let seed = 42;
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      samples.push(Date.UTC(1900, 0, 1) + Math.floor((seed / 2 ** 31) * 200 * 365.25 * 86_400_000));
    }
    for (const ms of samples) expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString());
  });

  it('throws like toISOString for an invalid time', () => {
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
  });
});
