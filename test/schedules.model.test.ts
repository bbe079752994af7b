import { describe, expect, it } from 'vitest';
import { cronProblem, nextOccurrence, planFire, timezoneProblem } from '../lib/schedules/model.ts';

/**
 * The pure schedule model: when occurrences fall in a time zone across daylight-saving
 * changes, and what a fire does with missed ones. No database, no clock: every instant is given.
 */
const at = (iso: string) => Date.parse(iso);
const isoList = (times: number[]) => times.map((t) => new Date(t).toISOString());

function occurrences(cron: string, timezone: string, fromIso: string, toIso: string): string[] {
  const out: number[] = [];
  for (let t = nextOccurrence(cron, timezone, at(fromIso)); t !== null && t < at(toIso); t = nextOccurrence(cron, timezone, t)) out.push(t);
  return isoList(out);
}

describe('occurrences across daylight-saving changes', () => {
  it('Europe/Berlin 30 2 * * *: 2026-03-29 has no 02:30, it runs once at 03:00 CEST', () => {
    expect(occurrences('30 2 * * *', 'Europe/Berlin', '2026-03-27T00:00:00Z', '2026-03-31T00:00:00Z')).toEqual([
      '2026-03-27T01:30:00.000Z', // 02:30 CET
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:00:00.000Z', // 03:00 CEST, the first valid time after the gap
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
  });

  it('Europe/Berlin 30 2 * * *: 2026-10-25 has 02:30 twice, it runs once', () => {
    expect(occurrences('30 2 * * *', 'Europe/Berlin', '2026-10-23T12:00:00Z', '2026-10-27T00:00:00Z')).toEqual([
      '2026-10-24T00:30:00.000Z',
      '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST); not again at 01:30Z (CET)
      '2026-10-26T01:30:00.000Z', // 02:30 CET
    ]);
  });

  it('America/New_York: 02:30 on 2026-03-08 runs at 03:00 EDT; 01:30 on 2026-11-01 runs once', () => {
    expect(occurrences('30 2 * * *', 'America/New_York', '2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z')).toEqual([
      '2026-03-07T07:30:00.000Z',
      '2026-03-08T07:00:00.000Z',
      '2026-03-09T06:30:00.000Z',
    ]);
    expect(occurrences('30 1 * * *', 'America/New_York', '2026-10-31T00:00:00Z', '2026-11-03T00:00:00Z')).toEqual([
      '2026-10-31T05:30:00.000Z',
      '2026-11-01T05:30:00.000Z', // 01:30 EDT; 01:30 EST (06:30Z) is the same local time again
      '2026-11-02T06:30:00.000Z',
    ]);
  });

  it('UTC has no changes: 02:30 every day', () => {
    expect(occurrences('30 2 * * *', 'UTC', '2026-03-28T00:00:00Z', '2026-03-31T00:00:00Z')).toEqual([
      '2026-03-28T02:30:00.000Z',
      '2026-03-29T02:30:00.000Z',
      '2026-03-30T02:30:00.000Z',
    ]);
  });

  it('an interval job (step in the hour) runs at every real matching instant, both repeated hours included', () => {
    expect(occurrences('0 * * * *', 'Europe/Berlin', '2026-10-24T23:30:00Z', '2026-10-25T02:30:00Z')).toEqual([
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET
      '2026-10-25T02:00:00.000Z',
    ]);
  });

  it('6 fields: every second', () => {
    expect(occurrences('* * * * * *', 'UTC', '2026-01-01T00:00:00.400Z', '2026-01-01T00:00:03.500Z')).toEqual([
      '2026-01-01T00:00:01.000Z',
      '2026-01-01T00:00:02.000Z',
      '2026-01-01T00:00:03.000Z',
    ]);
  });
});

describe('validation', () => {
  it('accepts 5 and 6 fields and nicknames', () => {
    for (const cron of ['30 2 * * *', '*/5 * * * * *', '0 0 29 2 *', '@daily']) expect(cronProblem(cron)).toBeNull();
  });

  it('names the problem for bad expressions', () => {
    expect(cronProblem('* * * * * * *')).toMatch(/^cron must have 5 fields .* got 7$/);
    expect(cronProblem('* * * *')).toMatch(/got 4$/);
    expect(cronProblem('61 * * * *')).toMatch(/^cron is invalid: .*minute/);
    expect(cronProblem('not a cron at all')).toMatch(/^cron /);
    expect(cronProblem('0 0 30 2 *')).toBe('cron never matches a date');
    expect(cronProblem(`0 0 1 1 ${'1,'.repeat(200)}1`)).toMatch(/at most 200/);
  });

  it('knows IANA zones and nothing else', () => {
    for (const zone of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata']) expect(timezoneProblem(zone)).toBeNull();
    for (const zone of ['Mars/Olympus_Mons', 'Europe/Berlinn', '', '+01:00 or so']) expect(timezoneProblem(zone)).toMatch(/not a known IANA time zone/);
  });
});

describe('planFire: missed occurrences', () => {
  const everySecond = { cron: '* * * * * *', timezone: 'UTC' };
  const due = at('2026-05-01T10:00:01Z');
  const now = at('2026-05-01T10:00:05.500Z'); // 10:00:01 … 10:00:05 fell due: five

  it('one due occurrence is fired however late, under every policy', () => {
    const daily = { cron: '0 3 * * *', timezone: 'UTC', nextRunAt: at('2026-05-01T03:00:00Z') };
    for (const missed of ['skip', 'once', 'all'] as const) {
      expect(planFire({ ...daily, missed }, at('2026-05-01T09:00:00Z'), 100)).toEqual({
        occurrences: [at('2026-05-01T03:00:00Z')],
        nextRunAt: at('2026-05-02T03:00:00Z'),
        dropped: 0,
        missed: false,
      });
    }
  });

  it('skip: no task, next_run_at after now', () => {
    expect(planFire({ ...everySecond, missed: 'skip', nextRunAt: due }, now, 100)).toEqual({
      occurrences: [],
      nextRunAt: at('2026-05-01T10:00:06Z'),
      dropped: 5,
      missed: true,
    });
  });

  it('once: the latest missed occurrence only', () => {
    const plan = planFire({ ...everySecond, missed: 'once', nextRunAt: due }, now, 100);
    expect(isoList(plan.occurrences)).toEqual(['2026-05-01T10:00:05.000Z']);
    expect(plan.nextRunAt).toBe(at('2026-05-01T10:00:06Z'));
    expect(plan.dropped).toBe(4);
  });

  it('all: every missed occurrence, oldest first, at most the catch-up cap (the latest ones)', () => {
    expect(isoList(planFire({ ...everySecond, missed: 'all', nextRunAt: due }, now, 100).occurrences)).toEqual([
      '2026-05-01T10:00:01.000Z',
      '2026-05-01T10:00:02.000Z',
      '2026-05-01T10:00:03.000Z',
      '2026-05-01T10:00:04.000Z',
      '2026-05-01T10:00:05.000Z',
    ]);
    const capped = planFire({ ...everySecond, missed: 'all', nextRunAt: due }, now, 3);
    expect(isoList(capped.occurrences)).toEqual(['2026-05-01T10:00:03.000Z', '2026-05-01T10:00:04.000Z', '2026-05-01T10:00:05.000Z']);
    expect(capped.dropped).toBe(1); // counted among the latest cap + 1
    expect(capped.nextRunAt).toBe(at('2026-05-01T10:00:06Z'));
  });

  it('a week of every-second downtime costs the cap, not 604,800 occurrences', () => {
    const plan = planFire({ ...everySecond, missed: 'all', nextRunAt: due }, due + 7 * 86_400_000, 100);
    expect(plan.occurrences).toHaveLength(100);
    expect(plan.occurrences[99]).toBe(due + 7 * 86_400_000);
  });
});
