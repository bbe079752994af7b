import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { base64ToBytes } from '../lib/foundation/base64.ts';
import { webCryptoHmac, webhookHeaders } from '../lib/delivery/signing.ts';
import { verifyWebhook } from '../lib/delivery/verify.ts';

/** Standard Webhooks signing (Web Crypto, as at the edge) checked against the reference package. */
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OTHER = 'whsec_dGFzay1wb29sLW9sZC1zZWNyZXQtMDEyMzQ1Njc4OQ==';

describe('webhook signatures', () => {
  it('Web Crypto signatures verify with the standardwebhooks package and with verifyWebhook', async () => {
    const body = '{"order":1234}';
    const headers = await webhookHeaders([SECRET], 'task-1', body);
    expect(new Webhook(SECRET).verify(body, headers)).toEqual({ order: 1234 });
    expect(await verifyWebhook(body, headers, SECRET)).toBe(true);
    expect(await verifyWebhook(body, new Headers(headers), [OTHER, SECRET])).toBe(true);
  });

  it('node:crypto HMAC (the Node transport) and Web Crypto agree byte for byte', async () => {
    const key = base64ToBytes(SECRET.slice('whsec_'.length));
    const content = 'id.1700000000.body ✓';
    expect(await webCryptoHmac(key, content)).toBe(createHmac('sha256', key).update(content).digest('base64'));
  });

  it('refuses a changed body, a wrong secret, a stale timestamp and missing headers', async () => {
    const body = 'hello';
    const now = Date.parse('2026-01-01T00:00:00Z');
    const headers = await webhookHeaders([SECRET], 'task-2', body, webCryptoHmac, now);
    expect(await verifyWebhook(body, headers, SECRET, { now })).toBe(true);
    expect(await verifyWebhook('hello!', headers, SECRET, { now })).toBe(false);
    expect(await verifyWebhook(body, headers, OTHER, { now })).toBe(false);
    expect(await verifyWebhook(body, headers, SECRET, { now: now + 301_000 })).toBe(false);
    expect(await verifyWebhook(body, { ...headers, 'webhook-signature': undefined }, SECRET, { now })).toBe(false);
  });

  it('signs with every rotated secret; no secret, no signature', async () => {
    const headers = await webhookHeaders([SECRET, OTHER], 'task-3', 'x');
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(await verifyWebhook('x', headers, OTHER)).toBe(true);
    expect(await webhookHeaders([], 'task-4', 'x')).toEqual({ 'webhook-id': 'task-4', 'webhook-timestamp': expect.stringMatching(/^\d+$/) });
  });
});
