import Database from 'libsql';
import { join } from 'node:path';
import type { Config } from '../../lib/config/config.ts';
import { recordAttemptStatements } from '../../lib/tasks/attempts.ts';
import { idFloor } from '../../lib/tasks/ids.ts';
import { NEXT_ID } from '../../lib/tasks/inserts.ts';
import { migrateDatabase } from '../../local/database.ts';
import { benchConfig, completions, countByStatus, NOOP_TYPE, processBacklogCpu, tempDir, tinyPayload, type ScenarioOptions } from '../harness.ts';
import { median, perSecond } from '../stats.ts';
import { createRuntime } from '../../local/runtime.ts';

/**
 * Attempt history (issue 23), in one process, arms alternating round by round so drift on a
 * shared machine falls on all of them:
 *
 * - **Common path**: N no-op tasks (a fresh file each, enqueued first, 10 workers, first
 *   handler start → N-th completion; CPU per task too) with TASK_ATTEMPTS_KEPT=20 (`on`), =0
 *   (`off`), and `on` on a file whose two attempt triggers were dropped (`no_triggers`: what
 *   the schema's triggers cost a claim and a completion). Target: on ≥ 0.95× off.
 * - **Failing path**: N/4 tasks whose handler throws on the first attempt and returns on the
 *   second (backoff 0), with history on and off: tasks/s (two attempts each).
 * - **Table or array** (raw `libsql`, prepared statements, WAL, synchronous=NORMAL; the product's
 *   claim shape returning every column): tasks failing 4 times then completing, claims of 100,
 *   each claimed batch written in one transaction, a 300-character error per failure. `table`:
 *   the product's statements (the version-checked UPDATE, the guarded INSERT into
 *   task_attempts, the trim to 20). `array`: River's way, the failures appended to a JSON
 *   array on the task row (`attempt_log`) and trimmed to 20 in the same UPDATE. Attempts/s,
 *   and the bytes the claims read.
 */
export interface AttemptsResult {
  tasks: number;
  rounds: number;
  process_per_s: Record<Arm, number>;
  cpu_us_per_task: Record<Arm, number>;
  /** median(on) / median(off). */
  on_off_ratio: number;
  on_no_triggers_ratio: number;
  cpu_on_off_ratio: number;
  failing_per_s: { on: number; off: number };
  failing_on_off_ratio: number;
  failing_cpu_us_per_task: { on: number; off: number };
  failing_cpu_on_off_ratio: number;
  /** Raw claim 100 + complete 100 per transaction, tasks/s, the schema with its two attempt triggers and without: medians of interleaved rounds. */
  triggers: { with_per_s: number; without_per_s: number; ratio: number; cpu_us_with: number; cpu_us_without: number; cpu_ratio: number; rounds: { with: number[]; without: number[]; cpu_with: number[]; cpu_without: number[] } };
  storage: {
    table_attempts_per_s: number;
    array_attempts_per_s: number;
    /** CPU time of this process per attempt (the driver is synchronous: the SQL's own work). */
    table_cpu_us_per_attempt: number;
    array_cpu_us_per_attempt: number;
    table_claim_bytes_per_task: number;
    array_claim_bytes_per_task: number;
    rounds: { table: number[]; array: number[]; cpu_table: number[]; cpu_array: number[] };
  };
  rates: Record<string, number[]>;
}

type Arm = 'on' | 'off' | 'no_triggers';
type FailArm = 'fail_on' | 'fail_off';
const FLAKY = 'flaky';

export async function attempts(options: ScenarioOptions): Promise<AttemptsResult> {
  const n = options.quick ? 2000 : 10_000;
  const rounds = options.quick ? 1 : 6;
  const orders: (Arm | FailArm)[][] = [
    ['on', 'off', 'no_triggers', 'fail_on', 'fail_off'],
    ['off', 'no_triggers', 'on', 'fail_off', 'fail_on'],
    ['no_triggers', 'on', 'off', 'fail_on', 'fail_off'],
  ];
  const rates: Record<string, number[]> = { on: [], off: [], no_triggers: [], fail_on: [], fail_off: [] };
  const cpu: Record<Arm | FailArm, number[]> = { on: [], off: [], no_triggers: [], fail_on: [], fail_off: [] };
  const { dir, remove } = tempDir();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const arm of orders[round % orders.length]!) {
        const config = benchConfig(`file:${join(dir, `${arm}-${round}.db`)}`, {
          ...options.env,
          TASK_ATTEMPTS_KEPT: arm === 'off' || arm === 'fail_off' ? '0' : '20',
          TASK_BACKOFF_BASE_MS: '0',
          TASK_BACKOFF_MAX_MS: '0',
        });
        if (arm === 'fail_on' || arm === 'fail_off') {
          const result = await failingRound(config, Math.round(n / 4));
          rates[arm]!.push(result.rate);
          cpu[arm].push(result.cpuUsPerTask);
        } else {
          const result = await processRound(config, n, arm === 'no_triggers');
          rates[arm]!.push(result.rate);
          cpu[arm].push(result.cpuUsPerTask);
        }
      }
    }
    const storage = await tableOrArray(dir, options.quick ? 1000 : 5000, options.quick ? 1 : 3);
    const triggers = await triggerCost(dir, options.quick ? 2000 : 10_000, options.quick ? 1 : 6);
    const med = (arm: string) => median(rates[arm]!);
    return {
      tasks: n,
      rounds,
      rates,
      process_per_s: { on: med('on'), off: med('off'), no_triggers: med('no_triggers') },
      cpu_us_per_task: { on: median(cpu.on), off: median(cpu.off), no_triggers: median(cpu.no_triggers) },
      on_off_ratio: med('on') / med('off'),
      on_no_triggers_ratio: med('on') / med('no_triggers'),
      cpu_on_off_ratio: median(cpu.off) / median(cpu.on),
      failing_per_s: { on: med('fail_on'), off: med('fail_off') },
      failing_on_off_ratio: med('fail_on') / med('fail_off'),
      failing_cpu_us_per_task: { on: median(cpu.fail_on), off: median(cpu.fail_off) },
      failing_cpu_on_off_ratio: median(cpu.fail_off) / median(cpu.fail_on),
      storage,
      triggers,
    };
  } finally {
    remove();
  }
}

async function enqueue(config: Config, n: number, type: string): Promise<void> {
  const api = await createRuntime({ config, handlers: { [type]: async () => null }, processing: false });
  for (let i = 0; i < n; i++) await api.service.submit({ title: 'bench', description: 'attempts', type, payload: tinyPayload(i) });
  await api.shutdown();
}

async function processRound(config: Config, n: number, dropTriggers: boolean): Promise<{ rate: number; cpuUsPerTask: number }> {
  await enqueue(config, n, NOOP_TYPE);
  if (dropTriggers) {
    const db = new Database(config.databaseUrl.replace(/^file:/, ''));
    db.exec('DROP TRIGGER task_attempts_with_task; DROP TRIGGER task_attempts_lease_expired');
    db.close();
  }
  return processBacklogCpu(config, n);
}

/** Tasks that fail their first attempt and complete their second: tasks/s, first start → last completion. */
async function failingRound(config: Config, n: number): Promise<{ rate: number; cpuUsPerTask: number }> {
  await enqueue(config, n, FLAKY);
  let firstStart = Number.NaN;
  const worker = await createRuntime({
    config,
    handlers: {
      [FLAKY]: async (_task, { attempt }) => {
        if (Number.isNaN(firstStart)) firstStart = performance.now();
        if (attempt === 1) throw new Error('first attempt fails');
        return null;
      },
    },
  });
  const cpu0 = process.cpuUsage();
  worker.start();
  const end = await completions(worker, n);
  const cpuUsed = process.cpuUsage(cpu0);
  const counts = await countByStatus(worker);
  const recorded = Number((await worker.driver.all('SELECT count(*) AS n FROM task_attempts'))[0]!.n);
  await worker.shutdown();
  if (counts.completed !== n) throw new Error(`lost tasks: ${JSON.stringify(counts)}`);
  const expected = config.attemptsKept > 0 ? n : 0;
  if (recorded !== expected) throw new Error(`expected ${expected} attempt records, found ${recorded}`);
  return { rate: perSecond(n, end - firstStart), cpuUsPerTask: (cpuUsed.user + cpuUsed.system) / n };
}

/**
 * What the two triggers of migration 0011 cost the common path, at the SQL level: claims of
 * 100 (the claim sets started_at, so the reclaim trigger's WHEN is evaluated per row) and the
 * completion of those 100 in one transaction, on the migrated schema with the triggers and
 * with them dropped, alternating round by round.
 */
async function triggerCost(dir: string, n: number, rounds: number): Promise<AttemptsResult['triggers']> {
  const results = { with: [] as number[], without: [] as number[], cpu_with: [] as number[], cpu_without: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    for (const variant of round % 2 === 0 ? (['with', 'without'] as const) : (['without', 'with'] as const)) {
      const db = await openRaw(join(dir, `triggers-${variant}-${round}.db`), false);
      if (variant === 'without') db.exec('DROP TRIGGER task_attempts_with_task; DROP TRIGGER task_attempts_lease_expired');
      const now = Date.now();
      const insert = db.prepare(INSERT);
      db.transaction(() => {
        for (let i = 0; i < n; i++) insert.run(idFloor(now), now, now, now);
      })();
      const claim = db.prepare(CLAIM);
      const complete = db.prepare(COMPLETE);
      let done = 0;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (;;) {
        const at = Date.now();
        const rows = claim.all(at, 'w', at + 30_000, at, at, 100) as { id: number; version: number }[];
        if (rows.length === 0) break;
        db.transaction(() => {
          for (const row of rows) complete.run(at, at, row.id, row.version);
        })();
        done += rows.length;
      }
      results[variant].push(perSecond(done, performance.now() - t0));
      const cpu = process.cpuUsage(cpu0);
      results[`cpu_${variant}`].push((cpu.user + cpu.system) / done);
      db.close();
      if (done !== n) throw new Error(`trigger cost: ${done} of ${n} completed`);
    }
  }
  return {
    with_per_s: median(results.with),
    without_per_s: median(results.without),
    ratio: median(results.with) / median(results.without),
    cpu_us_with: median(results.cpu_with),
    cpu_us_without: median(results.cpu_without),
    cpu_ratio: median(results.cpu_without) / median(results.cpu_with),
    rounds: results,
  };
}

const CLAIM = `UPDATE tasks SET status = 'in_progress', started_at = ?, locked_by = ?, lease_expires_at = ?,
  attempts = attempts + 1, version = version + 1, updated_at = ?
  WHERE id IN (SELECT id FROM tasks INDEXED BY tasks_claim_pending WHERE status = 'pending' AND flow_key IS NULL AND run_at <= ?
    ORDER BY priority DESC, run_at, id LIMIT ?) RETURNING *`;
const INSERT = `INSERT INTO tasks (id, title, description, type, payload, priority, run_at, max_attempts, created_at, updated_at)
  VALUES (${NEXT_ID}, 'bench', 'attempts', 'noop', '{"i":1}', 0, ?, 5, ?, ?)`;
const FAIL = `UPDATE tasks SET status = 'pending', version = version + 1, updated_at = ?, run_at = ?, last_error = ?, lease_expires_at = NULL
  WHERE id = ? AND version = ?`;
// River's way: the failure appended to the row's array, the newest 20 kept, in the same UPDATE.
const FAIL_ARRAY = `UPDATE tasks SET status = 'pending', version = version + 1, updated_at = ?, run_at = ?, last_error = ?, lease_expires_at = NULL,
  attempt_log = (SELECT json_group_array(json(value)) FROM (SELECT * FROM (
    SELECT key, value FROM json_each(json_insert(coalesce(attempt_log, '[]'), '$[#]', json(?))) ORDER BY key DESC LIMIT 20) ORDER BY key))
  WHERE id = ? AND version = ?`;
const COMPLETE = `UPDATE tasks SET status = 'completed', version = version + 1, updated_at = ?, result = 'null', completed_at = ?, lease_expires_at = NULL
  WHERE id = ? AND version = ?`;
const ERROR = `Error: upstream answered 503 Service Unavailable ${'x'.repeat(250)}`;

async function openRaw(path: string, array: boolean): Promise<Database.Database> {
  await migrateDatabase({ url: `file:${path}` });
  const db = new Database(path, { timeout: 5000 });
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  if (array) db.exec('ALTER TABLE tasks ADD attempt_log TEXT');
  return db;
}

/** Tasks failing 4 times, then completing; attempts/s and bytes read per claimed task. */
function failingPath(db: Database.Database, array: boolean, n: number): { attemptsPerS: number; cpuUsPerAttempt: number; claimBytesPerTask: number } {
  const now = Date.now();
  const insert = db.prepare(INSERT);
  db.transaction(() => {
    for (let i = 0; i < n; i++) insert.run(idFloor(now), now, now, now);
  })();
  const claim = db.prepare(CLAIM);
  const fail = db.prepare(array ? FAIL_ARRAY : FAIL);
  const complete = db.prepare(COMPLETE);
  const record = recordAttemptStatements({ id: 0, attempts: 0, lockedBy: null, startedAt: null }, { outcome: 'retried', error: null }, 0, 20, { sql: 'changes() = 1', args: [] });
  const insertRecord = db.prepare(record[0]!.sql);
  const trim = db.prepare(record[1]!.sql);
  let attempts = 0;
  let bytes = 0;
  let claimed = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (;;) {
    const at = Date.now();
    const rows = claim.all(at, 'w', at + 30_000, at, at, 100) as Record<string, unknown>[];
    if (rows.length === 0) break;
    claimed += rows.length;
    for (const row of rows) for (const value of Object.values(row)) bytes += typeof value === 'string' ? value.length : 8;
    db.transaction(() => {
      for (const row of rows) {
        const { id, version, attempts: attempt, started_at: startedAt } = row as { id: number; version: number; attempts: number; started_at: number };
        if (attempt < 5) {
          if (array) {
            fail.run(at, at, ERROR, JSON.stringify({ attempt, worker: 'w', started_at: startedAt, ended_at: at, outcome: 'retried', error: ERROR }), id, version);
          } else {
            fail.run(at, at, ERROR, id, version);
            insertRecord.run(id, id, attempt, 'w', startedAt, at, 'retried', ERROR);
            trim.run(id, id, 20);
          }
        } else {
          complete.run(at, at, id, version);
        }
        attempts++;
      }
    })();
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const left = Number((db.prepare("SELECT count(*) AS n FROM tasks WHERE status <> 'completed'").get() as { n: number }).n);
  if (left !== 0 || attempts !== n * 5) throw new Error(`failing path: ${left} not completed, ${attempts} attempts for ${n} tasks`);
  return { attemptsPerS: attempts / seconds, cpuUsPerAttempt: (cpu.user + cpu.system) / attempts, claimBytesPerTask: bytes / claimed };
}

async function tableOrArray(dir: string, n: number, rounds: number): Promise<AttemptsResult['storage']> {
  const results = { table: [] as number[], array: [] as number[], cpu_table: [] as number[], cpu_array: [] as number[] };
  const claimBytes = { table: 0, array: 0 };
  for (let round = 0; round < rounds; round++) {
    for (const variant of round % 2 === 0 ? (['table', 'array'] as const) : (['array', 'table'] as const)) {
      const db = await openRaw(join(dir, `raw-${variant}-${round}.db`), variant === 'array');
      const { attemptsPerS, cpuUsPerAttempt, claimBytesPerTask } = failingPath(db, variant === 'array', n);
      db.close();
      results[variant].push(attemptsPerS);
      results[`cpu_${variant}`].push(cpuUsPerAttempt);
      claimBytes[variant] = claimBytesPerTask;
    }
  }
  return {
    table_attempts_per_s: median(results.table),
    array_attempts_per_s: median(results.array),
    table_cpu_us_per_attempt: median(results.cpu_table),
    array_cpu_us_per_attempt: median(results.cpu_array),
    table_claim_bytes_per_task: claimBytes.table,
    array_claim_bytes_per_task: claimBytes.array,
    rounds: results,
  };
}
