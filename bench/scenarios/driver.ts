import Database from 'libsql';
import { join } from 'node:path';
import { idFloor } from '../../lib/tasks/ids.ts';
import { NEXT_ID } from '../../lib/tasks/inserts.ts';
import { migrateDatabase } from '../../local/database.ts';
import { tempDir, type ScenarioOptions } from '../harness.ts';
import { migratePreviousSchema, uuidShapedIds } from '../../test/support/previous-schema.ts';
import { perSecond } from '../stats.ts';

/**
 * The raw ceiling of the local driver, measured in the same run as everything else: the
 * `libsql` package used directly (prepared statements reused, no repository, no promises),
 * on the real schema (same table and indexes, migrated the same way), WAL with
 * synchronous=NORMAL like NativeDriver. Every product figure is also reported as a ratio to
 * these.
 */
export interface DriverCeiling {
  single_insert_per_s: number;
  /**
   * The same single-row inserts into the schema before the rowid key (migrations 0000–0003,
   * UUIDv7 text ids), interleaved with the above in chunks: the ceiling issue 13 states its
   * enqueue goal against.
   */
  single_insert_previous_schema_per_s: number;
  tx100_insert_per_s: number;
  /**
   * Inserts in 25-row transactions, ids assigned as the product's insert does: about the group
   * commits that 50 concurrent HTTP submits produce, so the floor under POST /tasks.
   */
  tx25_insert_per_s: number;
  /** Claim 10 due rows (the product's claim shape) and complete each by id+version, one tx per batch. */
  claim_complete_per_s: number;
}

const INSERT_PREVIOUS = `INSERT INTO tasks (id, title, description, status, version, type, payload, priority, run_at,
  attempts, max_attempts, idempotency_key, request_hash, created_at, updated_at)
  VALUES (?, ?, ?, 'pending', 1, 'noop', ?, 0, ?, 0, 3, NULL, NULL, ?, ?)`;
const INSERT = `INSERT INTO tasks (id, title, description, status, version, type, payload, priority, run_at,
  attempts, max_attempts, idempotency_key, request_hash, created_at, updated_at)
  VALUES (${NEXT_ID}, ?, ?, 'pending', 1, 'noop', ?, 0, ?, 0, 3, NULL, NULL, ?, ?)`;
const CLAIM = `UPDATE tasks SET status = 'in_progress', started_at = ?, locked_by = ?, lease_expires_at = ?,
  attempts = attempts + 1, version = version + 1, updated_at = ?
  WHERE id IN (SELECT id FROM tasks INDEXED BY tasks_claim_pending WHERE status = 'pending' AND flow_key IS NULL AND run_at <= ?
    ORDER BY priority DESC, run_at, id LIMIT ?) RETURNING id, version`;
const COMPLETE = `UPDATE tasks SET status = 'completed', version = version + 1, updated_at = ?, result = 'null',
  completed_at = ?, lease_expires_at = NULL WHERE id = ? AND version = ?`;

export async function driverCeiling(options: ScenarioOptions): Promise<DriverCeiling> {
  const n = options.quick ? 2000 : 20_000;
  const { dir, remove } = tempDir();
  try {
    const path = join(dir, 'ceiling.db');
    await migrateDatabase({ url: `file:${path}` });
    const db = new Database(path, { timeout: 5000 });
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    const insert = db.prepare(INSERT);
    // The id is assigned by the insert as the product's is (NEXT_ID), bound with the time floor.
    const id = (_i: number) => idFloor(Date.now());

    const previousPath = join(dir, 'previous.db');
    await migratePreviousSchema(dir, previousPath);
    const previous = new Database(previousPath, { timeout: 5000 });
    previous.exec('PRAGMA journal_mode = WAL');
    previous.exec('PRAGMA synchronous = NORMAL');
    const insertPrevious = previous.prepare(INSERT_PREVIOUS);
    const uuid = uuidShapedIds();

    // Single-row inserts, today's table and the previous one alternately in chunks of 500.
    let singleMs = 0;
    let previousMs = 0;
    const CHUNK = 500;
    for (let from = 0; from < n; from += CHUNK) {
      let t = performance.now();
      for (let i = from; i < from + CHUNK; i++) {
        const now = Date.now();
        insert.run(id(i), 'bench', 'ceiling', '{"i":1}', now, now, now);
      }
      singleMs += performance.now() - t;
      t = performance.now();
      for (let i = from; i < from + CHUNK; i++) {
        const now = Date.now();
        insertPrevious.run(uuid(), 'bench', 'ceiling', '{"i":1}', now, now, now);
      }
      previousMs += performance.now() - t;
    }
    previous.close();
    const single = perSecond(n, singleMs);
    const singlePrevious = perSecond(n, previousMs);
    let t0: number;

    const tx = db.transaction((from: number) => {
      for (let i = from; i < from + 100; i++) {
        const now = Date.now();
        insert.run(id(i), 'bench', 'ceiling', '{"i":1}', now, now, now);
      }
    });
    t0 = performance.now();
    for (let i = n; i < 2 * n; i += 100) tx(i);
    const tx100 = perSecond(n, performance.now() - t0);

    const tx25 = db.transaction(() => {
      for (let i = 0; i < 25; i++) {
        const now = Date.now();
        insert.run(idFloor(now), 'bench', 'ceiling', '{"i":1}', now, now, now);
      }
    });
    t0 = performance.now();
    for (let i = 0; i < n; i += 25) tx25();
    const tx25Rate = perSecond(n, performance.now() - t0);

    // Processing ceiling: claim 10, complete those 10 in one transaction, until all 3n are done.
    const claim = db.prepare(CLAIM);
    const complete = db.prepare(COMPLETE);
    const completeAll = db.transaction((rows: { id: string; version: number }[]) => {
      const now = Date.now();
      for (const row of rows) complete.run(now, now, row.id, row.version);
    });
    let done = 0;
    t0 = performance.now();
    for (;;) {
      const now = Date.now();
      const rows = claim.all(now, 'ceiling', now + 30_000, now, now, 10) as { id: string; version: number }[];
      if (rows.length === 0) break;
      completeAll(rows);
      done += rows.length;
    }
    const cycle = perSecond(done, performance.now() - t0);
    if (done !== 3 * n) throw new Error(`claimed ${done} of ${3 * n}`);
    db.close();
    return { single_insert_per_s: single, single_insert_previous_schema_per_s: singlePrevious, tx100_insert_per_s: tx100, tx25_insert_per_s: tx25Rate, claim_complete_per_s: cycle };
  } finally {
    remove();
  }
}
