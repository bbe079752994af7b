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
    const others: number[] = [];
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

describe('per-host limit: a task waiting for its host holds no worker', () => {
  it('10 workers, 50 slow-host tasks claimed first: the other host\'s tasks run on the workers the waiting ones lent out', async () => {
    const slow = await startReceiver(() => ({ status: 200, delayMs: 200 }), '127.0.0.1');
    const other = await startReceiver(() => ({ status: 200 }), '127.0.0.2');
    receivers.push(slow, other);
    // Capacity 50: the first claim takes the 50 slow-host tasks (they come first in claim
    // order); the other host's 5 are claimed as the first slow ones finish. Had the 45 waiting
    // for a slot each held a worker, those 5 would queue behind them (~40 slow requests).
    const runtime = await startRuntime({
      env: { HTTP_ALLOW_PRIVATE_NETWORKS: 'true', HTTP_MAX_PER_HOST: '5', TASK_WORKERS: '10', TASK_QUEUE_SIZE: '40', TASK_POLL_BATCH_SIZE: '50' },
    });
    const submit = (url: string) => runtime.service.submit({ title: 't', description: 'd', type: 'http', payload: { url } });
    for (let i = 0; i < 50; i++) await submit(`${slow.url}/${i}`);
    const others: number[] = [];
    for (let i = 0; i < 5; i++) others.push((await submit(`${other.url}/${i}`)).task.id);
    runtime.start();

    await waitFor(async () => (await Promise.all(others.map((id) => runtime.repo.get(id)))).every((t) => t?.status === 'completed'), 20_000, 'other host done');
    expect(slow.requests.length).toBeLessThanOrEqual(15);

    await waitFor(async () => (await runtime.repo.stats()).counts.completed === 55, 30_000, 'all completed');
    expect(slow.requests).toHaveLength(50);
    expect(slow.peakInFlight()).toBe(5);
    expect(runtime.pool.peakRunning).toBeLessThanOrEqual(10);
    // Slots were handed over in claim order: the slow host saw the tasks in submit order, up
    // to the 5 requests in flight at once racing each other over their connections.
    const order = slow.requests.map((r) => Number(r.path.slice(1)));
    expect(order.map((task, position) => Math.abs(task - position)).every((d) => d < 5), order.join(' ')).toBe(true);
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
