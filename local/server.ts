import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpServer, type HttpServer } from './http-server.ts';
import type { Runtime } from './runtime.ts';

/** Starts the HTTP server for a runtime; resolves once it listens, with the bound URL. */
export function listen(runtime: Runtime): Promise<{ server: Server; http: HttpServer; url: string }> {
  const { config } = runtime;
  const http = createHttpServer({ fetch: runtime.app.fetch, config, logger: runtime.logger });
  const { server } = http;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      const info = server.address() as AddressInfo;
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      resolve({ server, http, url: `http://${host}:${info.port}` });
    });
  });
}

/**
 * SIGINT/SIGTERM: the HTTP server stops taking work at once (503 `shutting_down` and
 * `Connection: close` for any request read from then on; its listener closes as soon as a turn
 * of the event loop accepted no connection, every answer held until then), then held
 * `?wait=` requests answer, and every request already being handled gets its answer
 * (local/http-server.ts `stopListening`, `drain`); then polling stops, running handlers get
 * SHUTDOWN_TIMEOUT_SECONDS to finish, the rest are aborted and released, the database
 * closes, exit 0. HTTP goes first: its requests still need the database.
 * A second signal exits at once (tasks still leased are reclaimed when their lease expires).
 * Started by npm, a parent that goes away is a first signal too (onParentGone below).
 */
export function handleSignals(runtime: Runtime, http?: HttpServer): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      runtime.logger.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    runtime.logger.info('shutting down', { signal, running: runtime.pool.running, queued: runtime.pool.queued });
    void (async () => {
      try {
        if (http) {
          // The listener first: a long-poller answered before it closes would reconnect into
          // the kernel's accept queue, which closing the listener resets.
          await http.stopListening();
          // Held `?wait=` requests answer now with the task as it is: otherwise the drain
          // would wait for each until its own deadline (up to 60 s).
          runtime.service.events.close();
          const inFlight = http.inFlight;
          const { answered } = await http.drain(runtime.config.shutdownTimeoutSeconds * 1000);
          runtime.logger.info('http server drained', { requests_in_flight: inFlight, answered });
        }
        await runtime.shutdown();
        http?.closeAll();
        runtime.logger.info('shutdown complete', { counts: runtime.pool.counts });
        process.exit(0);
      } catch (error) {
        runtime.logger.error('shutdown failed', { error });
        process.exit(1);
      }
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  onParentGone(() => {
    if (!stopping) onSignal('SIGTERM');
  });
}

/**
 * Under npm, the parent going away counts as SIGTERM. `npx task-pool serve` runs
 * `sh -c "task-pool serve"` and passes SIGTERM (a `kill`, `docker stop`, a supervisor) to
 * that shell only; dash, Debian's sh, exits without passing it on, and the server went on
 * serving with init as its parent (npm 11.19, test/bin.test.ts). Not outside npm (no
 * `npm_command`): `nohup task-pool serve &` from a shell that then exits must keep running.
 * Node has no parent-death signal, so the parent pid is looked at four times a second.
 */
function onParentGone(stop: () => void): void {
  if (!process.env.npm_command) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    stop();
  }, 250);
  timer.unref();
}

/**
 * The start-up line. With an HTTP server it names the pages a person opens next, the
 * dashboard (lib/ui/dashboard.tsx, at /ui unless DASHBOARD_ENABLED=false) and the API docs
 * (local/docs.ts, /docs, always on the Node server), as fields and in the message, so they can
 * be clicked in a terminal; and the pid, for whoever has to signal this process.
 */
export function logStartup(runtime: Runtime, mode: string, url?: string): void {
  const { config } = runtime;
  const pages = url === undefined ? undefined : startupPages(url, config.dashboardEnabled);
  const links = pages && [pages.dashboard && `dashboard ${pages.dashboard}`, `API docs ${pages.docs}`].filter(Boolean).join(', ');
  runtime.logger.info(url ? `task-pool listening on ${url} (${links})` : `task-pool ${mode} started`, {
    mode,
    url,
    dashboard: pages?.dashboard,
    docs: pages?.docs,
    pid: process.pid,
    database: runtime.driver.description,
    workers: config.workers,
    queue_size: config.queueSize,
    poll_interval_seconds: config.pollIntervalSeconds,
    poll_batch_size: config.pollBatchSize,
    lease_seconds: config.leaseSeconds,
    handlers: runtime.handlers.types(),
    worker: runtime.workerId,
  });
}

/**
 * The dashboard's and the docs' URLs on a server listening at `url`. A wildcard address
 * (APP_HOST=0.0.0.0 or ::) is where the server listens, not an address to browse to (Windows
 * browsers refuse 0.0.0.0): the links use the loopback address of the same family instead.
 */
export function startupPages(url: string, dashboardEnabled: boolean): { dashboard?: string; docs: string } {
  const base = new URL(url);
  if (base.hostname === '0.0.0.0') base.hostname = '127.0.0.1';
  if (base.hostname === '[::]') base.hostname = '[::1]';
  const at = (path: string) => new URL(path, base).href;
  return { dashboard: dashboardEnabled ? at('/ui') : undefined, docs: at('/docs') };
}
