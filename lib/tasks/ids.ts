/**
 * Task ids. In the table a task's id is its rowid (`tasks.id INTEGER PRIMARY KEY`): a 64-bit
 * integer the insert assigns inside the write lock (lib/tasks/inserts.ts, `NEXT_ID`), so ids
 * are unique across processes and hosts without coordination:
 *
 *   id = max(largest id in the table + 1, idFloor(now), the high-water mark)
 *
 * `idFloor(t)` = (t − EPOCH) × 4096 with EPOCH = 2025-01-01T00:00:00Z: a task created at
 * millisecond t has an id ≥ idFloor(t), so ids are time-ordered (up to 4,096 a millisecond
 * before they run ahead of the clock), keep counting up when a clock steps back or another
 * host's clock lags, and do not restart at 1 when retention empties the table. They stay
 * below 2^53 (exact in a JavaScript number) until 2094-09.
 *
 * Never reused: deleting the newest tasks lowers max(id), and the floor alone would hand a
 * deleted id out again within its millisecond or while a clock is behind it. So every
 * statement that deletes tasks (retention, DELETE /tasks/:id) first raises a one-row
 * high-water mark, `task_id_mark.next`, to one past the largest id, in the same transaction
 * (lib/tasks/inserts.ts, `RAISE_ID_MARK`), and the insert's id is at least the mark.
 * Inserts only read the mark; a delete statement writes it once.
 *
 * Clients see an id as an opaque fixed-width string, 16 decimal digits zero-padded
 * (`formatTaskId`), so string order is id order: cursors and any comparison a client makes
 * stay right. In process `Task.id` is the number (the binding a rowid seek needs).
 *
 * Before migration 0004 ids were UUIDv7 strings; a migrated task keeps its old id in
 * `legacy_id` and the service resolves either form (`isLegacyTaskId`).
 */

/** 2025-01-01T00:00:00Z in epoch milliseconds. */
export const ID_EPOCH_MS = Date.UTC(2025, 0, 1);
/** Ids per millisecond before ids run ahead of the clock. */
export const IDS_PER_MS = 4096;

const WIDTH = 16;
const ZEROS = '0'.repeat(WIDTH);
const ID_SHAPE = /^\d{16}$/;
const LEGACY_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The least id a task created at `ms` (epoch milliseconds) can have; 0 before EPOCH. */
export function idFloor(ms: number): number {
  return Math.max(0, Math.floor(ms) - ID_EPOCH_MS) * IDS_PER_MS;
}

/** The id as clients see it: 16 digits, zero-padded. */
export function formatTaskId(id: number): string {
  const digits = String(id);
  // Ids made since 2025-01-01 have 15 or 16 digits: one slice instead of padStart's loop.
  return digits.length >= WIDTH ? digits : ZEROS.slice(digits.length) + digits;
}

/** The id inside a client's string, or null when it is not one (a legacy UUID is not). */
export function parseTaskId(value: string): number | null {
  if (!ID_SHAPE.test(value)) return null;
  const id = Number(value);
  return Number.isSafeInteger(id) ? id : null;
}

/** Whether `value` is a task id in its public form: for cursors and links. */
export function isTaskId(value: string): boolean {
  return parseTaskId(value) !== null;
}

/** Whether `value` has the shape of an id from before migration 0004 (a lower-case UUID). */
export function isLegacyTaskId(value: string): boolean {
  return LEGACY_SHAPE.test(value);
}
