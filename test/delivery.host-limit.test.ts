import { afterEach, describe, expect, it } from 'vitest';
import { HostLimiter } from '../lib/delivery/host-limit.ts';
import { startReceiver, type Receiver } from './fixtures/receiver.ts';
import { startRuntime, waitFor } from './helpers.ts';

/** HTTP_MAX_PER_HOST: one slow receiver cannot have every worker's requests at once. */
const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('per-host limit', () => {
  it('50 tasks to one slow receiver with 20 workers: never more than HTTP_MAX_PER_HOST in flight there; another host still runs', async () => {
    const slow = await startReceiver(() => ({ status: 200, delayMs: 150 }), '127.0.0.1');
    const other = await startReceiver(() => ({ status: 200 }), '127.0.0.2'); // another loopback host
    receivers.push(slow, other);
    const runtime = await startRuntime({
      env: { HTTP_ALLOW_PRIVATE_NETWORKS: 'true', HTTP_MAX_PER_HOST: '5', TASK_WORKERS: '20', TASK_QUEUE_SIZE: '20', TASK_POLL_BATCH_SIZE: '50' },
    });
    const submit = (url: string) => runtime.service.submit({ title: 't', description: 'd', type: 'http', payload: { url } });
    for (let i = 0; i < 50; i++) await submit(`${slow.url}/${i}`);
    const others: string[] = [];
    for (let i = 0; i < 5; i++) others.push((await submit(`${other.url}/${i}`)).task.id);
    runtime.start();

    // When the other host's tasks are all done, the slow host still has work left: they did
    // not wait for the slow host's queue to drain.
    await waitFor(async () => (await Promise.all(others.map((id) => runtime.repo.get(id)))).every((t) => t?.status === 'completed'), 20_000, 'other host done');
    const slowDoneThen = slow.requests.length;
    expect(slowDoneThen).toBeLessThan(50);

    await waitFor(async () => (await runtime.repo.stats()).counts.completed === 55, 30_000, 'all completed');
    expect(slow.requests).toHaveLength(50);
    expect(slow.peakInFlight()).toBe(5);
    expect(other.requests).toHaveLength(5);
  });
});

describe('HostLimiter', () => {
  it('hands slots over in arrival order and drops a waiter whose signal aborts', async () => {
    const limiter = new HostLimiter(1);
    const order: string[] = [];
    const first = await limiter.acquire('a');
    const controller = new AbortController();
    const second = limiter.acquire('a', controller.signal).then((release) => (order.push('second'), release));
    const third = limiter.acquire('a').then((release) => (order.push('third'), release));
    const elsewhere = await limiter.acquire('b'); // another host is not held up
    expect(limiter.active('a')).toBe(1);
    controller.abort(new Error('cancelled'));
    await expect(second).rejects.toThrow('cancelled');
    first();
    (await third)();
    elsewhere();
    expect(order).toEqual(['third']);
    expect(limiter.active('a')).toBe(0);
  });
});
