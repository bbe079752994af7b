import type { Task } from '../tasks/model.ts';
import { flowKeyOf } from './held-back.ts';

/**
 * Flow control (docs/flow-control.md): a task submitted with `flow_control: {key, parallelism?,
 * rate?, period_seconds?}` is claimed only while its key has room: fewer than `parallelism`
 * tasks of the key `in_progress`, and fewer than `rate` starts of the key in the last
 * `period_seconds`. The claim enforces both in its own statement (lib/tasks/repository.ts), so
 * a held-back task is never claimed and released, and every process and instance sharing the
 * database sees the same counts: SQLite runs one writer at a time, and the counts are read by
 * the statement that writes the claim.
 *
 * No count is stored per key: each is read from the tasks themselves through a partial index
 * that only tasks with a key enter (lib/db/schema.ts): running ones by key
 * (`tasks_flow_running`), starts by key and `started_at` (`tasks_flow_started`). A counter
 * would have to be kept right by every write that ends an attempt (complete, fail, retry,
 * release, cancel, lease expiry, delete); the rows are the truth already. A key's limits are
 * one row of `flow_keys`, written by a trigger on every insert of a task with the key (the
 * newest submitted limit wins) and deleted with the key's last task (migration 0013). The one thing the
 * rows cannot tell: a task started twice within one period (a quick retry) is counted once,
 * since `started_at` holds its latest start.
 *
 * This module holds the SQL pieces the claim (lib/tasks/repository.ts) splices in, and where a
 * process's next claim starts among the keys; held-back.ts, the reads behind `held_back` (a
 * task's JSON, the dashboard), /stats and /metrics. The repository also has a claim without
 * these pieces, sent while it knows no task with a key is pending (ANY_FLOW_PENDING, asked with
 * its full claims; trusted for FLOW_RECHECK_MS): a libSQL server prepares every statement it is
 * sent, and preparing FLOW_ROOM's recursive CTEs about doubled a claim there (bench/README.md,
 * "The keyless claim (issue 24)").
 */

/** The longest key accepted (characters). */
export const FLOW_KEY_MAX = 200;

/**
 * How long a process that found flow-controlled tasks held back waits before claiming again
 * (`nextRunAt`), unless a task of its own with a key ends first (that wakes it at once). A key
 * held back by another process's running tasks has room when they end, which this process does
 * not hear of: it looks again after this long. Each look is one claim statement.
 *
 * Also how long a repository trusts an answer "no task with a key is pending" and claims
 * without the flow arm (TaskRepository.claimDueTasks): a task with a key that another process
 * inserts is claimed by a busy process at most this long (plus one claim) after it.
 */
export const FLOW_RECHECK_MS = 200;

/**
 * Whether key `k` could start a task now: a due task of an unpaused type, fewer running than
 * its parallelism, fewer recent starts than its rate. Numbered parameters: ?1 is now.
 */
const CLAIMABLE = (k: string) => `(EXISTS (SELECT 1 FROM tasks INDEXED BY tasks_claim_flow
      WHERE status = 'pending' AND flow_key IS NOT NULL AND flow_key = ${k} AND run_at <= ?1 AND type NOT IN (SELECT type FROM paused_types))
    AND coalesce((SELECT f.parallelism > (SELECT count(*) FROM tasks INDEXED BY tasks_flow_running
      WHERE status = 'in_progress' AND flow_key IS NOT NULL AND flow_key = ${k}) FROM flow_keys f WHERE f.key = ${k}), 1)
    AND coalesce((SELECT f.rate > (SELECT count(*) FROM tasks INDEXED BY tasks_flow_started
      WHERE flow_key IS NOT NULL AND flow_key = ${k} AND started_at > ?1 - f.period_ms) FROM flow_keys f WHERE f.key = ${k}), 1))`;

const NEXT_KEY = (after: string) =>
  `(SELECT min(flow_key) FROM tasks INDEXED BY tasks_claim_flow WHERE status = 'pending' AND flow_key IS NOT NULL AND flow_key > ${after})`;

/**
 * CTEs (after `WITH RECURSIVE …,`) giving `flow_room(k, room, last_start)`: the keys this claim
 * looks at, how many tasks of each it may start now (≤ 0: none) and each key's last start.
 * Numbered parameters: ?1 now, ?4 limit, ?5 the key to start after (the cursor; '' for the
 * first key).
 *
 * Which keys: a skip scan of `tasks_claim_flow` (one index seek per key with pending tasks:
 * SQLite has no skip scan of its own for this) from the key after the cursor, wrapping to the
 * first key, that stops once it has passed `limit` keys that could start a task now (keys at
 * their limit, or with nothing due, are passed over and not counted). A claim of L tasks needs
 * no more than L keys, so its cost is O(L + keys held back), not O(keys): over 1,000 keys a
 * claim of 100 visited all 1,000 (8.4 ms), now about 100 (bench/README.md, "Flow control").
 * The repository moves the cursor to the last key it claimed from, so the claims of a process
 * go round the keys; each key's limits (flow_keys), running count, recent starts and last
 * start are a seek each. MATERIALIZED: the claim reads each key's row of flow_room several
 * times, and inlined, every read re-ran the key's subqueries.
 */
export const FLOW_ROOM = `flow_after(k, n) AS (
    SELECT ${NEXT_KEY('?5')}, 0
    UNION ALL
    SELECT ${NEXT_KEY('p.k')}, p.n + ${CLAIMABLE('p.k')} FROM flow_after p WHERE p.k IS NOT NULL AND p.n < ?4),
  flow_before(k, n) AS (
    SELECT ${NEXT_KEY("''")}, (SELECT max(n) FROM flow_after)
    UNION ALL
    SELECT ${NEXT_KEY('p.k')}, p.n + ${CLAIMABLE('p.k')} FROM flow_before p WHERE p.k IS NOT NULL AND p.k <= ?5 AND p.n < ?4),
  flow_limits(k, parallelism, rate, period_ms) AS MATERIALIZED (
    SELECT p.k, f.parallelism, f.rate, f.period_ms FROM (
      SELECT k FROM flow_after WHERE k IS NOT NULL AND n < ?4
      UNION SELECT k FROM flow_before WHERE k IS NOT NULL AND k <= ?5 AND n < ?4) p
    LEFT JOIN flow_keys f ON f.key = p.k),
  flow_room(k, room, last_start) AS MATERIALIZED (
    SELECT k, min(
      CASE WHEN parallelism IS NULL THEN ?4 ELSE parallelism - (SELECT count(*) FROM tasks INDEXED BY tasks_flow_running
        WHERE status = 'in_progress' AND flow_key IS NOT NULL AND flow_key = l.k) END,
      CASE WHEN rate IS NULL THEN ?4 ELSE rate - (SELECT count(*) FROM tasks INDEXED BY tasks_flow_started
        WHERE flow_key IS NOT NULL AND flow_key = l.k AND started_at > ?1 - period_ms) END),
      (SELECT started_at FROM tasks INDEXED BY tasks_flow_started WHERE flow_key IS NOT NULL AND flow_key = l.k ORDER BY started_at DESC LIMIT 1)
    FROM flow_limits l)`;

/**
 * The claim's arm for tasks with a key: up to `room` due tasks of each key with room, each
 * numbered by its turn within its key (`turn`), so the claim's final ORDER BY (priority, turn,
 * turn_at) takes keys in turns within a priority: a key with a long backlog gets one task per
 * turn like every other key. Between claims, turns go by `turn_at`: a key's task counts as
 * due at the later of its run_at and the key's last start, so the key served least recently
 * goes first, also when claims are small (a freed worker claims one task: without it, the
 * oldest backlog would win every such claim). Per key at most min(limit, the largest room of
 * any key) entries of its index are read: the IN list is a correlated subquery with its own
 * LIMIT, which cannot name the key's own `room` but may be an uncorrelated subquery, so a
 * key's backlog is never walked, and keys at parallelism 1 read one entry each rather than up
 * to `limit`. Numbered parameters as FLOW_ROOM's.
 */
export const FLOW_ARM = `SELECT id, priority, run_at, turn, turn_at FROM (
    SELECT t.id, t.priority, t.run_at, r.room, max(t.run_at, coalesce(r.last_start, 0)) AS turn_at,
      row_number() OVER (PARTITION BY r.k ORDER BY t.priority DESC, t.run_at, t.id) AS turn
    FROM flow_room r CROSS JOIN tasks t
    WHERE r.room > 0 AND t.rowid IN (SELECT id FROM tasks INDEXED BY tasks_claim_flow
      WHERE status = 'pending' AND flow_key IS NOT NULL AND flow_key = r.k AND run_at <= ?1
        AND type NOT IN (SELECT type FROM paused_types)
      ORDER BY priority DESC, run_at, id LIMIT (SELECT min(?4, max(room)) FROM flow_room)))
  WHERE turn <= room`;

/**
 * Where the next claim's key scan starts: after the last key (in scan order from `cursor`,
 * wrapping) that `claimed` took a task from; unchanged when it took none.
 */
export function nextFlowCursor(cursor: string, claimed: readonly Pick<Task, 'flowControl'>[]): string {
  let last: string | null = null;
  let lastWrapped = false;
  for (const task of claimed) {
    const key = flowKeyOf(task);
    if (key === null) continue;
    const wrapped = key <= cursor;
    if (last === null || (wrapped && !lastWrapped) || (wrapped === lastWrapped && key > last)) {
      last = key;
      lastWrapped = wrapped;
    }
  }
  return last ?? cursor;
}

/**
 * Is any task with a key pending (one seek): the poller then looks again after FLOW_RECHECK_MS;
 * while none is, the repository claims without the flow arm (TaskRepository.claimDueTasks).
 */
export const ANY_FLOW_PENDING = "SELECT 1 FROM tasks INDEXED BY tasks_claim_flow WHERE status = 'pending' AND flow_key IS NOT NULL LIMIT 1";

