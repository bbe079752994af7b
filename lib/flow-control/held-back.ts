import type { SqlDriver } from '../db/driver.ts';
import type { FlowControl, Task } from '../tasks/model.ts';

/**
 * Why tasks with a flow key wait (docs/flow-control.md): each key's limits and counts now,
 * read from `flow_keys` and the partial indexes the claim uses (lib/flow-control/claim.ts), for
 * `held_back` in a task's JSON and on the dashboard, and for `flow_control` in /stats and the
 * totals in /metrics. Computed when read: the claim writes nothing to the tasks it leaves.
 */

/** A key's limits (its newest task's) and its counts now. */
export interface FlowKeyState {
  key: string;
  parallelism: number | null;
  rate: number | null;
  periodSeconds: number | null;
  running: number;
  /** Starts within the last `periodSeconds` (0 without a rate). */
  recentStarts: number;
}

/** The state of each key in `keys_json` (a JSON array bound as text), for reads; binds `keys_json, now`. */
const KEY_STATES = `SELECT j.value AS k, f.parallelism, f.rate, f.period_ms / 1000.0 AS period_seconds,
    (SELECT count(*) FROM tasks INDEXED BY tasks_flow_running WHERE status = 'in_progress' AND flow_key IS NOT NULL AND flow_key = j.value) AS running,
    CASE WHEN f.rate IS NULL THEN 0 ELSE (SELECT count(*) FROM tasks INDEXED BY tasks_flow_started
      WHERE flow_key IS NOT NULL AND flow_key = j.value AND started_at > ?2 - f.period_ms) END AS recent_starts
  FROM json_each(?1) j JOIN flow_keys f ON f.key = j.value`;

/** The states of these keys now (keys with no task left are absent). */
export async function flowKeyStates(driver: SqlDriver, keys: string[], now = Date.now()): Promise<Map<string, FlowKeyState>> {
  const states = new Map<string, FlowKeyState>();
  if (keys.length === 0) return states;
  const rows = await driver.all(KEY_STATES, [JSON.stringify([...new Set(keys)]), now]);
  for (const row of rows) {
    const num = (value: unknown) => (value === null || value === undefined ? null : Number(value));
    states.set(String(row.k), {
      key: String(row.k),
      parallelism: num(row.parallelism),
      rate: num(row.rate),
      periodSeconds: num(row.period_seconds),
      running: Number(row.running),
      recentStarts: Number(row.recent_starts),
    });
  }
  return states;
}

/** Why a key holds its due tasks back now, or null when it has room. */
export function heldBackReason(state: FlowKeyState): string | null {
  if (state.parallelism !== null && state.running >= state.parallelism) {
    return `key ${state.key}: ${state.running} of ${state.parallelism} running`;
  }
  if (state.rate !== null && state.periodSeconds !== null && state.recentStarts >= state.rate) {
    return `key ${state.key}: ${state.recentStarts} starts in the last ${state.periodSeconds} s (rate ${state.rate} per ${state.periodSeconds} s)`;
  }
  return null;
}

/** The key a stored task carries, or null. */
export function flowKeyOf(task: Pick<Task, 'flowControl'>): string | null {
  if (task.flowControl === null) return null;
  return (JSON.parse(task.flowControl) as FlowControl).key;
}

/**
 * `held_back` for each task (by id) that is pending, due and whose key is at a limit now; a
 * task absent from the answer is not held back. One query for all the keys of the tasks given.
 */
export async function heldBackOf(driver: SqlDriver, tasks: readonly Task[], now = Date.now()): Promise<Map<number, string>> {
  const reasons = new Map<number, string>();
  const waiting = tasks.filter((task) => task.status === 'pending' && task.flowControl !== null && task.runAt <= now);
  if (waiting.length === 0) return reasons;
  const states = await flowKeyStates(driver, waiting.map((task) => flowKeyOf(task)!), now);
  for (const task of waiting) {
    const state = states.get(flowKeyOf(task)!);
    const reason = state ? heldBackReason(state) : null;
    if (reason !== null) reasons.set(task.id, reason);
  }
  return reasons;
}

/** One key as /stats lists it. */
export interface HeldBackKey extends FlowKeyState {
  /** Due pending tasks of the key (counted up to FLOW_COUNT_CAP). */
  due: number;
  reason: string;
}

export interface FlowStats {
  /** Keys with pending tasks (counted up to FLOW_KEYS_SCANNED). */
  keysPending: number;
  /** Of which at a limit now, holding due tasks back. */
  keysHeldBack: number;
  /** Due pending tasks of those keys. */
  tasksHeldBack: number;
  /** The keys holding the most tasks back, most first (at most `top`). */
  busiest: HeldBackKey[];
}

/** Keys looked at by one stats read, and due tasks counted per key: bounds its cost. */
export const FLOW_KEYS_SCANNED = 10_000;
export const FLOW_COUNT_CAP = 100_000;

const PENDING_KEYS = `WITH RECURSIVE flow_keys_pending(k, n) AS (
    SELECT (SELECT min(flow_key) FROM tasks INDEXED BY tasks_claim_flow WHERE status = 'pending' AND flow_key IS NOT NULL), 1
    UNION ALL
    SELECT (SELECT min(flow_key) FROM tasks INDEXED BY tasks_claim_flow WHERE status = 'pending' AND flow_key IS NOT NULL AND flow_key > p.k), n + 1
    FROM flow_keys_pending p WHERE p.k IS NOT NULL AND n < ?)
  SELECT k FROM flow_keys_pending WHERE k IS NOT NULL`;

/** Due pending tasks of each key in the JSON array ?1 (up to ?3 each), in one statement: one round trip on sqld. */
const DUE_OF_KEYS = `SELECT j.value AS k, (SELECT count(*) FROM (SELECT 1 FROM tasks INDEXED BY tasks_claim_flow
    WHERE status = 'pending' AND flow_key IS NOT NULL AND flow_key = j.value AND run_at <= ?2 LIMIT ?3)) AS n
  FROM json_each(?1) j`;

/**
 * Tasks held back by flow control now: totals, and the `top` keys holding the most back.
 * Bounded: at most FLOW_KEYS_SCANNED keys are looked at, and due tasks are counted only for
 * keys at a limit (up to FLOW_COUNT_CAP each).
 */
export async function flowStats(driver: SqlDriver, top = 10, now = Date.now()): Promise<FlowStats> {
  const keys = (await driver.all(PENDING_KEYS, [FLOW_KEYS_SCANNED])).map((row) => String(row.k));
  const states = await flowKeyStates(driver, keys, now);
  const atLimit = [...states.values()].flatMap((state) => {
    const reason = heldBackReason(state);
    return reason === null ? [] : [{ state, reason }];
  });
  const due = new Map<string, number>();
  if (atLimit.length > 0) {
    const rows = await driver.all(DUE_OF_KEYS, [JSON.stringify(atLimit.map(({ state }) => state.key)), now, FLOW_COUNT_CAP]);
    for (const row of rows) due.set(String(row.k), Number(row.n));
  }
  const held: HeldBackKey[] = [];
  for (const { state, reason } of atLimit) {
    const n = due.get(state.key) ?? 0;
    if (n > 0) held.push({ ...state, due: n, reason });
  }
  held.sort((a, b) => b.due - a.due || (a.key < b.key ? -1 : 1));
  return {
    keysPending: keys.length,
    keysHeldBack: held.length,
    tasksHeldBack: held.reduce((sum, key) => sum + key.due, 0),
    busiest: held.slice(0, top),
  };
}
