import { onTestFinished } from 'vitest';
import type { EnvRecord } from '../../lib/config/config.ts';
import type { Runtime, RuntimeOptions } from '../../local/runtime.ts';
import { listen } from '../../local/server.ts';
import { startRuntime } from '../helpers.ts';

/** A runtime (test config, `env` on top) listening on a free loopback port; closed after the test. */
export async function serveRuntime(options: RuntimeOptions & { env?: EnvRecord } = {}): Promise<{ runtime: Runtime; url: string }> {
  const runtime = await startRuntime({ ...options, env: { APP_PORT: '0', ...options.env } });
  const { server, url } = await listen(runtime);
  onTestFinished(() => {
    server.close();
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
  runtime.start();
  return { runtime, url };
}
