import Database from 'libsql';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { idFloor } from '../../lib/tasks/ids.ts';
import { NEXT_ID } from '../../lib/tasks/inserts.ts';
import { migrateDatabase } from '../../local/database.ts';
import { tempDir, type ScenarioOptions } from '../harness.ts';
import { migratePreviousSchema, uuidShapedIds } from '../../test/support/previous-schema.ts';
import { perSecond } from '../stats.ts';

/**
 * Pages written per operation (issue 13, part 5) and what the claim pays for paused types,
 * at the raw-driver level (the `libsql` package, prepared statements, WAL, synchronous=NORMAL):
 *
 * - WAL frames per submit (one autocommit insert), per claimed task (claims of 10, one
 *   transaction each) and per completed task (one per transaction, and 10 per transaction as
 *   group commits write them), counted as the WAL's growth with checkpoints off
 *   (`wal_autocheckpoint = 0`, the WAL truncated before each phase): each frame is one 4 KB
 *   page plus a 24-byte header. Over 10,000 finished tasks of history.
 * - For three schemas: today's (drizzle/, migrated as the product does: the task id is the
 *   rowid, assigned by the insert as the product's does, issue 13 part 5), today's without the
 *   retention index `tasks_finished` (its cost), and the previous one (migrations 0000–0003:
 *   a UUIDv7 text primary key with its own index, `(status, id)` and `(type, id)` listing
 *   indexes and a claim index ending in created_at), for the before/after of the rowid key.
 * - The raw rates of the same three: single-row inserts, and claim 10 + complete 10 per
 *   transaction until 20,000 are done.
 * - The claim with the paused-types subquery: the claim statement before issue 13 (no
 *   subquery) vs today's with 0 and with 3 paused types (no tasks of theirs in the backlog),
 *   and with one paused type whose 2,000 due tasks sit ahead of the rest in claim order
 *   (the claim reads past them: the cost a paused backlog puts on every claim).
 */
export interface PagesResult {
  frames: Record<string, { submit: number; claim: number; complete_1: number; complete_10: number }>;
  /** Medians of 3 rounds, the schemas interleaved in small chunks within each round. */
  rates: Record<string, { insert_per_s: number; claim_complete_per_s: number; rounds: { insert_per_s: number; claim_complete_per_s: number }[] }>;
  /** Claim 10 + complete 10 per transaction, tasks/s: medians of 3 interleaved rounds. */
  paused: { before_issue: number; none: number; three: number; backlog_ahead: number; rounds: Record<string, number[]> };
}

// Today's claim orders ties by id (its claim index ends in id) and reads tasks without a
// flow-control key (the index holds only those); the previous schema's by created_at.
const CLAIM = (paused: boolean, today: boolean) => `UPDATE tasks SET status = 'in_progress', started_at = ?, locked_by = ?, lease_expires_at = ?,
  attempts = attempts + 1, version = version + 1, updated_at = ?
  WHERE id IN (SELECT id FROM tasks INDEXED BY tasks_claim_pending WHERE status = 'pending' AND run_at <= ?
    ${today ? 'AND flow_key IS NULL' : ''} ${paused ? 'AND type NOT IN (SELECT type FROM paused_types)' : ''}
    ORDER BY priority DESC, run_at, ${today ? 'id' : 'created_at'} LIMIT ?) RETURNING id, version`;
const COMPLETE = `UPDATE tasks SET status = 'completed', version = version + 1, updated_at = ?, result = 'null',
  completed_at = ?, lease_expires_at = NULL WHERE id = ? AND version = ?`;

// The first value is the id: today the product's id expression (lib/tasks/repository.ts,
// NEXT_ID) bound with the floor of now; for the previous schema a UUIDv7-shaped string.
const INSERT = (rowid: boolean) => `INSERT INTO tasks (id, title, description, status, version, type, payload, priority, run_at,
  attempts, max_attempts, idempotency_key, request_hash, created_at, updated_at)
  VALUES (${rowid ? NEXT_ID : '?'}, ?, ?, ?, 1, ?, ?, ?, ?, 0, 3, NULL, NULL, ?, ?)`;

type Schema = 'today' | 'today_without_tasks_finished' | 'previous_uuid';
const isRowid = (schema: Schema) => schema !== 'previous_uuid';

async function open(dir: string, schema: Schema): Promise<{ db: Database.Database; path: string; insert: Database.Statement; id: () => string | number }> {
  const path = join(dir, `${schema}.db`);
  if (schema === 'previous_uuid') {
    await migratePreviousSchema(dir, path);
  } else {
    await migrateDatabase({ url: `file:${path}` });
    if (schema === 'today_without_tasks_finished') {
      const db = new Database(path);
      db.exec('DROP INDEX tasks_finished');
      db.close();
    }
  }
  const db = new Database(path, { timeout: 5000 });
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  const id = isRowid(schema) ? () => idFloor(Date.now()) : uuidShapedIds();
  return { db, path, insert: db.prepare(INSERT(isRowid(schema))), id };
}

function walFrames(path: string): number {
  const bytes = statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
  return bytes <= 32 ? 0 : (bytes - 32) / (4096 + 24);
}

/**
 * Runs every contender's `step` in turn (a small chunk of work each) until all are done, and
 * returns each one's rate: interleaved this finely, load from elsewhere on the machine falls on
 * all of them alike (3x swings between whole-run rounds were seen here at load 7).
 */
function interleaved(contenders: { name: string; step: () => number }[]): Record<string, number> {
  const ms: Record<string, number> = {};
  const done: Record<string, number> = {};
  let active = contenders;
  while (active.length > 0) {
    const next: typeof active = [];
    for (const c of active) {
      const t0 = performance.now();
      const n = c.step();
      ms[c.name] = (ms[c.name] ?? 0) + performance.now() - t0;
      done[c.name] = (done[c.name] ?? 0) + n;
      if (n > 0) next.push(c);
    }
    active = next;
  }
  return Object.fromEntries(Object.keys(ms).map((name) => [name, perSecond(done[name]!, ms[name]!)]));
}

/** A claim + complete step: up to 20 cycles of claim 10 / complete those 10 in one transaction. */
function cycleStep(db: Database.Database, paused: boolean, schema: Schema = 'today'): () => number {
  const claim = db.prepare(CLAIM(paused, isRowid(schema)));
  const complete = db.prepare(COMPLETE);
  const cycle = db.transaction((rows: { id: string | number; version: number }[]) => {
    const now = Date.now();
    for (const row of rows) complete.run(now, now, row.id, row.version);
  });
  return () => {
    let n = 0;
    for (let i = 0; i < 20; i++) {
      const now = Date.now();
      const rows = claim.all(now, 'rate', now + 30_000, now, now, 10) as { id: string | number; version: number }[];
      if (rows.length === 0) break;
      cycle(rows);
      n += rows.length;
    }
    return n;
  };
}

/** Raw rates of the schemas, interleaved: single-row inserts (checkpoints on), then claim 10 + complete 10. */
async function rates(dir: string, schemas: Schema[], n: number): Promise<Record<string, { insert_per_s: number; claim_complete_per_s: number }>> {
  const opened = await Promise.all(schemas.map(async (schema) => {
    const sub = join(dir, `rate-${schema}`);
    mkdirSync(sub, { recursive: true });
    return { schema, ...(await open(sub, schema)) };
  }));
  const inserts = interleaved(opened.map(({ schema, insert, id }) => {
    let left = n;
    return {
      name: schema,
      step: () => {
        const k = Math.min(200, left);
        for (let i = 0; i < k; i++) {
          const now = Date.now();
          insert.run(id(), 'bench', 'rate', 'pending', 'noop', '{"i":1}', 0, now, now, now);
        }
        left -= k;
        return k;
      },
    };
  }));
  const cycles = interleaved(opened.map(({ schema, db }) => ({ name: schema, step: cycleStep(db, true, schema) })));
  for (const { db } of opened) db.close();
  return Object.fromEntries(schemas.map((schema) => [schema, { insert_per_s: inserts[schema]!, claim_complete_per_s: cycles[schema]! }]));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measureSchema(dir: string, schema: Schema, n: number) {
  const { db, path, insert, id } = await open(dir, schema);
  const now0 = Date.now();
  // History: 10,000 finished tasks.
  db.transaction(() => {
    for (let i = 0; i < 10_000; i++) insert.run(id(), 'bench', 'history', 'completed', 'noop', '{"i":1}', 0, now0, now0, now0);
  })();
  db.exec('UPDATE tasks SET completed_at = created_at');
  db.exec('PRAGMA wal_autocheckpoint = 0');
  const reset = () => db.exec('PRAGMA wal_checkpoint(TRUNCATE)');

  reset();
  for (let i = 0; i < n; i++) {
    const now = Date.now();
    insert.run(id(), 'bench', 'pages', 'pending', 'noop', '{"i":1}', 0, now, now, now);
  }
  const submit = walFrames(path) / n;

  const claim = db.prepare(CLAIM(true, isRowid(schema)));
  reset();
  const claimed: { id: string | number; version: number }[] = [];
  for (;;) {
    const now = Date.now();
    const rows = claim.all(now, 'pages', now + 30_000, now, now, 10) as { id: string | number; version: number }[];
    if (rows.length === 0) break;
    claimed.push(...rows);
  }
  const claimFrames = walFrames(path) / claimed.length;

  const complete = db.prepare(COMPLETE);
  const half = Math.floor(claimed.length / 2);
  reset();
  for (const row of claimed.slice(0, half)) {
    const now = Date.now();
    complete.run(now, now, row.id, row.version);
  }
  const complete1 = walFrames(path) / half;
  reset();
  const tx = db.transaction((rows: typeof claimed) => {
    const now = Date.now();
    for (const row of rows) complete.run(now, now, row.id, row.version);
  });
  const rest = claimed.slice(half);
  for (let i = 0; i < rest.length; i += 10) tx(rest.slice(i, i + 10));
  const complete10 = walFrames(path) / rest.length;
  db.close();
  return { submit, claim: claimFrames, complete_1: complete1, complete_10: complete10 };
}

/** Claim 10 + complete 10 per transaction over `n` due tasks in each variant's file (after its `setup`), interleaved. */
async function claimRates(dir: string, variants: Record<string, { paused: boolean; setup: (db: Database.Database) => void }>, n: number): Promise<Record<string, number>> {
  const contenders = await Promise.all(Object.entries(variants).map(async ([name, v]) => {
    const sub = join(dir, `claim-${name}`);
    mkdirSync(sub, { recursive: true });
    const { db, insert, id } = await open(sub, 'today');
    db.transaction(() => {
      const now = Date.now();
      for (let i = 0; i < n; i++) insert.run(id(), 'bench', 'claim', 'pending', 'noop', '{"i":1}', 0, now, now, now);
    })();
    v.setup(db);
    return { name, db, step: cycleStep(db, v.paused) };
  }));
  const result = interleaved(contenders);
  for (const c of contenders) c.db.close();
  return result;
}

export async function pages(options: ScenarioOptions): Promise<PagesResult> {
  const n = options.quick ? 1000 : 5000;
  const { dir, remove } = tempDir();
  try {
    const frames: PagesResult['frames'] = {};
    for (const schema of ['today', 'today_without_tasks_finished', 'previous_uuid'] as Schema[]) {
      const sub = join(dir, schema);
      mkdirSync(sub);
      frames[schema] = await measureSchema(sub, schema, n);
    }
    const m = options.quick ? 2000 : 20_000;
    const SCHEMAS: Schema[] = ['today', 'today_without_tasks_finished', 'previous_uuid'];
    const rateRounds: Record<string, { insert_per_s: number; claim_complete_per_s: number }[]> = {};
    for (let round = 0; round < 3; round++) {
      const r = await rates(join(dir, `rates-${round}`), SCHEMAS, m);
      for (const schema of SCHEMAS) (rateRounds[schema] ??= []).push(r[schema]!);
    }
    const rateSummary: PagesResult['rates'] = {};
    for (const schema of SCHEMAS) {
      const r = rateRounds[schema]!;
      rateSummary[schema] = { insert_per_s: median(r.map((x) => x.insert_per_s)), claim_complete_per_s: median(r.map((x) => x.claim_complete_per_s)), rounds: r };
    }

    const variants: Record<string, { paused: boolean; setup: (db: Database.Database) => void }> = {
      before_issue: { paused: false, setup: () => {} },
      none: { paused: true, setup: () => {} },
      three: { paused: true, setup: (db) => db.exec("INSERT INTO paused_types VALUES ('a', 1), ('b', 1), ('c', 1)") },
      backlog_ahead: {
        paused: true,
        setup: (db) => {
          db.exec("INSERT INTO paused_types VALUES ('held', 1)");
          const insert = db.prepare(`INSERT INTO tasks (id, title, description, status, version, type, payload, priority, run_at, attempts, max_attempts, created_at, updated_at)
            VALUES (${NEXT_ID}, 'held', 'paused backlog', 'pending', 1, 'held', NULL, 10, ?, 0, 3, ?, ?)`);
          const now = Date.now();
          db.transaction(() => {
            for (let i = 0; i < 2000; i++) insert.run(idFloor(now), now, now, now);
          })();
        },
      },
    };
    const pausedRounds: Record<string, number[]> = {};
    for (let round = 0; round < 3; round++) {
      const r = await claimRates(join(dir, `claims-${round}`), variants, m);
      for (const name of Object.keys(variants)) (pausedRounds[name] ??= []).push(r[name]!);
    }
    const p = (name: string) => median(pausedRounds[name]!);
    return {
      frames,
      rates: rateSummary,
      paused: { before_issue: p('before_issue'), none: p('none'), three: p('three'), backlog_ahead: p('backlog_ahead'), rounds: pausedRounds },
    };
  } finally {
    remove();
  }
}
