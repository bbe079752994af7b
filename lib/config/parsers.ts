import { base64ToBytes } from '../foundation/base64.ts';
import { bareHost } from '../foundation/ip.ts';

/**
 * Readers for the values of variables whose meaning belongs to a capability (a duration,
 * webhook secrets, the SSRF guard's host list). They live here, below the capabilities, so
 * that config.ts validates every variable without importing upward (test/layers.test.ts).
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `36h`, `7d`, `90m`, `30s`, `500ms` → milliseconds; `0` → 0; anything else → null. */
export function parseDuration(value: string): number | null {
  if (value === '0') return 0;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(value);
  if (!match) return null;
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2]!]!);
  return Number.isSafeInteger(ms) ? ms : null;
}

export const webhookSecretPrefix = 'whsec_';

/** `whsec_` + base64 of 24 to 64 bytes (the Standard Webhooks spec's bounds). */
export function isWebhookSecret(secret: string): boolean {
  if (!secret.startsWith(webhookSecretPrefix)) return false;
  try {
    const length = base64ToBytes(secret.slice(webhookSecretPrefix.length)).length;
    return length >= 24 && length <= 64;
  } catch {
    return false;
  }
}

/** HTTP_ALLOWED_HOSTS: `hooks.internal, *.svc.local, [::1]` → bare, lower-case entries. */
export function parseAllowedHosts(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((entry) => bareHost(entry.trim()))
    .filter((entry) => entry !== '');
}
