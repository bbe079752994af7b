import type { Config } from '../config/config.ts';
import { logFailure } from '../foundation/log.ts';
import { isoTime } from '../foundation/iso-time.ts';
import { notFound } from '../foundation/errors.ts';
import type { Logger } from '../foundation/log.ts';
import { formatTaskId } from '../tasks/ids.ts';
import type { NewTask, Task } from '../tasks/model.ts';
import { buildTask } from '../tasks/model.ts';
import {
  canonicalTimezone,
  nextOccurrence,
  occurrenceKey,
  planFire,
  triggerKey,
  type MissedPolicy,
  type Schedule,
  type TaskTemplate,
} from './model.ts';
import type { Fire, ScheduleRepository } from './repository.ts';

/**
 * The schedule use cases behind /schedules and the firing every poll runs (lib/schedules/README.md says
 * what the folder owns). Independent of HTTP; the clock is injected so tests
 * step through daylight-saving changes and downtime without waiting.
 */

/** A validated PUT body (lib/schedules/routes.ts validates; this trusts its input). */
export interface ScheduleInput {
  cron: string;
  timezone: string;
  missed: MissedPolicy;
  task: TaskTemplate;
  paused?: boolean;
}

export interface FireSummary {
  /** Schedules advanced by this pass. */
  fired: number;
  /** Tasks inserted. */
  tasks: number;
  /** Due occurrences that got no task (missed policy, catch-up cap). */
  dropped: number;
  /** Fires that lost their version check (another poller, or a pause/replace/delete first). */
  lost: number;
}

export interface ScheduleServiceHooks {
  /** A schedule was created, replaced or resumed: the local poller wakes by its next_run_at. */
  onChanged?(schedule: Schedule): void;
  /** Tasks were inserted by a fire or a trigger: the local poller claims them at once. */
  onTasksCreated?(count: number): void;
}

export interface ScheduleServiceOptions {
  repo: ScheduleRepository;
  config: Pick<Config, 'maxAttempts' | 'scheduleMaxCatchup'>;
  logger: Logger;
  /** The schedule clock (epoch ms). Default Date.now. */
  now?: () => number;
  hooks?: ScheduleServiceHooks;
}

/**
 * Due schedules read and fired per transaction. Over a libSQL server each transaction is one
 * round trip, so 10,000 due schedules cost 2 × 50 round trips, not 20,000.
 */
export const FIRE_BATCH_SIZE = 200;

export class ScheduleService {
  readonly repo: ScheduleRepository;
  readonly hooks: ScheduleServiceHooks;
  readonly #config: ScheduleServiceOptions['config'];
  readonly #logger: Logger;
  readonly #now: () => number;

  constructor(options: ScheduleServiceOptions) {
    this.repo = options.repo;
    this.#config = options.config;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.hooks = options.hooks ?? {};
  }

  now(): number {
    return this.#now();
  }

  async put(name: string, input: ScheduleInput): Promise<{ schedule: Schedule; created: boolean }> {
    const now = this.#now();
    const timezone = canonicalTimezone(input.timezone) ?? input.timezone;
    const result = await this.repo.upsert({
      name,
      cron: input.cron,
      timezone,
      task: JSON.stringify(input.task),
      missed: input.missed,
      paused: input.paused,
      nextRunAt: nextOccurrence(input.cron, timezone, now),
      now,
    });
    this.#logger.info(result.created ? 'schedule created' : 'schedule replaced', { schedule: name, cron: input.cron, timezone });
    this.hooks.onChanged?.(result.schedule);
    return result;
  }

  async get(name: string): Promise<Schedule> {
    const schedule = await this.repo.get(name);
    if (!schedule) throw notFound('schedule not found');
    return schedule;
  }

  list(options: { afterName?: string; limit: number }): Promise<Schedule[]> {
    return this.repo.list(options);
  }

  /** Once this commits, no fire can insert a task for the schedule (its advance finds no row). */
  async delete(name: string): Promise<void> {
    if (!(await this.repo.delete(name))) throw notFound('schedule not found');
    this.#logger.info('schedule deleted', { schedule: name });
  }

  async pause(name: string): Promise<Schedule> {
    const schedule = await this.repo.setPaused(name, true, this.#now());
    if (!schedule) throw notFound('schedule not found');
    this.#logger.info('schedule paused', { schedule: name });
    return schedule;
  }

  /**
   * next_run_at is left where the pause found it, so the next fire treats the occurrences
   * that fell due meanwhile like downtime: the missed policy decides, then it goes on from now.
   */
  async resume(name: string): Promise<Schedule> {
    const schedule = await this.repo.setPaused(name, false, this.#now());
    if (!schedule) throw notFound('schedule not found');
    this.#logger.info('schedule resumed', { schedule: name });
    this.hooks.onChanged?.(schedule);
    return schedule;
  }

  /** One task now, outside the cron (paused or not); next_run_at is unchanged. */
  async trigger(name: string): Promise<Task> {
    const schedule = await this.get(name);
    const now = this.#now();
    const task = await this.repo.trigger(name, taskFromTemplate(schedule, now, triggerKey(name, now), now, this.#config.maxAttempts), now);
    if (!task) throw notFound('schedule not found');
    this.#logger.info('schedule triggered', { schedule: name, task_id: formatTaskId(task.id) });
    this.hooks.onTasksCreated?.(1);
    return task;
  }

  /**
   * Fires every schedule due by now, FIRE_BATCH_SIZE per transaction. Safe to run in any
   * number of processes and overlapping polls at once: see lib/schedules/repository.ts.
   */
  async fireDue(): Promise<FireSummary> {
    const now = this.#now();
    const summary: FireSummary = { fired: 0, tasks: 0, dropped: 0, lost: 0 };
    for (;;) {
      const due = await this.repo.due(now, FIRE_BATCH_SIZE);
      if (due.length === 0) break;
      const fires: (Fire & { dropped: number })[] = due.map((schedule) => {
        const plan = planFire(schedule, now, this.#config.scheduleMaxCatchup);
        const tasks = plan.occurrences.map((occurrence) =>
          taskFromTemplate(schedule, occurrence, occurrenceKey(schedule.name, occurrence), now, this.#config.maxAttempts),
        );
        const lastRunAt = plan.occurrences.length > 0 ? plan.occurrences[plan.occurrences.length - 1]! : null;
        return { schedule, nextRunAt: plan.nextRunAt, lastRunAt, tasks, now, dropped: plan.dropped };
      });
      const results = await this.repo.fire(fires);
      results.forEach((result, i) => {
        const fire = fires[i]!;
        if (!result.advanced) return void summary.lost++;
        summary.fired++;
        summary.tasks += result.inserted;
        summary.dropped += fire.dropped;
        this.#logger.info('schedule fired', {
          schedule: fire.schedule.name,
          occurrence: fire.lastRunAt === null ? null : isoTime(fire.lastRunAt),
          tasks: result.inserted,
          missed_skipped: fire.dropped || undefined,
          next_run_at: fire.nextRunAt === null ? null : isoTime(fire.nextRunAt),
        });
      });
      // A short batch was the last; a full one may have more behind it. Lost races are not
      // retried here: whoever won advanced them (or they were paused, replaced or deleted).
      if (due.length < FIRE_BATCH_SIZE) break;
    }
    if (summary.tasks > 0) this.hooks.onTasksCreated?.(summary.tasks);
    return summary;
  }

  /** When the earliest unpaused schedule is due (epoch ms), or null. */
  nextDueAt(): Promise<number | null> {
    return this.repo.nextDueAt();
  }

  counts(): Promise<{ total: number; paused: number }> {
    return this.repo.counts();
  }
}

/** The task of one occurrence: the template's fields, due at the occurrence (plus its delay). */
export function taskFromTemplate(schedule: Pick<Schedule, 'task'>, occurrence: number, key: string, now: number, defaultMaxAttempts: number): NewTask {
  const template = JSON.parse(schedule.task) as TaskTemplate;
  return buildTask(
    {
      title: template.title,
      description: template.description,
      type: template.type ?? 'simulate',
      payload: template.payload,
      priority: template.priority,
      runAt: occurrence + Math.round((template.delay_seconds ?? 0) * 1000),
      maxAttempts: template.max_attempts,
    },
    { now, maxAttempts: defaultMaxAttempts, idempotencyKey: key },
  );
}

/**
 * The one call each poll makes (the local poller's loop, the serverless poll): fires what is
 * due, and never lets a schedule problem stop task processing: a failure is logged and the
 * next poll tries again (nothing was committed, so nothing is lost or doubled).
 */
export async function fireDueSchedules(schedules: ScheduleService, logger: Logger): Promise<FireSummary | null> {
  try {
    return await schedules.fireDue();
  } catch (error) {
    logFailure(logger, 'error', 'firing schedules failed', error);
    return null;
  }
}
