import { onTestFinished } from 'vitest';
import type { SqlDriver } from '../lib/db/driver.ts';
import { createLogger } from '../lib/foundation/log.ts';
import { ScheduleRepository } from '../lib/schedules/repository.ts';
import { ScheduleService, type ScheduleInput } from '../lib/schedules/service.ts';
import { openDatabase } from '../local/database.ts';
import { captureLogs, tempDbUrl, type CapturedLogs } from './helpers.ts';

/** A clock the test moves by hand: the schedule service reads it, nothing waits. */
export class ManualClock {
  time: number;
  constructor(iso: string) {
    this.time = Date.parse(iso);
  }
  readonly now = () => this.time;
  set(iso: string): void {
    this.time = Date.parse(iso);
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

export interface ScheduleFixture {
  driver: SqlDriver;
  service: ScheduleService;
  clock: ManualClock;
  /** Every log line the service wrote. */
  logs: CapturedLogs;
  /** Every task in the table: idempotency key and run_at (ISO), ordered by run_at. */
  tasks(): Promise<{ key: string; runAt: string; title: string }[]>;
}

/** A schedule service on a migrated database (a temp file unless `url`), on a manual clock. */
export async function openSchedules(
  options: { url?: string; clock?: ManualClock; maxCatchup?: number; fileDriver?: 'native' | 'client' } = {},
): Promise<ScheduleFixture> {
  const driver = await openDatabase({ url: options.url ?? tempDbUrl(), fileDriver: options.fileDriver });
  onTestFinished(() => driver.close());
  const clock = options.clock ?? new ManualClock('2026-05-01T10:00:00Z');
  const logs = captureLogs();
  const service = new ScheduleService({
    repo: new ScheduleRepository(driver),
    config: { maxAttempts: 3, scheduleMaxCatchup: options.maxCatchup ?? 100 },
    logger: createLogger('info', logs.sink),
    now: clock.now,
  });
  return {
    driver,
    service,
    clock,
    logs,
    async tasks() {
      const rows = await driver.all('SELECT idempotency_key, run_at, CAST(title AS BLOB) AS title FROM tasks ORDER BY run_at, idempotency_key');
      return rows.map((r) => ({ key: String(r.idempotency_key), runAt: new Date(Number(r.run_at)).toISOString(), title: String(r.title) }));
    },
  };
}

export function scheduleInput(overrides: Partial<ScheduleInput> = {}): ScheduleInput {
  return { cron: '* * * * * *', timezone: 'UTC', missed: 'once', task: { title: 'scheduled', description: 'from a schedule' }, ...overrides };
}
