import type { EnvRecord } from '../../lib/config/config.ts';

/**
 * Node-based function runtimes (AWS Lambda, Vercel and Netlify Functions) put configuration in
 * the process environment. This is the one place the platform adapters read it, turning it
 * into the env record lib/ takes. `process` is looked up on globalThis so the module still
 * loads where there is none; the record is then empty and the config error names what is
 * missing.
 */
export function processEnv(): EnvRecord {
  return (globalThis as { process?: { env?: EnvRecord } }).process?.env ?? {};
}
