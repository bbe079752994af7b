import Database from 'libsql';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { migrateDatabase } from '../../local/database.ts';
import { tempDir, type ScenarioOptions } from '../harness.ts';
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
 * - For three schemas: today's (drizzle/, migrated as the product does), today's without the
 *   retention index `tasks_finished` (its cost), and a prototype keyed by the rowid: `id
 *   INTEGER PRIMARY KEY`, a time-ordered 64-bit integer (milliseconds × 1024 + a counter)
 *   that clients would see as an opaque string, so there is no separate primary-key index and
 *   every other index carries 8 bytes instead of a 36-character UUID; the listing indexes
 *   become `(status)` and `(type)` (the rowid is their tail, so newest-first listing stays
 *   indexed).
 * - The raw rates of the same three: single-row inserts, and claim 10 + complete 10 per
 *   transaction until 20,000 are done.
 * - The claim with the paused-types subquery: the claim statement before issue 13 (no
 *   subquery) vs today's with 0 and with 3 paused types (no tasks of theirs in the backlog),
 *   and with one paused type whose 2,000 due tasks sit ahead of the rest in claim order
 *   (the claim reads past them: the cost a paused backlog puts on every claim).
 */
export interface PagesResult {
  frames: Record<string, { submit: number; claim: number; complete_1: number; complete_10: number }>;
  /** Medians of 3 rounds, the schemas interleaved within each round. */
  rates: Record<string, { insert_per_s: number; claim_complete_per_s: number; rounds: { insert_per_s: number; claim_complete_per_s: number }[] }>;
  /** Claim 10 + complete 10 per transaction, tasks/s: medians of 3 interleaved rounds. */
  paused: { before_issue: number; none: number; three: number; backlog_ahead: number; rounds: Record<string, number[]> };
}

const CLAIM = (paused: boolean, table = 'tasks') => `UPDATE ${table} SET status = 'in_progress', started_at = ?, locked_by = ?, lease_expires_at = ?,
  attempts = attempts + 1, version = version + 1, updated_at = ?
  WHERE id IN (SELECT id FROM ${table} INDEXED BY tasks_claim_pending WHERE status = 'pending' AND run_at <= ?
    ${paused ? 'AND type NOT IN (SELECT type FROM paused_types)' : ''}
    ORDER BY priority DESC, run_at, created_at LIMIT ?) RETURNING id, version`;
const COMPLETE = `UPDATE tasks SET status = 'completed', version = version + 1, updated_at = ?, result = 'null',
  completed_at = ?, lease_expires_at = NULL WHERE id = ? AND version = ?`;

const PROTOTYPE = `
CREATE TABLE tasks (
  id INTEGER PRIMARY KEY, title TEXT NOT NULL, description TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
  version INTEGER NOT NULL DEFAULT 1, type TEXT NOT NULL DEFAULT 'simulate', payload TEXT, priority INTEGER NOT NULL DEFAULT 0,
  run_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL, lease_expires_at INTEGER,
  locked_by TEXT, last_error TEXT, result TEXT, idempotency_key TEXT, request_hash TEXT, created_at INTEGER NOT NULL,
  started_at INTEGER, completed_at INTEGER, updated_at INTEGER NOT NULL);
CREATE INDEX tasks_claim_pending ON tasks (priority DESC, run_at, id) WHERE status = 'pending';
CREATE INDEX tasks_claim_expired ON tasks (lease_expires_at) WHERE status = 'in_progress';
CREATE INDEX tasks_status_id ON tasks (status);
CREATE INDEX tasks_type_id ON tasks (type);
CREATE UNIQUE INDEX tasks_idempotency_key ON tasks (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX tasks_finished ON tasks (status, completed_at) WHERE completed_at IS NOT NULL;
CREATE TABLE paused_types (type TEXT PRIMARY KEY NOT NULL, paused_at INTEGER NOT NULL);`;

const INSERT = `INSERT INTO tasks (id, title, description, status, version, type, payload, priority, run_at,
  attempts, max_attempts, idempotency_key, request_hash, created_at, updated_at)
  VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, 0, 3, NULL, NULL, ?, ?)`;

type Schema = 'today' | 'today_without_tasks_finished' | 'rowid_prototype';

async function open(dir: string, schema: Schema): Promise<{ db: Database.Database; path: string; id: () => string | number }> {
  const path = join(dir, `${schema}.db`);
  if (schema === 'rowid_prototype') {
    const db = new Database(path);
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(PROTOTYPE);
    db.close();
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
  let seq = 0;
  const id =
    schema === 'rowid_prototype'
      ? () => Date.now() * 1024 + (seq++ % 1024)
      : () => `0190${(seq++).toString(16).padStart(28, '0')}`.replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
  return { db, path, id };
}

function walFrames(path: string): number {
  const bytes = statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
  return bytes <= 32 ? 0 : (bytes - 32) / (4096 + 24);
}

/** Raw rates on a fresh file of `schema`, checkpoints on as the product runs: single-row inserts, then claim 10 + complete 10 per transaction. */
async function rates(dir: string, schema: Schema, n: number): Promise<{ insert_per_s: number; claim_complete_per_s: number }> {
  mkdirSync(dir, { recursive: true });
  const { db, id } = await open(dir, schema);
  const insert = db.prepare(INSERT);
  const claim = db.prepare(CLAIM(true));
  const complete = db.prepare(COMPLETE);
  let t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const now = Date.now();
    insert.run(id(), 'bench', 'rate', 'pending', 'noop', '{"i":1}', 0, now, now, now);
  }
  const insertRate = perSecond(n, performance.now() - t0);
  const cycle = db.transaction((rows: { id: string | number; version: number }[]) => {
    const now = Date.now();
    for (const row of rows) complete.run(now, now, row.id, row.version);
  });
  let done = 0;
  t0 = performance.now();
  for (;;) {
    const now = Date.now();
    const rows = claim.all(now, 'rate', now + 30_000, now, now, 10) as { id: string | number; version: number }[];
    if (rows.length === 0) break;
    cycle(rows);
    done += rows.length;
  }
  const cycleRate = perSecond(done, performance.now() - t0);
  db.close();
  return { insert_per_s: insertRate, claim_complete_per_s: cycleRate };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measureSchema(dir: string, schema: Schema, n: number) {
  const { db, path, id } = await open(dir, schema);
  const insert = db.prepare(INSERT);
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

  const claim = db.prepare(CLAIM(true));
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

/** Claim 10 + complete 10 per transaction over `n` due tasks, after `setup` (paused types, a paused backlog). */
async function claimRate(dir: string, setup: (db: Database.Database) => void, paused: boolean, n: number): Promise<number> {
  mkdirSync(dir, { recursive: true });
  const { db, id } = await open(dir, 'today');
  const insert = db.prepare(INSERT);
  db.transaction(() => {
    const now = Date.now();
    for (let i = 0; i < n; i++) insert.run(id(), 'bench', 'claim', 'pending', 'noop', '{"i":1}', 0, now, now, now);
  })();
  setup(db);
  const claim = db.prepare(CLAIM(paused));
  const complete = db.prepare(COMPLETE);
  const cycle = db.transaction((rows: { id: string; version: number }[]) => {
    const now = Date.now();
    for (const row of rows) complete.run(now, now, row.id, row.version);
  });
  let done = 0;
  const t0 = performance.now();
  for (;;) {
    const now = Date.now();
    const rows = claim.all(now, 'rate', now + 30_000, now, now, 10) as { id: string; version: number }[];
    if (rows.length === 0) break;
    cycle(rows);
    done += rows.length;
  }
  const rate = perSecond(done, performance.now() - t0);
  db.close();
  return rate;
}

export async function pages(options: ScenarioOptions): Promise<PagesResult> {
  const n = options.quick ? 1000 : 5000;
  const { dir, remove } = tempDir();
  try {
    const frames: PagesResult['frames'] = {};
    for (const schema of ['today', 'today_without_tasks_finished', 'rowid_prototype'] as Schema[]) {
      const sub = join(dir, schema);
      mkdirSync(sub);
      frames[schema] = await measureSchema(sub, schema, n);
    }
    const m = options.quick ? 2000 : 20_000;
    const SCHEMAS: Schema[] = ['today', 'today_without_tasks_finished', 'rowid_prototype'];
    const rateRounds: Record<string, { insert_per_s: number; claim_complete_per_s: number }[]> = {};
    for (let round = 0; round < 3; round++) {
      for (const schema of SCHEMAS) (rateRounds[schema] ??= []).push(await rates(join(dir, `rate-${schema}-${round}`), schema, m));
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
            VALUES (?, 'held', 'paused backlog', 'pending', 1, 'held', NULL, 10, ?, 0, 3, ?, ?)`);
          const now = Date.now();
          db.transaction(() => {
            for (let i = 0; i < 2000; i++) insert.run(`ffff${i.toString(16).padStart(28, '0')}`, now, now, now);
          })();
        },
      },
    };
    const pausedRounds: Record<string, number[]> = {};
    for (let round = 0; round < 3; round++) {
      for (const [name, v] of Object.entries(variants)) (pausedRounds[name] ??= []).push(await claimRate(join(dir, `claim-${name}-${round}`), v.setup, v.paused, m));
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
