import type { Config } from '../config/config.ts';
import { logFailure } from '../foundation/log.ts';
import { isoTime } from '../foundation/iso-time.ts';
import { notFound } from '../foundation/errors.ts';
import type { Logger } from '../foundation/log.ts';
import { canonicalTimezone, nextOccurrence, occurrenceKey, planFire, type MissedPolicy, type Schedule, type TaskTemplate } from './model.ts';
import { ScheduleControls, taskFromTemplate, type ScheduleControlsOptions, type ScheduleServiceHooks } from './controls.ts';
import type { Fire } from './repository.ts';

export { taskFromTemplate, type ScheduleServiceHooks };

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

export interface ScheduleServiceOptions extends ScheduleControlsOptions {
  config: Pick<Config, 'maxAttempts' | 'scheduleMaxCatchup'>;
}

/**
 * Due schedules read and fired per transaction. Over a libSQL server each transaction is one
 * round trip, so 10,000 due schedules cost 2 × 50 round trips, not 20,000.
 */
export const FIRE_BATCH_SIZE = 200;

/**
 * ScheduleControls (reading, pausing, resuming and triggering schedules; controls.ts) plus
 * what needs occurrences computed: creating or replacing a schedule and firing due ones.
 */
export class ScheduleService extends ScheduleControls {
  readonly #config: ScheduleServiceOptions['config'];

  constructor(options: ScheduleServiceOptions) {
    super(options);
    this.#config = options.config;
  }

  async put(name: string, input: ScheduleInput): Promise<{ schedule: Schedule; created: boolean }> {
    const now = this.now();
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
    this.logger.info(result.created ? 'schedule created' : 'schedule replaced', { schedule: name, cron: input.cron, timezone });
    this.hooks.onChanged?.(result.schedule);
    return result;
  }

  /** Once this commits, no fire can insert a task for the schedule (its advance finds no row). */
  async delete(name: string): Promise<void> {
    if (!(await this.repo.delete(name))) throw notFound('schedule not found');
    this.logger.info('schedule deleted', { schedule: name });
  }

  /**
   * Fires every schedule due by now, FIRE_BATCH_SIZE per transaction. Safe to run in any
   * number of processes and overlapping polls at once: see lib/schedules/repository.ts.
   */
  async fireDue(): Promise<FireSummary> {
    const now = this.now();
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
        this.logger.info('schedule fired', {
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
