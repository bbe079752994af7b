import { Cron } from 'croner';
import type { FlowControl } from '../tasks/model.ts';

/**
 * When a schedule's occurrences fall due, and what a fire does with them (lib/schedules/README.md
 * says what the folder owns and may import). Pure: every instant is given by the caller.
 *
 * Glossary
 * - schedule: a named cron expression, an IANA time zone and a task template; a row in
 *   `schedules`.
 * - occurrence: one instant the cron matches in that zone, in epoch ms. Each occurrence yields
 *   at most one task, whose idempotency key is `schedule:<name>:<occurrence ISO time>`.
 * - next_run_at: the earliest occurrence not yet fired. A schedule is due when it is <= now.
 * - fire: one version-checked advance of next_run_at together with the insert of the
 *   occurrence's task(s), in one transaction. A lost race (another poller fired it, or a
 *   pause, replace or delete committed first) inserts nothing.
 * - missed: a poll found more than one occurrence due, so no poll ran while at least one of
 *   them fell due (downtime, or a pause). A single due occurrence is fired however late the
 *   poll is: a platform cron that runs a minute late is not downtime.
 * - missed policy: what a fire does with missed occurrences: `skip` (no task; continue from
 *   now), `once` (one task, for the latest of them; the default), `all` (one task each, the
 *   latest SCHEDULE_MAX_CATCHUP of them).
 *
 * Daylight saving (croner, `fixedTimeRule: 'no-wildcard'`): a job whose second, minute and hour
 * fields have no wildcard or step is a wall-clock job. When its local time does not exist
 * that day (spring forward) it runs once at the first valid time after the gap; when the
 * time happens twice (fall back) it runs once, at the first. A job with a wildcard or step in
 * those fields (`*\/15 * * * *`, `0 * * * *`) is an interval job and runs at every real instant
 * that matches, so an hourly job runs in both repeated hours.
 */

export const MISSED_POLICIES = ['skip', 'once', 'all'] as const;
export type MissedPolicy = (typeof MISSED_POLICIES)[number];

/** The task a schedule creates at each occurrence: what POST /tasks accepts, minus `run_at`. */
export interface TaskTemplate {
  title: string;
  description: string;
  type?: string;
  payload?: unknown;
  priority?: number;
  /** The task runs this long after its occurrence. */
  delay_seconds?: number;
  max_attempts?: number;
  /** Flow control of every occurrence's task (docs/flow-control.md). */
  flow_control?: FlowControl;
}

/** A schedule as stored: timestamps in epoch ms, the template as JSON text. */
export interface Schedule {
  name: string;
  cron: string;
  timezone: string;
  task: string;
  missed: MissedPolicy;
  paused: boolean;
  nextRunAt: number | null;
  lastRunAt: number | null;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface ScheduleJson {
  name: string;
  cron: string;
  timezone: string;
  missed: MissedPolicy;
  paused: boolean;
  task: TaskTemplate;
  next_run_at: string | null;
  last_run_at: string | null;
  version: number;
  created_at: string;
  updated_at: string;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

export function scheduleToJson(schedule: Schedule): ScheduleJson {
  return {
    name: schedule.name,
    cron: schedule.cron,
    timezone: schedule.timezone,
    missed: schedule.missed,
    paused: schedule.paused,
    task: JSON.parse(schedule.task) as TaskTemplate,
    next_run_at: isoOrNull(schedule.nextRunAt),
    last_run_at: isoOrNull(schedule.lastRunAt),
    version: schedule.version,
    created_at: iso(schedule.createdAt),
    updated_at: iso(schedule.updatedAt),
  };
}

/** Letters, digits, `.`, `_`, `-`: safe in a URL path and in the idempotency key (no `:`). */
export const scheduleNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
export const MAX_CRON_LENGTH = 200;

/** The idempotency key of an occurrence's task: one task per occurrence, whoever fires it. */
export function occurrenceKey(name: string, occurrence: number): string {
  return `schedule:${name}:${iso(occurrence)}`;
}

/** The key of a task made by POST /schedules/:name/trigger (not an occurrence of the cron). */
export function triggerKey(name: string, now: number): string {
  return `schedule:${name}:trigger:${iso(now)}`;
}

// Parsing a pattern costs about as much as computing one occurrence; firing 10,000
// schedules that share a few patterns should parse each once.
const CACHE_SIZE = 1000;
const cronCache = new Map<string, Cron>();

/** Zones that are UTC: croner computes those with plain UTC arithmetic (`utcOffset: 0`). */
const UTC_ZONES = new Set(['UTC', 'Etc/UTC', 'GMT', 'Etc/GMT']);

function compile(cron: string, timezone: string): Cron {
  const key = `${timezone}\u0000${cron}`;
  let job = cronCache.get(key);
  if (!job) {
    // Through `timezone`, croner converts with Intl on every step: 10,000 nextRun() calls took
    // 1,490 ms for 'UTC' vs 109 ms with `utcOffset: 0` (2-core machine under load).
    const zone = UTC_ZONES.has(timezone) ? { utcOffset: 0 } : { timezone };
    job = new Cron(cron, { ...zone, paused: true, mode: '5-or-6-parts', fixedTimeRule: 'no-wildcard' });
    remember(cronCache, key, job);
  }
  return job;
}

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(key, value);
}

// Schedules that share a cron and zone fall due together and ask for the same next
// occurrence: 10,000 every-minute schedules fired in one pass compute it once, not 10,000
// times, each a measurable cost in a zone (bench/README.md, "Figures behind the code"). The
// answer depends only on the key.
const nextCache = new Map<string, number | null>();
// The same for the missed-occurrence look-back (costlier still): after downtime,
// every schedule of a cron asks it at the same `now`. Callers must not mutate the array.
const previousCache = new Map<string, readonly number[]>();

/** Why `cron` is not a usable expression (5 fields, or 6 with seconds first), or null. */
export function cronProblem(cron: string): string | null {
  if (cron.length > MAX_CRON_LENGTH) return `cron must be at most ${MAX_CRON_LENGTH} characters`;
  const fields = cron.trim().split(/\s+/).filter(Boolean);
  if (!cron.trim().startsWith('@') && (fields.length < 5 || fields.length > 6)) {
    return `cron must have 5 fields (minute hour day month weekday) or 6 (second first); got ${fields.length}`;
  }
  let job: Cron;
  try {
    job = compile(cron, 'UTC');
  } catch (error) {
    return `cron is invalid: ${(error instanceof Error ? error.message : String(error)).replace(/^CronPattern: /, '')}`;
  }
  // Five years cover every Gregorian pattern that can match at all (29 February included).
  const next = job.nextRun(new Date());
  if (next === null || next.getTime() > Date.now() + 5 * 366 * 86_400_000) return 'cron never matches a date';
  return null;
}

/** Why `timezone` is not an IANA time zone this runtime knows, or null. */
export function timezoneProblem(timezone: string): string | null {
  return canonicalTimezone(timezone) === null ? `timezone ${JSON.stringify(timezone)} is not a known IANA time zone` : null;
}

/** The runtime's spelling of a zone (`utc` → `UTC`), or null when it is unknown. */
export function canonicalTimezone(timezone: string): string | null {
  if (timezone.length === 0 || timezone.length > 100) return null;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

/** The first occurrence strictly after `after` (epoch ms), or null when there is none. */
export function nextOccurrence(cron: string, timezone: string, after: number): number | null {
  const key = `${timezone}\u0000${cron}\u0000${after}`;
  const known = nextCache.get(key);
  if (known !== undefined) return known;
  const next = compile(cron, timezone).nextRun(new Date(after))?.getTime() ?? null;
  remember(nextCache, key, next);
  return next;
}

/** Up to `count` occurrences at or before `atOrBefore`, latest first. */
export function previousOccurrences(cron: string, timezone: string, atOrBefore: number, count: number): readonly number[] {
  const key = `${timezone}\u0000${cron}\u0000${atOrBefore}\u0000${count}`;
  const known = previousCache.get(key);
  if (known !== undefined) return known;
  // croner's reference is exclusive and its occurrences are whole seconds: +1 ms includes `atOrBefore`.
  const times = compile(cron, timezone)
    .previousRuns(count, new Date(atOrBefore + 1))
    .map((d) => d.getTime());
  remember(previousCache, key, times);
  return times;
}

/** What one fire of a due schedule does. */
export interface FirePlan {
  /** Occurrences that get a task, oldest first. */
  occurrences: number[];
  /** next_run_at after the fire: the first occurrence after the last one fired, or after now. */
  nextRunAt: number | null;
  /**
   * Due occurrences that get no task (policy `skip` or `once`, or beyond the catch-up cap),
   * counted among the latest SCHEDULE_MAX_CATCHUP + 1 only.
   */
  dropped: number;
  /** More than one occurrence was due: the missed policy applied. */
  missed: boolean;
}

/**
 * The fire of a schedule that is due at `now` (next_run_at <= now). Pure: the clock is the
 * caller's, so tests step through DST changes and downtime without waiting.
 */
export function planFire(
  schedule: Pick<Schedule, 'cron' | 'timezone' | 'missed' | 'nextRunAt'>,
  now: number,
  maxCatchup: number,
): FirePlan {
  const { cron, timezone, nextRunAt: due } = schedule;
  if (due === null || due > now) return { occurrences: [], nextRunAt: due, dropped: 0, missed: false };
  const following = nextOccurrence(cron, timezone, due);
  if (following === null || following > now) {
    return { occurrences: [due], nextRunAt: following, dropped: 0, missed: false };
  }
  // Two or more occurrences fell due before this fire: the policy decides. Counting them is
  // bounded by the cap: an every-second schedule down for a week is 604,800 occurrences.
  const nextRunAt = nextOccurrence(cron, timezone, now);
  const recent = previousOccurrences(cron, timezone, now, maxCatchup + 1).filter((t) => t >= due);
  let occurrences: number[];
  switch (schedule.missed) {
    case 'skip':
      occurrences = [];
      break;
    case 'once':
      occurrences = recent.slice(0, 1);
      break;
    case 'all':
      occurrences = recent.slice(0, maxCatchup).reverse();
      break;
  }
  return { occurrences, nextRunAt, dropped: recent.length - occurrences.length, missed: true };
}
