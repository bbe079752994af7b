import { describe, expect, it } from 'vitest';
import { occurrenceKey } from '../lib/schedules/model.ts';
import { ManualClock, openSchedules, scheduleInput, type ScheduleFixture } from './schedules-helpers.ts';
import { tempDbUrl } from './helpers.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * The schedule service on a real libSQL file with a manual clock: a poll every few minutes
 * across daylight-saving changes, downtime under each missed policy, pause, resume, trigger
 * and delete, and two services firing the same database at once.
 */

/** Polls (fireDue) every `stepMs` from the clock's time until `untilIso`. */
async function pollUntil(f: ScheduleFixture, untilIso: string, stepMs: number): Promise<void> {
  const until = Date.parse(untilIso);
  while (f.clock.time < until) {
    f.clock.advance(stepMs);
    await f.service.fireDue();
  }
}

function localDate(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(iso));
}

describe('daily schedules across daylight-saving changes: one task per local day', () => {
  const cases = [
    {
      zone: 'Europe/Berlin', cron: '30 2 * * *', from: '2026-03-26T12:00:00Z', until: '2026-03-31T12:00:00Z',
      runs: ['2026-03-27T01:30:00.000Z', '2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z', '2026-03-31T00:30:00.000Z'],
    },
    {
      zone: 'Europe/Berlin', cron: '30 2 * * *', from: '2026-10-23T12:00:00Z', until: '2026-10-27T12:00:00Z',
      runs: ['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z', '2026-10-27T01:30:00.000Z'],
    },
    {
      zone: 'America/New_York', cron: '30 2 * * *', from: '2026-03-06T12:00:00Z', until: '2026-03-09T12:00:00Z',
      runs: ['2026-03-07T07:30:00.000Z', '2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z'],
    },
    {
      zone: 'America/New_York', cron: '30 1 * * *', from: '2026-10-30T12:00:00Z', until: '2026-11-02T12:00:00Z',
      runs: ['2026-10-31T05:30:00.000Z', '2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z'],
    },
    {
      zone: 'UTC', cron: '30 2 * * *', from: '2026-03-27T12:00:00Z', until: '2026-03-30T12:00:00Z',
      runs: ['2026-03-28T02:30:00.000Z', '2026-03-29T02:30:00.000Z', '2026-03-30T02:30:00.000Z'],
    },
  ];

  for (const c of cases) {
    it(`${c.zone} ${c.cron} from ${c.from.slice(0, 10)}`, async () => {
      const f = await openSchedules({ clock: new ManualClock(c.from) });
      await f.service.put('nightly', scheduleInput({ cron: c.cron, timezone: c.zone }));
      await pollUntil(f, c.until, 5 * 60_000);
      const tasks = await f.tasks();
      expect(tasks.map((t) => t.runAt)).toEqual(c.runs);
      expect(tasks.map((t) => t.key)).toEqual(c.runs.map((r) => occurrenceKey('nightly', Date.parse(r))));
      const days = tasks.map((t) => localDate(t.runAt, c.zone));
      expect(new Set(days).size).toBe(days.length);
      // Each fire is a log line naming the schedule and the occurrence.
      expect(f.logs.records().filter((l) => l.msg === 'schedule fired').map((l) => [l.schedule, l.occurrence])).toEqual(c.runs.map((r) => ['nightly', r]));
    });
  }
});

describe('every second (6 fields)', () => {
  it('polled every 250 ms for 10 s: exactly one task per second', async () => {
    const f = await openSchedules({ clock: new ManualClock('2026-05-01T10:00:00.100Z') });
    await f.service.put('tick', scheduleInput());
    await pollUntil(f, '2026-05-01T10:00:10.100Z', 250);
    const tasks = await f.tasks();
    expect(tasks.map((t) => t.runAt)).toEqual(Array.from({ length: 10 }, (_, i) => new Date(Date.parse('2026-05-01T10:00:01Z') + i * 1000).toISOString()));
    const schedule = await f.service.get('tick');
    expect(schedule.lastRunAt).toBe(Date.parse('2026-05-01T10:00:10Z'));
    expect(schedule.nextRunAt).toBe(Date.parse('2026-05-01T10:00:11Z'));
  });
});

describe('downtime: no poll for five occurrences, then one poll', () => {
  async function downtime(missed: 'skip' | 'once' | 'all', maxCatchup = 100) {
    const f = await openSchedules({ clock: new ManualClock('2026-05-01T10:00:00.500Z'), maxCatchup });
    await f.service.put('tick', scheduleInput({ missed }));
    f.clock.set('2026-05-01T10:00:01.100Z');
    await f.service.fireDue(); // 10:00:01 fires on time
    f.clock.set('2026-05-01T10:00:06.700Z'); // down across 10:00:02 … 10:00:06
    const summary = await f.service.fireDue();
    const tasks = (await f.tasks()).slice(1).map((t) => t.runAt.slice(11, 19));
    const schedule = await f.service.get('tick');
    expect(schedule.nextRunAt).toBe(Date.parse('2026-05-01T10:00:07Z'));
    expect(schedule.nextRunAt!).toBeGreaterThan(f.clock.time);
    return { tasks, summary, schedule, f };
  }

  it('skip: no task for the five, continues from now', async () => {
    const { tasks, summary, schedule } = await downtime('skip');
    expect(tasks).toEqual([]);
    expect(summary).toEqual({ fired: 1, tasks: 0, dropped: 5, lost: 0 });
    expect(schedule.lastRunAt).toBe(Date.parse('2026-05-01T10:00:01Z'));
  });

  it('once: one task, for the latest missed occurrence', async () => {
    const { tasks, summary } = await downtime('once');
    expect(tasks).toEqual(['10:00:06']);
    expect(summary).toEqual({ fired: 1, tasks: 1, dropped: 4, lost: 0 });
  });

  it('all: five tasks, one per missed occurrence', async () => {
    const { tasks, summary } = await downtime('all');
    expect(tasks).toEqual(['10:00:02', '10:00:03', '10:00:04', '10:00:05', '10:00:06']);
    expect(summary.tasks).toBe(5);
  });

  it('all with SCHEDULE_MAX_CATCHUP=2: the latest two', async () => {
    const { tasks } = await downtime('all', 2);
    expect(tasks).toEqual(['10:00:05', '10:00:06']);
  });
});

describe('pause, resume, trigger, delete', () => {
  it('paused: no tasks; resumed: the missed policy covers the pause, then it continues from now', async () => {
    for (const [missed, expected] of [['skip', []], ['once', ['10:00:05']], ['all', ['10:00:02', '10:00:03', '10:00:04', '10:00:05']]] as const) {
      const f = await openSchedules({ clock: new ManualClock('2026-05-01T10:00:00.500Z') });
      await f.service.put('tick', scheduleInput({ missed }));
      await pollUntil(f, '2026-05-01T10:00:01.500Z', 500); // 10:00:01 fired
      const paused = await f.service.pause('tick');
      expect(paused.paused).toBe(true);
      await pollUntil(f, '2026-05-01T10:00:05.500Z', 500);
      expect((await f.tasks()).map((t) => t.runAt.slice(11, 19))).toEqual(['10:00:01']);
      expect((await f.service.counts())).toEqual({ total: 1, paused: 1 });

      expect((await f.service.resume('tick')).paused).toBe(false);
      await f.service.fireDue(); // at 10:00:05.5: 10:00:02 … 10:00:05 fell due while paused
      await pollUntil(f, '2026-05-01T10:00:07.600Z', 500);
      expect((await f.tasks()).map((t) => t.runAt.slice(11, 19))).toEqual(['10:00:01', ...expected, '10:00:06', '10:00:07', '10:00:08']);
    }
  });

  it('trigger: one task now, paused or not, next_run_at unchanged', async () => {
    const f = await openSchedules({ clock: new ManualClock('2026-05-01T10:00:00Z') });
    await f.service.put('report', scheduleInput({ cron: '0 3 * * *', task: { title: 'report', description: 'nightly', priority: 5, payload: { a: 1 } } }));
    await f.service.pause('report');
    f.clock.set('2026-05-01T10:20:00.123Z');
    const task = await f.service.trigger('report');
    expect(task).toMatchObject({ title: 'report', priority: 5, payload: '{"a":1}', runAt: f.clock.time, idempotencyKey: 'schedule:report:trigger:2026-05-01T10:20:00.123Z' });
    expect(await f.tasks()).toEqual([{ key: 'schedule:report:trigger:2026-05-01T10:20:00.123Z', runAt: '2026-05-01T10:20:00.123Z', title: 'report' }]);
    const schedule = await f.service.get('report');
    expect(schedule.nextRunAt).toBe(Date.parse('2026-05-02T03:00:00Z'));
    expect(schedule.lastRunAt).toBe(f.clock.time);
    await expect(f.service.trigger('nope')).rejects.toMatchObject({ status: 404, message: 'schedule not found' });
  });

  it('delete while due: a fire computed before the delete commits inserts nothing', async () => {
    const f = await openSchedules({ clock: new ManualClock('2026-05-01T10:00:00.500Z') });
    await f.service.put('tick', scheduleInput());
    f.clock.set('2026-05-01T10:00:03.200Z');
    const [due] = await f.service.repo.due(f.clock.time, 10);
    expect(due!.name).toBe('tick');
    await f.service.delete('tick');
    const [result] = await f.service.repo.fire([
      { schedule: due!, nextRunAt: Date.parse('2026-05-01T10:00:04Z'), lastRunAt: Date.parse('2026-05-01T10:00:03Z'), tasks: [taskFor(due!.name, '2026-05-01T10:00:03Z')], now: f.clock.time },
    ]);
    expect(result).toEqual({ advanced: false, inserted: 0 });
    expect(await f.service.fireDue()).toEqual({ fired: 0, tasks: 0, dropped: 0, lost: 0 });
    expect(await f.tasks()).toEqual([]);
    await expect(f.service.delete('tick')).rejects.toMatchObject({ status: 404 });
  });

  it('a pause that commits between reading and firing wins the same way', async () => {
    const f = await openSchedules({ clock: new ManualClock('2026-05-01T10:00:00.500Z') });
    await f.service.put('tick', scheduleInput());
    f.clock.set('2026-05-01T10:00:01.200Z');
    const [due] = await f.service.repo.due(f.clock.time, 10);
    await f.service.pause('tick');
    const [result] = await f.service.repo.fire([
      { schedule: due!, nextRunAt: Date.parse('2026-05-01T10:00:02Z'), lastRunAt: Date.parse('2026-05-01T10:00:01Z'), tasks: [taskFor('tick', '2026-05-01T10:00:01Z')], now: f.clock.time },
    ]);
    expect(result).toEqual({ advanced: false, inserted: 0 });
    expect(await f.tasks()).toEqual([]);
  });
});

describe('PUT replaces', () => {
  it('keeps next_run_at and paused when cron and zone are unchanged; recomputes when they change', async () => {
    const f = await openSchedules({ clock: new ManualClock('2026-05-01T10:00:00Z') });
    const first = await f.service.put('r', scheduleInput({ cron: '0 3 * * *' }));
    expect(first.created).toBe(true);
    await f.service.pause('r');
    f.clock.set('2026-05-01T12:00:00Z');
    const same = await f.service.put('r', scheduleInput({ cron: '0 3 * * *', task: { title: 'new title', description: 'd' } }));
    expect(same.created).toBe(false);
    expect(same.schedule).toMatchObject({ paused: true, nextRunAt: Date.parse('2026-05-02T03:00:00Z'), version: 3 });
    expect(JSON.parse(same.schedule.task)).toEqual({ title: 'new title', description: 'd' });
    const changed = await f.service.put('r', scheduleInput({ cron: '0 3 * * *', timezone: 'Asia/Tokyo', paused: false }));
    expect(changed.schedule).toMatchObject({ paused: false, nextRunAt: Date.parse('2026-05-01T18:00:00Z'), timezone: 'Asia/Tokyo' });
  });
});

describe('two services firing one file at the same instants', () => {
  it('exactly one task per occurrence, none missing', async () => {
    const url = tempDbUrl();
    const clock = new ManualClock('2026-05-01T10:00:00.300Z');
    const a = await openSchedules({ url, clock });
    const b = await openSchedules({ url, clock, fileDriver: 'client' });
    for (let i = 0; i < 20; i++) await a.service.put(`s${i}`, scheduleInput({ missed: i % 2 ? 'all' : 'once' }));
    for (let step = 0; step < 40; step++) {
      clock.advance(250);
      await Promise.all([a.service.fireDue(), b.service.fireDue(), a.service.fireDue()]);
    }
    const tasks = await a.tasks();
    expect(tasks).toHaveLength(20 * 10);
    expect(new Set(tasks.map((t) => t.key)).size).toBe(200);
    for (let i = 0; i < 20; i++) {
      expect(tasks.filter((t) => t.key.startsWith(`schedule:s${i}:`)).map((t) => t.runAt.slice(17, 19))).toEqual(['01', '02', '03', '04', '05', '06', '07', '08', '09', '10']);
    }
  });
});

let taskSeq = 0;
/** The task a fire would insert for `name` at the occurrence (a distinct id each call). */
function taskFor(name: string, occurrenceIso: string) {
  const occurrence = Date.parse(occurrenceIso);
  return {
    id: `00000000-0000-7000-8000-${String(++taskSeq).padStart(12, '0')}`,
    title: 't', description: 'd', status: 'pending' as const, version: 1, type: 'simulate', payload: null, priority: 0,
    runAt: occurrence, attempts: 0, maxAttempts: 3, leaseExpiresAt: null, lockedBy: null, lastError: null, result: null, progress: null,
    idempotencyKey: occurrenceKey(name, occurrence), debounceKey: null, flowControl: null, createdAt: occurrence, startedAt: null, completedAt: null, updatedAt: occurrence,
  };
}

/**
 * The same guard over a libSQL server: `changes()` in a Hrana batch counts the statement
 * before it on the batch's own connection, so a stale fire inserts nothing there either.
 */
const sqldUp = await sqldAvailable();

describe.skipIf(!sqldUp)('on sqld', () => {
  const sqld = useSqld();

  it('a fire computed before a delete or a pause inserts nothing; concurrent fires one task per occurrence', async () => {
    const clock = new ManualClock('2026-05-01T10:00:00.500Z');
    const a = await openSchedules({ url: sqld.url, clock });
    const b = await openSchedules({ url: sqld.url, clock });
    await a.service.put('gone', scheduleInput());
    await a.service.put('held', scheduleInput());
    await a.service.put('live', scheduleInput({ missed: 'all' }));
    clock.set('2026-05-01T10:00:01.200Z');
    const due = await a.service.repo.due(clock.time, 10);
    await b.service.delete('gone');
    await b.service.pause('held');
    const occurrence = Date.parse('2026-05-01T10:00:01Z');
    const results = await a.service.repo.fire(
      due.map((schedule) => ({ schedule, nextRunAt: occurrence + 1000, lastRunAt: occurrence, tasks: [taskFor(schedule.name, '2026-05-01T10:00:01Z')], now: clock.time })),
    );
    expect(Object.fromEntries(due.map((s, i) => [s.name, results[i]]))).toEqual({
      gone: { advanced: false, inserted: 0 },
      held: { advanced: false, inserted: 0 },
      live: { advanced: true, inserted: 1 },
    });
    for (let step = 0; step < 12; step++) {
      clock.advance(250);
      await Promise.all([a.service.fireDue(), b.service.fireDue()]);
    }
    const keys = (await a.tasks()).map((t) => t.key);
    expect(keys).toEqual(['01', '02', '03', '04'].map((s) => `schedule:live:2026-05-01T10:00:${s}.000Z`));
  });
});
