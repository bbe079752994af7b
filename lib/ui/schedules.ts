import type { Task } from '../tasks/model.ts';

/**
 * What the dashboard shows and does of cron schedules, when the deployment has them:
 * lib/wiring/app-services.ts (and the dashboard's Worker, functions/dashboard.ts) hands it the
 * schedule service (lib/schedules/service.ts), which has this shape. Absent, the overview shows
 * no schedule section and the Schedules page says there are none here.
 */
export interface ScheduleSummary {
  name: string;
  /** The task type each occurrence submits. */
  type: string;
  /** Next occurrence (ms), or null when paused. */
  nextRunAt: number | null;
  paused: boolean;
}

/** A schedule as the Schedules page lists it. */
export interface ScheduleListing extends ScheduleSummary {
  cron: string;
  timezone: string;
  /** What a fire does with occurrences missed while nothing polled: skip, one or all. */
  missed: string;
  /** The latest occurrence that got a task, or a trigger's time (ms). */
  lastRunAt: number | null;
}

export interface ScheduleSummaryProvider {
  /** The schedules due soonest, at most `limit`. */
  dueNext(limit: number): Promise<ScheduleSummary[]>;
}

/** The Schedules page's reads and actions; each action throws a 404 AppError for an unknown name. */
export interface ScheduleSource extends ScheduleSummaryProvider {
  /** By name, after `afterName` (the page's cursor). */
  summaries(options: { afterName?: string; limit: number }): Promise<ScheduleListing[]>;
  pause(name: string): Promise<unknown>;
  resume(name: string): Promise<unknown>;
  /** One task now, outside the cron; the schedule's next run is unchanged. */
  trigger(name: string): Promise<Task>;
}
