import { serve as serveHttp, type ServerType } from '@hono/node-server';
import type { Runtime } from './runtime.ts';

/** Starts the HTTP server for a runtime; resolves once it listens, with the bound URL. */
export function listen(runtime: Runtime): Promise<{ server: ServerType; url: string }> {
  const { config } = runtime;
  return new Promise((resolve, reject) => {
    const server = serveHttp({ fetch: runtime.app.fetch, hostname: config.host, port: config.port }, (info) => {
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      resolve({ server, url: `http://${host}:${info.port}` });
    });
    server.once('error', reject);
  });
}

/**
 * SIGINT/SIGTERM: stop accepting HTTP, stop polling, let running handlers finish within
 * SHUTDOWN_TIMEOUT_SECONDS, abort and release the rest, close the database, exit 0.
 * A second signal exits at once (tasks still leased are reclaimed when their lease expires).
 */
export function handleSignals(runtime: Runtime, server?: ServerType): void {
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
        if (server) {
          server.close();
          (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        }
        await runtime.shutdown();
        (server as { closeAllConnections?: () => void } | undefined)?.closeAllConnections?.();
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
}

export function logStartup(runtime: Runtime, mode: string, url?: string): void {
  const { config } = runtime;
  runtime.logger.info(url ? `task-pool listening on ${url}` : `task-pool ${mode} started`, {
    mode,
    url,
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
