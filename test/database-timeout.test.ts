import { describe, expect, it, onTestFinished } from 'vitest';
import { storageErrorKind } from '../lib/foundation/storage-errors.ts';
import { captureLogs, startRuntime, submitInput, waitFor } from './helpers.ts';
import { sqldAvailable, useSqld } from './sqld.ts';
import { startTcpProxy } from './support/proxies.ts';

/**
 * A statement that never gets an answer (lib/db/client-driver.ts, DATABASE_TIMEOUT_SECONDS):
 * a real loopback TCP proxy between the process and a real sqld stops carrying bytes on its
 * open connections, without closing them, as a half-open socket does. The statements in
 * flight fail as "database unavailable" instead of hanging the pool, the connection is
 * replaced, and work goes on over a new one: every task runs once and completes.
 */
const available = await sqldAvailable();

describe.skipIf(!available)('a half-open connection to sqld', () => {
  const sqld = useSqld();

  for (const transport of ['ws', 'http'] as const) {
    it(`${transport}: the stuck statement fails as unavailable, the connection is replaced, nothing is lost or run twice`, async () => {
      await sqld.reset();
      const proxy = await startTcpProxy(new URL(sqld.url).host);
      onTestFinished(() => proxy.close());
      const logs = captureLogs();
      const runs = new Map<string, number>();
      const runtime = await startRuntime({
        env: { DATABASE_URL: `http://${proxy.host}`, DATABASE_TRANSPORT: transport, DATABASE_TIMEOUT_SECONDS: '1', LOG_LEVEL: 'info' },
        logSink: logs.sink,
        handlers: { counted: async (task) => void runs.set(task.id, (runs.get(task.id) ?? 0) + 1) },
      });
      runtime.start();
      const first = (await runtime.service.submit(submitInput({ type: 'counted' }))).task;
      await waitFor(async () => (await runtime.repo.get(first.id))?.status === 'completed', 10_000, 'the first task completed');

      // Every connection is frozen, new ones too: this submit's statement is never answered,
      // also when its connection was replaced before the freeze (a statement of the first
      // task's timed out on a loaded machine) and a fresh one is opened for it.
      proxy.freeze(true);
      const stuck = await runtime.service.submit(submitInput({ type: 'counted' })).then(
        () => 'answered',
        (error: unknown) => storageErrorKind(error) ?? `not a storage error: ${String(error)} (${(error as { code?: string }).code})`,
      );
      expect(stuck).toBe('unavailable');
      expect(logs.records().filter((r) => r.msg === 'database connection replaced').length).toBeGreaterThanOrEqual(1);
      const opened = proxy.opened;
      proxy.thaw();

      // The replacement reaches sqld over a new connection; the pool works on.
      const after = await waitFor(
        () => runtime.service.submit(submitInput({ type: 'counted' })).then((r) => r.task, () => undefined),
        15_000,
        'a submit answered after the freeze',
      );
      expect(proxy.opened).toBeGreaterThan(opened);
      // Over a WebSocket, reads have their own connection (local/stream-driver.ts), frozen too:
      // a read may time out once and replace it; the wait reads again.
      const status = (id: number) => runtime.repo.get(id).then((task) => task?.status, () => undefined);
      await waitFor(async () => (await status(after.id)) === 'completed', 15_000, 'the task after the freeze completed');
      expect((await runtime.repo.get(after.id))?.attempts).toBe(1);
      expect([...runs.values()].every((n) => n === 1)).toBe(true);
      expect(logs.records().filter((r) => r.level === 'error')).toEqual([]);
    });
  }
});
