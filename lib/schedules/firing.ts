import { logFailure } from '../foundation/log.ts';
import type { Logger } from '../foundation/log.ts';
import type { Schedule } from './model.ts';
import { fireDueSchedules, type ScheduleService } from './service.ts';

/**
 * Firing for the processing cycle (lib/schedules/README.md says what the folder owns). The
 * cycle calls `fireIfDue()` at the start of every poll; it costs nothing until the earliest
 * next_run_at it knows of has come, and after each fire it asks the poller to wake exactly
 * then (`wakeAt`), so an every-second schedule fires on the second with no extra polling,
 * and a backlog of tasks being claimed does not pay a schedule query per claim.
 *
 * Schedules changed by another process are seen within `recheckMs` (the poll interval): the
 * earliest next_run_at is re-read at least that often. Changes in this process (PUT, resume)
 * call `changed()` and are seen at once.
 */
export interface ScheduleFirerOptions {
  schedules: ScheduleService;
  logger: Logger;
  /** The poller's "wake at this time (epoch ms), if sooner than planned". */
  wakeAt(time: number): void;
  recheckMs: number;
}

export class ScheduleFirer {
  readonly name = 'schedules';
  readonly #o: ScheduleFirerOptions;
  /** Schedule-clock time before which nothing is due, as far as this process knows. */
  #quietUntil = -Infinity;

  constructor(options: ScheduleFirerOptions) {
    this.#o = options;
  }

  /** Its seat in the processing cycle (lib/wiring/processing-cycle.ts): before each claim. */
  beforeClaim(): Promise<void> {
    return this.fireIfDue();
  }

  async fireIfDue(): Promise<void> {
    const now = this.#o.schedules.now();
    if (now < this.#quietUntil) return;
    await fireDueSchedules(this.#o.schedules, this.#o.logger);
    try {
      const next = await this.#o.schedules.nextDueAt();
      // 0.9: the poll interval's tick must find it expired, timer jitter notwithstanding.
      this.#quietUntil = Math.min(next ?? Infinity, now + this.#o.recheckMs * 0.9);
      if (next !== null) this.#o.wakeAt(next);
    } catch (error) {
      logFailure(this.#o.logger, 'error', 'reading the next schedule time failed', error);
      this.#quietUntil = now + this.#o.recheckMs;
    }
  }

  /** A schedule was created, replaced or resumed in this process. */
  changed(schedule: Schedule): void {
    if (schedule.paused || schedule.nextRunAt === null) return;
    this.#quietUntil = Math.min(this.#quietUntil, schedule.nextRunAt);
    this.#o.wakeAt(schedule.nextRunAt);
  }
}
