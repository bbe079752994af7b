import type { SqlDriver } from '../db/driver.ts';

/**
 * Workflows served by the user's own app, registered by URL (`PUT /workflows/:name`): the SQL
 * on `remote_workflows` (lib/db/schema.ts) and a short-lived view of it that every process and
 * function reads. A registration made on one instance is seen by the others within
 * `maxAgeMs` (1 s by default), and at once by the instance that made it (it drops its view).
 * The engine's advance loop (remote.ts) reads a run's registration through this view on
 * each execution, so the hot path costs one read of the table per second per process.
 */

export interface RemoteWorkflow {
  name: string;
  url: string;
  /** Null: sign with WEBHOOK_SECRET. Never shown by the API. */
  signingSecret: string | null;
  timeoutSeconds: number;
  maxPerHost: number;
  createdAt: number;
  updatedAt: number;
}

const COLUMNS = 'name, url, signing_secret, timeout_seconds, max_per_host, created_at, updated_at';

const SQL = {
  all: `SELECT ${COLUMNS} FROM remote_workflows ORDER BY name`,
  // created_at stays the first registration's; `changes` is 1 for both an insert and an update.
  put: `INSERT INTO remote_workflows (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET url = excluded.url, signing_secret = excluded.signing_secret,
    timeout_seconds = excluded.timeout_seconds, max_per_host = excluded.max_per_host, updated_at = excluded.updated_at
    RETURNING ${COLUMNS}`,
  delete: 'DELETE FROM remote_workflows WHERE name = ?',
  // The check and the delete in one statement: no run can start in between (tasks_type_id).
  deleteIfIdle: `DELETE FROM remote_workflows WHERE name = ?
    AND NOT EXISTS (SELECT 1 FROM tasks WHERE type = ? AND status IN ('pending', 'in_progress'))`,
  exists: 'SELECT 1 FROM remote_workflows WHERE name = ?',
} as const;

export class RemoteWorkflowRepository {
  readonly #driver: SqlDriver;

  constructor(driver: SqlDriver) {
    this.#driver = driver;
  }

  async list(): Promise<RemoteWorkflow[]> {
    return (await this.#driver.all(SQL.all)).map((row) => ({
      name: String(row.name),
      url: String(row.url),
      signingSecret: (row.signing_secret as string | null) ?? null,
      timeoutSeconds: Number(row.timeout_seconds),
      maxPerHost: Number(row.max_per_host),
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
    }));
  }

  /** Inserts or updates; `created` when no registration of that name existed. */
  async put(workflow: Omit<RemoteWorkflow, 'createdAt' | 'updatedAt'>, now: number): Promise<{ workflow: RemoteWorkflow; created: boolean }> {
    const [row] = await this.#driver.all(SQL.put, [workflow.name, workflow.url, workflow.signingSecret, workflow.timeoutSeconds, workflow.maxPerHost, now, now]);
    const createdAt = Number(row!.created_at);
    // An update keeps the first created_at: only an insert (or an update within the same
    // millisecond, which then answers 201 instead of 200) returns `now` there.
    return { workflow: { ...workflow, createdAt, updatedAt: Number(row!.updated_at) }, created: createdAt === now };
  }

  async delete(name: string): Promise<boolean> {
    return (await this.#driver.run(SQL.delete, [name])).changes === 1;
  }

  /** Deletes the registration only if no run of `runType` is pending or in progress. */
  async deleteIfIdle(name: string, runType: string): Promise<boolean> {
    return (await this.#driver.run(SQL.deleteIfIdle, [name, runType])).changes === 1;
  }

  /** Read from the table, not from any process's view. */
  async exists(name: string): Promise<boolean> {
    return (await this.#driver.all(SQL.exists, [name])).length > 0;
  }
}

/** The registrations as this process last read them (at most `maxAgeMs` old when asked). */
export class RemoteWorkflows {
  readonly #repo: RemoteWorkflowRepository;
  readonly #maxAgeMs: number;
  #byName = new Map<string, RemoteWorkflow>();
  #readAt = -Infinity;
  #reading: Promise<Map<string, RemoteWorkflow>> | undefined;

  constructor(repo: RemoteWorkflowRepository, options: { maxAgeMs?: number } = {}) {
    this.#repo = repo;
    this.#maxAgeMs = options.maxAgeMs ?? 1000;
  }

  get repo(): RemoteWorkflowRepository {
    return this.#repo;
  }

  /** Every registration, read again when the view is older than `maxAgeMs`. */
  async all(): Promise<Map<string, RemoteWorkflow>> {
    if (performance.now() - this.#readAt <= this.#maxAgeMs) return this.#byName;
    // One read at a time: the runs claimed in one poll share it.
    this.#reading ??= (async () => {
      const started = performance.now();
      try {
        const list = await this.#repo.list();
        this.#byName = new Map(list.map((w) => [w.name, w]));
        this.#readAt = started;
        return this.#byName;
      } finally {
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }

  async get(name: string): Promise<RemoteWorkflow | undefined> {
    return (await this.all()).get(name);
  }

  /** The names as last read, without reading (for synchronous checks; refreshed by `all`). */
  knownNames(): IterableIterator<string> {
    return this.#byName.keys();
  }

  knows(name: string): boolean {
    return this.#byName.has(name);
  }

  /** This process changed the table: the next read goes to the database. */
  invalidate(): void {
    this.#readAt = -Infinity;
  }
}
