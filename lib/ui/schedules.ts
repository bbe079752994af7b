/**
 * What the overview shows of cron schedules, when the deployment has them: lib/wiring/app-services.ts wires
 * a provider (from lib/schedules/) into the dashboard's dependencies. Absent, the overview
 * shows no schedule section at all.
 */
export interface ScheduleSummary {
  name: string;
  /** The task type each occurrence submits. */
  type: string;
  /** Next occurrence (ms), or null when paused. */
  nextRunAt: number | null;
  paused: boolean;
}

export interface ScheduleSummaryProvider {
  /** The schedules due soonest, at most `limit`. */
  dueNext(limit: number): Promise<ScheduleSummary[]>;
}
