/**
 * Verifies a Standard Webhooks request as task-pool signs it, for receivers written in
 * TypeScript on Node (20+), Workers, Deno or Bun: Web Crypto only, no dependencies.
 *
 *   const ok = await verifyWebhook(await request.text(), request.headers, env.WEBHOOK_SECRET);
 *
 * True when one `v1,` signature in `webhook-signature` matches one of `secrets` (a
 * comma-separated string or a list, as in WEBHOOK_SECRET) and `webhook-timestamp` is within
 * `toleranceSeconds` of now (replay protection; 5 minutes, the spec's suggestion). Pass the
 * body exactly as received: re-serialised JSON does not verify. The comparison is
 * `crypto.subtle.verify`, constant-time. Self-contained (no imports), so a receiver can copy
 * this one file.
 */
export async function verifyWebhook(
  body: string,
  headers: Headers | Record<string, string | string[] | undefined>,
  secrets: string | readonly string[],
  options: { toleranceSeconds?: number; now?: number } = {},
): Promise<boolean> {
  const header = (name: string): string | undefined => {
    if (headers instanceof Headers) return headers.get(name) ?? undefined;
    const value = headers[name] ?? headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
  };
  const id = header('webhook-id');
  const timestamp = header('webhook-timestamp');
  const signature = header('webhook-signature');
  if (!id || !timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(nowSeconds - Number(timestamp)) > (options.toleranceSeconds ?? 300)) return false;

  const list = (typeof secrets === 'string' ? secrets.split(',') : secrets).map((s) => s.trim()).filter((s) => s !== '');
  const content = new TextEncoder().encode(`${id}.${timestamp}.${body}`);
  for (const candidate of signature.split(' ')) {
    const [version, value] = candidate.split(',', 2);
    if (version !== 'v1' || !value) continue;
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = base64ToBytes(value);
    } catch {
      continue;
    }
    for (const secret of list) {
      if (await crypto.subtle.verify('HMAC', await hmacKey(secret), bytes, content)) return true;
    }
  }
  return false;
}

function base64ToBytes(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const keys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    const raw = base64ToBytes(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret);
    keys.set(secret, (key = crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])));
  }
  return key;
}
