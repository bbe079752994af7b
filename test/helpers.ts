import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { loadConfig, type Config, type EnvRecord } from '../lib/config/config.ts';
import type { SqlDriver } from '../lib/db/driver.ts';
import { GroupCommitDriver } from '../lib/db/group-commit.ts';
import { createLogger } from '../lib/foundation/log.ts';
import type { Task } from '../lib/tasks/model.ts';
import type { TaskStatus } from '../lib/tasks/states.ts';
import { TaskRepository } from '../lib/tasks/repository.ts';
import { TaskService, type SubmitInput } from '../lib/tasks/service.ts';
import { openDatabase } from '../local/database.ts';
import { createRuntime, type Runtime, type RuntimeOptions } from '../local/runtime.ts';

export { freePort } from './support/sqld-process.ts';

/**
 * The general test helpers: temp databases and config, runtimes, captured logs, free ports,
 * waiting for a condition, skipping for a missing service. Redis-specific ones are in
 * test/redis-helpers.ts, sqld in test/sqld.ts.
 *
 * Cleanup goes through onTestFinished: an afterEach registered inside a running test never
 * runs in vitest 4 (checked), which would leave runtimes, connections and servers behind.
 */

export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/** A fresh directory under the OS temp dir, removed after the current test. */
export function tempDir(prefix = 'task-pool-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A fresh libSQL file URL in its own temp dir. */
export function tempDbUrl(): string {
  return `file:${join(tempDir(), 'tasks.db')}`;
}

/** Config for tests: fast polls, no simulated sleep, quiet logs; `overrides` win. */
export function testConfig(overrides: EnvRecord = {}): Config {
  return loadConfig({
    // Only made when none is given: outside a test (a beforeAll) there is no test to remove it after.
    DATABASE_URL: overrides.DATABASE_URL ?? tempDbUrl(),
    SIMULATE_MIN_MS: '0',
    SIMULATE_MAX_MS: '0',
    TASK_POLL_INTERVAL_SECONDS: '0.2',
    LOG_LEVEL: 'silent',
    // Rate limiting has its own tests; 0 turns it off so other suites can send freely.
    RATE_LIMIT_PER_MINUTE: '0',
    ...overrides,
  });
}

export interface TestRepo {
  driver: SqlDriver;
  repo: TaskRepository;
  service: TaskService;
  close(): Promise<void>;
}

/** A migrated database (native driver by default) with a repository and service over it. */
export async function openTestRepo(url = tempDbUrl(), fileDriver: 'native' | 'client' = 'native'): Promise<TestRepo> {
  const driver = await openDatabase({ url, fileDriver });
  const repo = new TaskRepository(new GroupCommitDriver(driver));
  const service = new TaskService(repo, { maxAttempts: 3, maxPending: 0 }, createLogger('silent'));
  return { driver, repo, service, close: () => driver.close() };
}

export function submitInput(overrides: Partial<SubmitInput> = {}): SubmitInput {
  return { title: 'title', description: 'description', type: 'simulate', ...overrides };
}

/**
 * A runtime (no HTTP server unless started) on a temp database; shut down once, when the test
 * finishes (its Redis client, if any, included).
 */
export async function startRuntime(options: RuntimeOptions & { env?: EnvRecord } = {}): Promise<Runtime> {
  const runtime = await createRuntime({ config: options.config ?? testConfig(options.env), ...options });
  onTestFinished(() => runtime.shutdown());
  return runtime;
}

export interface CapturedLogs {
  /** Give this to createLogger / RuntimeOptions.logSink. */
  sink: (line: string) => void;
  /** The raw JSON lines, in order. */
  lines: string[];
  records(): Record<string, unknown>[];
  /** The `msg` of every record, or of those at `level`. */
  messages(level?: string): string[];
}

/** A log sink that keeps what it is given. */
export function captureLogs(): CapturedLogs {
  const lines: string[] = [];
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    lines,
    sink: (line) => lines.push(line),
    records,
    messages: (level) => records().filter((r) => level === undefined || r.level === level).map((r) => String(r.msg)),
  };
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until the task reaches `status` and returns it as stored then. */
export function waitForStatus(repo: TaskRepository, id: number, status: TaskStatus, timeoutMs = 10_000): Promise<Task> {
  return waitFor(async () => {
    const task = await repo.get(id);
    return task?.status === status ? task : null;
  }, timeoutMs, `task ${id} to be ${status}`);
}

/**
 * Whether an external service a test needs is there. Missing locally: the suite is skipped
 * with the reason printed. Missing in CI (CI=true): the suite fails, never silently skips.
 */
export async function requireService(name: string, probe: () => Promise<unknown>): Promise<boolean> {
  try {
    await probe();
    return true;
  } catch (error) {
    const reason = `${name} is not available: ${error instanceof Error ? error.message : String(error)}`;
    if (IN_CI) throw new Error(`${reason} (CI=true: a missing service fails the run)`);
    console.warn(`SKIPPED: ${reason}`);
    return false;
  }
}

/** Init for `jsonRequest`: `json` is serialised as the body, with Content-Type set unless given. */
export type JsonRequestInit = RequestInit & { json?: unknown };

/** In-process requests to an app (no server): `app.request` with a `json` body option. */
export function jsonRequest(app: { request(path: string, init?: RequestInit): Response | Promise<Response> }) {
  return (path: string, init: JsonRequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
    return Promise.resolve(app.request(path, { ...init, headers, body }));
  };
}
