import type { Config } from '../config/config.ts';
import { notFound } from '../foundation/errors.ts';
import type { Logger } from '../foundation/log.ts';
import { formatTaskId } from '../tasks/ids.ts';
import { buildTask, type NewTask, type Task } from '../tasks/model.ts';
import { triggerKey, type Schedule, type TaskTemplate } from './model.ts';
import type { ScheduleRepository, ScheduleSummary } from './repository.ts';

/**
 * What an operator does to existing schedules: read them, pause, resume, run one now. None of
 * it computes an occurrence, so none of it needs croner: the dashboard's Worker
 * (functions/dashboard.ts) takes this alone and stays without it (croner is about 10 KB of its
 * gzipped budget). ScheduleService (service.ts) adds what does: creating a schedule and firing.
 */

export interface ScheduleServiceHooks {
  /** A schedule was created, replaced or resumed: the local poller wakes by its next_run_at. */
  onChanged?(schedule: Schedule): void;
  /** Tasks were inserted by a fire or a trigger: the local poller claims them at once. */
  onTasksCreated?(count: number): void;
}

export interface ScheduleControlsOptions {
  repo: ScheduleRepository;
  config: Pick<Config, 'maxAttempts'>;
  logger: Logger;
  /** The schedule clock (epoch ms). Default Date.now. */
  now?: () => number;
  hooks?: ScheduleServiceHooks;
}

export class ScheduleControls {
  readonly repo: ScheduleRepository;
  readonly hooks: ScheduleServiceHooks;
  protected readonly logger: Logger;
  readonly #maxAttempts: number;
  readonly #now: () => number;

  constructor(options: ScheduleControlsOptions) {
    this.repo = options.repo;
    this.logger = options.logger;
    this.#maxAttempts = options.config.maxAttempts;
    this.#now = options.now ?? Date.now;
    this.hooks = options.hooks ?? {};
  }

  now(): number {
    return this.#now();
  }

  async get(name: string): Promise<Schedule> {
    const schedule = await this.repo.get(name);
    if (!schedule) throw notFound('schedule not found');
    return schedule;
  }

  list(options: { afterName?: string; limit: number }): Promise<Schedule[]> {
    return this.repo.list(options);
  }

  /** By name after `afterName`, each with its task's type: the dashboard's Schedules page. */
  summaries(options: { afterName?: string; limit: number }): Promise<ScheduleSummary[]> {
    return this.repo.summaries(options);
  }

  /** The unpaused schedules due soonest: the dashboard overview's "due next". */
  dueNext(limit: number): Promise<ScheduleSummary[]> {
    return this.repo.dueNext(limit);
  }

  async pause(name: string): Promise<Schedule> {
    const schedule = await this.repo.setPaused(name, true, this.#now());
    if (!schedule) throw notFound('schedule not found');
    this.logger.info('schedule paused', { schedule: name });
    return schedule;
  }

  /**
   * next_run_at is left where the pause found it, so the next fire treats the occurrences
   * that fell due meanwhile like downtime: the missed policy decides, then it goes on from now.
   */
  async resume(name: string): Promise<Schedule> {
    const schedule = await this.repo.setPaused(name, false, this.#now());
    if (!schedule) throw notFound('schedule not found');
    this.logger.info('schedule resumed', { schedule: name });
    this.hooks.onChanged?.(schedule);
    return schedule;
  }

  /** One task now, outside the cron (paused or not); next_run_at is unchanged. */
  async trigger(name: string): Promise<Task> {
    const schedule = await this.get(name);
    const now = this.#now();
    const task = await this.repo.trigger(name, taskFromTemplate(schedule, now, triggerKey(name, now), now, this.#maxAttempts), now);
    if (!task) throw notFound('schedule not found');
    this.logger.info('schedule triggered', { schedule: name, task_id: formatTaskId(task.id) });
    this.hooks.onTasksCreated?.(1);
    return task;
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
      flowControl: template.flow_control,
    },
    { now, maxAttempts: defaultMaxAttempts, idempotencyKey: key },
  );
}
