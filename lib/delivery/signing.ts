/**
 * Standard Webhooks signatures (the scheme of the `standardwebhooks` libraries, which
 * receivers in most languages already have): HMAC-SHA256 over `${id}.${timestamp}.${body}`
 * with the secret's bytes (base64 after `whsec_`), sent as
 *   webhook-id: <task id>          (stable across retries: receivers deduplicate on it)
 *   webhook-timestamp: <unix seconds>
 *   webhook-signature: v1,<base64> [v1,<base64> …]   (one per secret, for rotation)
 * over the body each request carries: a redirect that turns it into a GET is signed again over
 * the empty body (http-task.ts).
 * Web Crypto, not the `standardwebhooks` package: it is in Node and workerd already, so
 * signing adds nothing to the Workers bundle (the package would add to it). The
 * tests verify these signatures with the package itself (test/delivery.http.test.ts).
 */
import { webhookSecretPrefix } from '../config/parsers.ts';
import { base64ToBytes, bytesToBase64 } from '../foundation/base64.ts';

const PREFIX = webhookSecretPrefix;

const encoder = new TextEncoder();
const secretBytes = new Map<string, Uint8Array<ArrayBuffer>>();

/** A secret's key bytes: base64 after `whsec_`. */
function secretKey(secret: string): Uint8Array<ArrayBuffer> {
  let bytes = secretBytes.get(secret);
  if (!bytes) secretBytes.set(secret, (bytes = base64ToBytes(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret)));
  return bytes;
}

/** base64(HMAC-SHA256(key, content)). Injectable: Node's Web Crypto runs each call as a job. */
export type HmacSha256 = (key: Uint8Array<ArrayBuffer>, content: string) => string | Promise<string>;

const importedKeys = new WeakMap<Uint8Array, Promise<CryptoKey>>();

/** Web Crypto's HMAC; the key is imported once per secret (secretKey returns one array per secret). */
export const webCryptoHmac: HmacSha256 = async (key, content) => {
  let imported = importedKeys.get(key);
  if (!imported) importedKeys.set(key, (imported = crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])));
  return bytesToBase64(new Uint8Array(await crypto.subtle.sign('HMAC', await imported, encoder.encode(content))));
};

/** The `webhook-signature` value for one message, signed with every secret. */
export async function signatureHeader(secrets: readonly string[], id: string, timestamp: number, body: string, hmac: HmacSha256 = webCryptoHmac): Promise<string> {
  const content = `${id}.${timestamp}.${body}`;
  let header = '';
  for (const secret of secrets) header += `${header ? ' ' : ''}v1,${await hmac(secretKey(secret), content)}`;
  return header;
}

/** The three Standard Webhooks headers for a request (no signature when no secret is set). */
export async function webhookHeaders(
  secrets: readonly string[],
  id: string,
  body: string,
  hmac: HmacSha256 = webCryptoHmac,
  now = Date.now(),
): Promise<Record<string, string>> {
  const timestamp = Math.floor(now / 1000);
  const headers: Record<string, string> = { 'webhook-id': id, 'webhook-timestamp': String(timestamp) };
  if (secrets.length > 0) headers['webhook-signature'] = await signatureHeader(secrets, id, timestamp, body, hmac);
  return headers;
}

