import { join } from 'node:path';
import { createLogger } from '../../lib/foundation/log.ts';
import { ScheduleRepository } from '../../lib/schedules/repository.ts';
import { ScheduleService } from '../../lib/schedules/service.ts';
import type { Runtime } from '../../local/runtime.ts';
import { benchConfig, noopProbe, NOOP_TYPE, processBacklog, startRuntime, tempDir, tinyPayload, type ScenarioOptions } from '../harness.ts';
import { perSecond } from '../stats.ts';

/**
 * Schedules (lib/schedules/), on a libSQL file:
 * 1. fire: 10,000 schedules with an every-minute cron, all due; one `fireDue()` on a clock
 *    set just after their occurrence (the service's injectable clock: no waiting for a
 *    minute) until every one has its task. Target <= 2 s.
 * 2. claim path: N no-op tasks processed by a runtime with those 10,000 schedules present
 *    (not due during the measurement) vs with none. Target: within 10%.
 */
export interface SchedulesResult {
  schedules: number;
  fire_s: number;
  fired_per_s: number;
  process_per_s_without: number;
  process_per_s_with: number;
  /** with / without. */
  process_ratio: number;
}

async function putSchedules(runtime: Runtime, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await runtime.schedules.put(`s${String(i).padStart(6, '0')}`, {
      cron: '* * * * *',
      timezone: 'UTC',
      missed: 'once',
      task: { title: 'scheduled', description: 'bench', type: NOOP_TYPE },
    });
  }
}

/** Processing rate of `n` tasks, with `schedules` every-minute schedules in the table. */
async function processRate(dir: string, name: string, n: number, schedules: number, options: ScenarioOptions): Promise<number> {
  const config = benchConfig(`file:${join(dir, `${name}.db`)}`, options.env);
  const api = await startRuntime(config, noopProbe(), false);
  await putSchedules(api, schedules);
  for (let i = 0; i < n; i++) await api.service.submit({ title: 'bench', description: 'claim path', type: NOOP_TYPE, payload: tinyPayload(i) });
  await api.shutdown();

  // Measure inside one minute, so no schedule falls due meanwhile (that is part 1's figure).
  while (new Date().getUTCSeconds() < 1 || new Date().getUTCSeconds() > 40) await new Promise((r) => setTimeout(r, 200));
  return processBacklog(config, n);
}

export async function schedules(options: ScenarioOptions): Promise<SchedulesResult> {
  const count = options.quick ? 1000 : 10_000;
  const n = options.quick ? 2000 : 20_000;
  const { dir, remove } = tempDir();
  try {
    // 1. fire
    const config = benchConfig(`file:${join(dir, 'fire.db')}`, options.env);
    const api = await startRuntime(config, noopProbe(), false);
    await putSchedules(api, count);
    // Every schedule's next_run_at is the minute after its PUT; fire at the last of them.
    const lastDue = Number((await api.driver.all('SELECT max(next_run_at) AS t FROM schedules'))[0]!.t);
    const service = new ScheduleService({
      repo: new ScheduleRepository(api.driver),
      config,
      logger: createLogger('warn'),
      now: () => lastDue + 1000,
    });
    const t0 = performance.now();
    const summary = await service.fireDue();
    const fireMs = performance.now() - t0;
    const tasks = Number((await api.driver.all("SELECT count(*) AS n FROM tasks WHERE idempotency_key LIKE 'schedule:%'"))[0]!.n);
    await api.shutdown();
    if (summary.fired !== count || tasks !== count) throw new Error(`fired ${summary.fired}, tasks ${tasks}, of ${count}`);

    // 2. claim path without and with the schedules (the order alternates nothing: each is a fresh file)
    const without = await processRate(dir, 'without', n, 0, options);
    const withSchedules = await processRate(dir, 'with', n, count, options);

    return {
      schedules: count,
      fire_s: fireMs / 1000,
      fired_per_s: perSecond(count, fireMs),
      process_per_s_without: without,
      process_per_s_with: withSchedules,
      process_ratio: withSchedules / without,
    };
  } finally {
    remove();
  }
}
