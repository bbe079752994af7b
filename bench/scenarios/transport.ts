import { createClient, type Client } from '@libsql/client';
import * as hrana from '@libsql/hrana-client';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { migrateDatabase } from '../../local/database.ts';
import { insertStatement } from '../../lib/tasks/inserts.ts';
import { buildTask } from '../../lib/tasks/model.ts';
import { requestFetch, streamTarget, transportUrl } from '../../local/remote-transport.ts';
import { startSqldProcess, type SqldProcess } from '../../test/support/sqld-process.ts';
import { benchConfig, completions, noopProbe, NOOP_TYPE, startRuntime, tempDir, tinyPayload, type ScenarioOptions } from '../harness.ts';
import { percentile, perSecond } from '../stats.ts';

/**
 * The transports to a libSQL server, side by side in one run (issue 24): a real sqld per
 * transport on this machine, both running throughout, and every measurement done in chunks
 * that alternate between the two (ws first in even rounds, http first in odd ones), so a
 * burst of load on the machine hits both alike. Each product chunk is preceded by a chunk of
 * the raw ceiling it is compared with, on the same server (raw single-row inserts before each
 * enqueue chunk; batches and claim+complete before each processing chunk): a figure and its
 * ceiling see the same load.
 *
 * Raw ceilings, plain @libsql/client on the transport's URL (`ws://` or `http://`, the latter
 * with the fetch the product gives it, local/remote-transport.ts `requestFetch`; single-row
 * inserts also with Node's global fetch, what @libsql/client uses by default), and over the
 * WebSocket also plain @libsql/hrana-client on one stream kept open (`stream`: what the
 * product's writes go over, local/stream-driver.ts; @libsql/client opens a stream per
 * statement, and sqld a connection per stream), the fastest of all and the ceiling the ws
 * ratios are taken to; these run on a third sqld, migrated like the product's:
 * - single-row INSERTs, each awaited before the next (and, on the kept stream, the product's
 *   own INSERT of a task, lib/tasks/inserts.ts, into its own schema: its partial indexes and
 *   triggers are what the simple table lacks);
 * - 100-row write batches (one `batch()` per 100 rows);
 * - claim 100 + complete 100: `UPDATE … WHERE id IN (SELECT … LIMIT 100) RETURNING` through a
 *   partial claim index, then the 100 completions as one batch of version-checked UPDATEs
 *   (`per_row`), or as one statement over a JSON list (`json`), sequential.
 * The product, on the same sqld through createRuntime with DATABASE_TRANSPORT set:
 * - enqueue: TaskService.submit in process (not POST /tasks over HTTP), one at a time, awaited;
 * - processing: N tasks, 10 workers, no-op handler; first handler start → N-th completion
 *   per chunk (a runtime per chunk, started on the backlog, shut down after `chunk` tasks);
 *   over ws also with TASK_QUEUE_SIZE=300 (DEEP_QUEUE), N more tasks seeded for it;
 * - pickup latency: an idle pool per transport, submits every 20 ms alternating between the
 *   two (each pool sees one every 40 ms), submit call → handler start.
 */
export type TransportName = 'ws' | 'http';

export interface TransportFigures {
  raw_single_insert_per_s: number;
  /** ws only (else NaN): the raw arms on one kept stream. */
  raw_stream_single_insert_per_s: number;
  raw_stream_batch100_rows_per_s: number;
  raw_stream_claim_complete_per_row_per_s: number;
  raw_stream_claim_complete_json_per_s: number;
  /** ws only: the product's own INSERT of a task (lib/tasks/inserts.ts), its schema, on one kept stream. */
  raw_stream_product_insert_per_s: number;
  /** http only: the same with Node's global fetch (@libsql/client's default); ws: NaN. */
  raw_single_insert_global_fetch_per_s: number;
  raw_batch100_rows_per_s: number;
  raw_claim_complete_per_row_per_s: number;
  raw_claim_complete_json_per_s: number;
  enqueue_per_s: number;
  process_per_s: number;
  /** ws only: the same with TASK_QUEUE_SIZE=300 (DEEP_QUEUE), else NaN. */
  process_deep_queue_per_s: number;
  pickup_p50_ms: number;
  pickup_p99_ms: number;
}

export interface TransportResult {
  tasks: number;
  ws: TransportFigures;
  http: TransportFigures;
}

const TRANSPORTS: TransportName[] = ['ws', 'http'];
const order = (round: number): TransportName[] => (round % 2 === 0 ? TRANSPORTS : [...TRANSPORTS].reverse());

// Each arm's own tables (`raw`, `rawq`; with a prefix for the kept stream, which has a sqld of its own).
const rawSql = (p: string) => ({
  insert: `INSERT INTO ${p}raw (id, title, description, status, version, type, payload, priority, run_at,
  attempts, max_attempts, created_at, updated_at) VALUES (?, 'bench', 'ceiling', 'pending', 1, 'noop', '{"i":1}', 0, ?, 0, 3, ?, ?)`,
  claim: `UPDATE ${p}rawq SET status = 'in_progress', version = version + 1, attempts = attempts + 1, locked_by = 'bench', lease_expires_at = ?
  WHERE id IN (SELECT id FROM ${p}rawq INDEXED BY ${p}rawq_claim WHERE status = 'pending' AND run_at <= ? ORDER BY priority DESC, run_at, id LIMIT 100)
  RETURNING id, version`,
  completeOne: `UPDATE ${p}rawq SET status = 'completed', version = version + 1, completed_at = ? WHERE id = ? AND version = ?`,
  completeJson: `UPDATE ${p}rawq SET status = 'completed', version = version + 1, completed_at = ?
  WHERE (id, version) IN (SELECT value->>0, value->>1 FROM json_each(?))`,
  schema: [
    `CREATE TABLE ${p}raw (id TEXT PRIMARY KEY, title TEXT, description TEXT, status TEXT, version INT, type TEXT,
          payload TEXT, priority INT, run_at INT, attempts INT, max_attempts INT, created_at INT, updated_at INT)`,
    `CREATE TABLE ${p}rawq (id INTEGER PRIMARY KEY, status TEXT NOT NULL, version INT NOT NULL, priority INT NOT NULL, run_at INT NOT NULL,
          attempts INT NOT NULL, locked_by TEXT, lease_expires_at INT, completed_at INT, payload TEXT)`,
    `CREATE INDEX ${p}rawq_claim ON ${p}rawq (priority DESC, run_at, id) WHERE status = 'pending'`,
  ],
  seed: `INSERT INTO ${p}rawq (id, status, version, priority, run_at, attempts, payload) VALUES (?, 'pending', 1, 0, ?, 0, '{"i":1}')`,
  left: `SELECT count(*) AS n FROM ${p}rawq WHERE status = 'in_progress'`,
});

/** The two calls the raw ceilings make: one statement, or several as one transaction. */
interface RawExec {
  execute(sql: string, args: (string | number)[]): Promise<{ rows: Record<string, unknown>[] }>;
  batch(statements: { sql: string; args: (string | number)[] }[]): Promise<void>;
  close(): void;
}

function clientExec(client: Client): RawExec {
  return {
    execute: (sql, args) => client.execute({ sql, args }) as Promise<{ rows: Record<string, unknown>[] }>,
    batch: async (statements) => void (await client.batch(statements, 'write')),
    close: () => client.close(),
  };
}

/** @libsql/hrana-client on one stream kept open: a transaction is BEGIN IMMEDIATE … COMMIT in one request. */
async function streamExec(url: string): Promise<RawExec> {
  const client = hrana.openWs(streamTarget(url).url);
  await client.getVersion();
  const stream = client.openStream();
  stream.intMode = 'number';
  return {
    execute: async (sql, args) => {
      const result = await stream.query(new hrana.Stmt(sql).bindIndexes(args));
      return { rows: result.rows.map((row) => Object.fromEntries(result.columnNames.map((name, i) => [name ?? '', row[i]]))) };
    },
    batch: async (statements) => {
      const batch = stream.batch(false);
      let previous = batch.step();
      const begin = previous.run('BEGIN IMMEDIATE');
      begin.catch(() => undefined);
      for (const { sql, args } of statements) {
        const step = batch.step().condition(hrana.BatchCond.ok(previous));
        step.run(new hrana.Stmt(sql).bindIndexes(args)).catch(() => undefined);
        previous = step;
      }
      const commit = batch.step().condition(hrana.BatchCond.ok(previous));
      const committed = commit.run('COMMIT');
      batch.step().condition(hrana.BatchCond.not(hrana.BatchCond.ok(commit))).run('ROLLBACK').catch(() => undefined);
      await batch.execute();
      await begin;
      if ((await committed) === undefined) throw new Error('raw stream batch rolled back');
    },
    close: () => client.close(),
  };
}

/** Accumulated work and time of one measurement over one transport. */
class Tally {
  count = 0;
  ms = 0;
  add(count: number, ms: number): void {
    this.count += count;
    this.ms += ms;
  }
  get perSecond(): number {
    return perSecond(this.count, this.ms);
  }
}

export async function transport(options: ScenarioOptions): Promise<TransportResult> {
  const quick = options.quick;
  const rounds = quick ? 2 : 6;
  const tasks = quick ? 500 : 20_000;
  const { dir, remove } = tempDir();
  const servers = new Map<TransportName, SqldProcess>();
  const raws = new Map<TransportName, RawCeilings>();
  let stream: RawCeilings | undefined;
  let keptServer: SqldProcess | undefined;
  try {
    for (const t of TRANSPORTS) servers.set(t, await startSqldProcess({ dbPath: join(dir, `sqld-${t}`) }));
    for (const t of TRANSPORTS) raws.set(t, await RawCeilings.open(transportUrl(servers.get(t)!.url, t), t, rounds, quick));
    // The kept stream's arms on a sqld of their own, migrated: its product-insert arm writes
    // tasks, which the product's own server must not see.
    keptServer = await startSqldProcess({ dbPath: join(dir, 'sqld-kept') });
    await migrateDatabase({ url: keptServer.url });
    stream = await RawCeilings.open(transportUrl(keptServer.url, 'ws'), 'ws', rounds, quick, true);
    const product = await productFigures(servers, raws, stream, rounds, tasks, options);
    for (const raw of [...raws.values(), stream]) await raw.check();
    const kept = stream.figures();
    const figures = (t: TransportName): TransportFigures => ({
      ...raws.get(t)!.figures(),
      raw_stream_single_insert_per_s: t === 'ws' ? kept.raw_single_insert_per_s : Number.NaN,
      raw_stream_batch100_rows_per_s: t === 'ws' ? kept.raw_batch100_rows_per_s : Number.NaN,
      raw_stream_claim_complete_per_row_per_s: t === 'ws' ? kept.raw_claim_complete_per_row_per_s : Number.NaN,
      raw_stream_claim_complete_json_per_s: t === 'ws' ? kept.raw_claim_complete_json_per_s : Number.NaN,
      raw_stream_product_insert_per_s: t === 'ws' ? stream!.productSingle.perSecond : Number.NaN,
      ...product[t],
    });
    return { tasks, ws: figures('ws'), http: figures('http') };
  } finally {
    for (const raw of raws.values()) raw.close();
    stream?.close();
    for (const server of servers.values()) await server.stop();
    await keptServer?.stop();
    remove();
  }
}

type RawFigures = Pick<TransportFigures, 'raw_single_insert_per_s' | 'raw_single_insert_global_fetch_per_s' | 'raw_batch100_rows_per_s' | 'raw_claim_complete_per_row_per_s' | 'raw_claim_complete_json_per_s'>;

/** Plain @libsql/client on one transport's URL (or one kept stream), measured a chunk at a time. */
class RawCeilings {
  readonly single = new Tally();
  readonly globalFetch = new Tally();
  readonly batch = new Tally();
  readonly perRow = new Tally();
  readonly json = new Tally();
  /** Kept stream only: the product's INSERT of a new task, one at a time. */
  readonly productSingle = new Tally();
  #id = 0;

  private constructor(
    readonly label: string,
    readonly exec: RawExec,
    /** http only: the same URL over Node's global fetch. */
    readonly plain: RawExec | undefined,
    readonly sql: ReturnType<typeof rawSql>,
    readonly sizes: { singles: number; batches: number; claims: number },
  ) {}

  /** `kept`: over one stream kept open (ws only), on tables of its own. */
  static async open(url: string, transport: TransportName, rounds: number, quick: boolean, kept = false): Promise<RawCeilings> {
    const exec = kept ? await streamExec(url) : clientExec(createClient({ url, fetch: transport === 'http' ? requestFetch(30_000) : undefined }));
    const plain = transport === 'http' ? clientExec(createClient({ url })) : undefined;
    const sql = rawSql(kept ? 'kept_' : '');
    const sizes = { singles: quick ? 100 : 300, batches: quick ? 2 : 5, claims: quick ? 3 : 10 };
    await exec.batch(sql.schema.map((text) => ({ sql: text, args: [] })));
    // The claim queue: every claim chunk (one per processing chunk, both completion styles) takes 100 rows a claim.
    const rows = (rounds + 1) * sizes.claims * 2 * 100;
    for (let start = 0; start < rows; start += 5000) {
      await exec.batch(Array.from({ length: Math.min(5000, rows - start) }, (_, i) => ({ sql: sql.seed, args: [start + i + 1, start + i] })));
    }
    await exec.execute('SELECT 1', []);
    await plain?.execute('SELECT 1', []);
    return new RawCeilings(kept ? `${transport} (kept stream)` : transport, exec, plain, sql, sizes);
  }

  /** Single-row inserts, each awaited (and, over HTTP, the same over the global fetch). */
  async singles(): Promise<void> {
    const { singles } = this.sizes;
    let t0 = performance.now();
    for (let i = 0; i < singles; i++) await this.exec.execute(this.sql.insert, [`s${++this.#id}`, i, i, i]);
    this.single.add(singles, performance.now() - t0);
    if (this.label.includes('kept')) {
      t0 = performance.now();
      for (let i = 0; i < singles; i++) {
        const { sql, args } = insertStatement(buildTask({ title: 'bench', description: 'ceiling', type: NOOP_TYPE, payload: tinyPayload(i) }, { now: Date.now(), maxAttempts: 3 }), null, 0);
        await this.exec.execute(sql, args as (string | number)[]);
      }
      this.productSingle.add(singles, performance.now() - t0);
    }
    if (this.plain) {
      t0 = performance.now();
      for (let i = 0; i < singles; i++) await this.plain.execute(this.sql.insert, [`s${++this.#id}`, i, i, i]);
      this.globalFetch.add(singles, performance.now() - t0);
    }
  }

  /** 100-row batches; claim 100 + complete 100, per-row and json_each. */
  async cycles(): Promise<void> {
    const { batches, claims } = this.sizes;
    const { sql } = this;
    let t0 = performance.now();
    for (let b = 0; b < batches; b++) {
      const base = ++this.#id;
      await this.exec.batch(Array.from({ length: 100 }, (_, i) => ({ sql: sql.insert, args: [`b${base}-${i}`, i, i, i] })));
    }
    this.batch.add(batches * 100, performance.now() - t0);
    t0 = performance.now();
    for (let c = 0; c < claims; c++) {
      const claimed = await this.exec.execute(sql.claim, [Date.now() + 30_000, Date.now()]);
      await this.exec.batch(claimed.rows.map((row) => ({ sql: sql.completeOne, args: [Date.now(), Number(row.id), Number(row.version)] })));
    }
    this.perRow.add(claims * 100, performance.now() - t0);
    t0 = performance.now();
    for (let c = 0; c < claims; c++) {
      const claimed = await this.exec.execute(sql.claim, [Date.now() + 30_000, Date.now()]);
      await this.exec.execute(sql.completeJson, [Date.now(), JSON.stringify(claimed.rows.map((row) => [Number(row.id), Number(row.version)]))]);
    }
    this.json.add(claims * 100, performance.now() - t0);
  }

  /** Every claimed row was completed by its own claim's completion (both styles). */
  async check(): Promise<void> {
    const left = await this.exec.execute(this.sql.left, []);
    if (Number(left.rows[0]!.n) !== 0) throw new Error(`raw claim queue over ${this.label}: ${String(left.rows[0]!.n)} rows claimed, not completed`);
  }

  figures(): RawFigures {
    return {
      raw_single_insert_per_s: this.single.perSecond,
      raw_single_insert_global_fetch_per_s: this.plain ? this.globalFetch.perSecond : Number.NaN,
      raw_batch100_rows_per_s: this.batch.perSecond,
      raw_claim_complete_per_row_per_s: this.perRow.perSecond,
      raw_claim_complete_json_per_s: this.json.perSecond,
    };
  }

  close(): void {
    this.exec.close();
    this.plain?.close();
  }
}

type ProductFigures = Pick<TransportFigures, 'enqueue_per_s' | 'process_per_s' | 'process_deep_queue_per_s' | 'pickup_p50_ms' | 'pickup_p99_ms'>;

/**
 * TASK_QUEUE_SIZE for the deeper-queue processing arm over ws: room for three claims of 100,
 * so a claim is in flight while the batch before it runs (prefetch, lib/processing/worker-pool.ts)
 * and the process's JavaScript overlaps the server's round trips instead of waiting for them.
 */
const DEEP_QUEUE = 300;

async function productFigures(
  servers: Map<TransportName, SqldProcess>,
  raws: Map<TransportName, RawCeilings>,
  stream: RawCeilings,
  rounds: number,
  tasks: number,
  options: ScenarioOptions,
): Promise<Record<TransportName, ProductFigures>> {
  const config = (t: TransportName) => benchConfig(servers.get(t)!.url, { ...options.env, DATABASE_TRANSPORT: t });
  for (const t of TRANSPORTS) await migrateDatabase({ url: servers.get(t)!.url });

  // Enqueue: API-only runtimes, one per transport, alive together; chunks alternate.
  const enqueue = new Map(TRANSPORTS.map((t) => [t, new Tally()]));
  const apis = new Map<TransportName, Awaited<ReturnType<typeof startRuntime>>>();
  for (const t of TRANSPORTS) apis.set(t, await startRuntime(config(t), noopProbe(), false));
  const chunk = Math.ceil(tasks / rounds);
  try {
    for (const t of TRANSPORTS) {
      // Warm-up, not measured: JIT and the first statements' preparation.
      for (let i = 0; i < 20; i++) await apis.get(t)!.service.submit({ title: 'bench', description: 'warm-up', type: NOOP_TYPE, payload: tinyPayload(-1) });
    }
    for (let round = 0, done = 0; done < tasks; round++, done += chunk) {
      const size = Math.min(chunk, tasks - done);
      for (const t of order(round)) {
        if (t === 'ws') await stream.singles();
        await raws.get(t)!.singles();
        const service = apis.get(t)!.service;
        const t0 = performance.now();
        for (let i = 0; i < size; i++) await service.submit({ title: 'bench', description: 'transport', type: NOOP_TYPE, payload: tinyPayload(done + i) });
        enqueue.get(t)!.add(size, performance.now() - t0);
      }
    }
  } finally {
    for (const api of apis.values()) await api.shutdown();
  }

  // Processing: the backlog (tasks + warm-up) in chunks, a fresh runtime per chunk.
  const processing = new Map(TRANSPORTS.map((t) => [t, new Tally()]));
  const total = tasks + 20;
  const processChunk = Math.ceil(total / rounds);
  const processed = new Map(TRANSPORTS.map((t) => [t, 0]));
  for (let round = 0; TRANSPORTS.some((t) => processed.get(t)! < total); round++) {
    for (const t of order(round)) {
      const target = Math.min(processChunk, total - processed.get(t)!);
      if (target === 0) continue;
      if (t === 'ws') await stream.cycles();
      await raws.get(t)!.cycles();
      const probe = noopProbe();
      const worker = await startRuntime(config(t), probe);
      worker.start();
      const end = await completions(worker, target);
      processing.get(t)!.add(target, end - probe.firstStart);
      await worker.shutdown();
      processed.set(t, processed.get(t)! + worker.pool.counts.completed);
    }
  }
  for (const t of TRANSPORTS) {
    const client = createClient({ url: servers.get(t)!.url });
    const left = await client.execute(`SELECT status, count(*) AS n FROM tasks GROUP BY status`);
    client.close();
    const counts = Object.fromEntries(left.rows.map((r) => [String(r.status), Number(r.n)]));
    if (counts.completed !== total || Object.keys(counts).length !== 1) throw new Error(`over ${t}: ${JSON.stringify(counts)} of ${total}`);
  }

  // Processing over ws with a deeper queue (DEEP_QUEUE): the same tasks again, seeded with
  // submitMany (not timed), in chunks, each right after a chunk of the kept stream's ceilings.
  const deep = new Tally();
  const deepConfig = benchConfig(servers.get('ws')!.url, { ...options.env, DATABASE_TRANSPORT: 'ws', TASK_QUEUE_SIZE: String(DEEP_QUEUE) });
  const seeder = await startRuntime(deepConfig, noopProbe(), false);
  try {
    for (let done = 0; done < tasks; done += 500) {
      await seeder.service.submitMany(Array.from({ length: Math.min(500, tasks - done) }, (_, i) => ({ input: { title: 'bench', description: 'deep', type: NOOP_TYPE, payload: tinyPayload(done + i) } })));
    }
  } finally {
    await seeder.shutdown();
  }
  for (let done = 0; done < tasks; ) {
    const target = Math.min(processChunk, tasks - done);
    await stream.cycles();
    const probe = noopProbe();
    const worker = await startRuntime(deepConfig, probe);
    worker.start();
    const end = await completions(worker, target);
    deep.add(target, end - probe.firstStart);
    await worker.shutdown();
    // A runtime may complete a few more than its chunk before it stops: the next one needs fewer.
    done += worker.pool.counts.completed;
  }

  // Pickup latency: both pools idle and running; submits alternate, 20 ms apart.
  const samples = options.quick ? 30 : 200;
  const latencies = new Map(TRANSPORTS.map((t) => [t, [] as number[]]));
  const submittedAt = new Map(TRANSPORTS.map((t) => [t, [] as number[]]));
  const pools = new Map<TransportName, Awaited<ReturnType<typeof startRuntime>>>();
  for (const t of TRANSPORTS) {
    const probe = noopProbe((payload) => {
      const seq = (payload as { seq: number }).seq;
      if (seq >= 0) latencies.get(t)!.push(performance.now() - submittedAt.get(t)![seq]!);
    });
    const pool = await startRuntime(config(t), probe);
    pool.start();
    pools.set(t, pool);
  }
  try {
    for (const pool of pools.values()) {
      for (let i = 0; i < 10; i++) {
        await pool.service.submit({ title: 'bench', description: 'warm-up', type: NOOP_TYPE, payload: { seq: -1 } });
        await sleep(5);
      }
      await completions(pool, 10);
    }
    for (let seq = 0; seq < samples; seq++) {
      for (const t of order(seq)) {
        await sleep(20);
        submittedAt.get(t)![seq] = performance.now();
        await pools.get(t)!.service.submit({ title: 'bench', description: 'latency', type: NOOP_TYPE, payload: { seq } });
      }
    }
    for (const pool of pools.values()) await completions(pool, samples + 10);
  } finally {
    for (const pool of pools.values()) await pool.shutdown();
  }

  const figures = (t: TransportName): ProductFigures => {
    const lat = latencies.get(t)!;
    if (lat.length !== samples) throw new Error(`pickup over ${t}: ${lat.length} of ${samples} tasks started`);
    return {
      enqueue_per_s: enqueue.get(t)!.perSecond,
      process_per_s: processing.get(t)!.perSecond,
      process_deep_queue_per_s: t === 'ws' ? deep.perSecond : Number.NaN,
      pickup_p50_ms: percentile(lat, 50),
      pickup_p99_ms: percentile(lat, 99),
    };
  };
  return { ws: figures('ws'), http: figures('http') };
}
