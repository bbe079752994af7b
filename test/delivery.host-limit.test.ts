import { afterEach, describe, expect, it } from 'vitest';
import { HostLimiter } from '../lib/delivery/host-limit.ts';
import { startReceiver, type Receiver } from './fixtures/receiver.ts';
import { startRuntime, waitFor } from './helpers.ts';

/** HTTP_MAX_PER_HOST: one slow receiver cannot have every worker's requests at once. */
const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

/**
 * A slow receiver on 127.0.0.1 and a fast one on 127.0.0.2 (another loopback host), 50 tasks
 * for the slow one submitted before 5 for the other, HTTP_MAX_PER_HOST=5; the pool's sizes
 * from `pool`. Waits until the other host's 5 are done and returns how many requests the slow
 * host had had by then, then until all 55 are.
 */
async function slowHostAndAnother(pool: { workers: number; queue: number; slowMs: number }) {
  const slow = await startReceiver(() => ({ status: 200, delayMs: pool.slowMs }), '127.0.0.1');
  const other = await startReceiver(() => ({ status: 200 }), '127.0.0.2');
  receivers.push(slow, other);
  const runtime = await startRuntime({
    env: { HTTP_ALLOW_PRIVATE_NETWORKS: 'true', HTTP_MAX_PER_HOST: '5', TASK_WORKERS: String(pool.workers), TASK_QUEUE_SIZE: String(pool.queue), TASK_POLL_BATCH_SIZE: '50' },
  });
  const submit = (url: string) => runtime.service.submit({ title: 't', description: 'd', type: 'http', payload: { url } });
  for (let i = 0; i < 50; i++) await submit(`${slow.url}/${i}`);
  const others: number[] = [];
  for (let i = 0; i < 5; i++) others.push((await submit(`${other.url}/${i}`)).task.id);
  runtime.start();

  await waitFor(async () => (await Promise.all(others.map((id) => runtime.repo.get(id)))).every((t) => t?.status === 'completed'), 20_000, 'other host done');
  const slowDoneWhenOtherDone = slow.requests.length;
  await waitFor(async () => (await runtime.repo.stats()).counts.completed === 55, 30_000, 'all completed');
  expect(slow.requests).toHaveLength(50);
  expect(slow.peakInFlight()).toBe(5);
  expect(other.requests).toHaveLength(5);
  return { slow, runtime, slowDoneWhenOtherDone };
}

describe('per-host limit', () => {
  it('50 tasks to one slow receiver with 20 workers: never more than HTTP_MAX_PER_HOST in flight there; another host still runs', async () => {
    // When the other host's tasks are all done, the slow host still has work left: they did
    // not wait for the slow host's queue to drain.
    const { slowDoneWhenOtherDone } = await slowHostAndAnother({ workers: 20, queue: 20, slowMs: 150 });
    expect(slowDoneWhenOtherDone).toBeLessThan(50);
  });
});

describe('per-host limit: a task waiting for its host holds no worker', () => {
  it('10 workers, 50 slow-host tasks claimed first: the other host\'s tasks run on the workers the waiting ones lent out', async () => {
    // Capacity 50: the first claim takes the 50 slow-host tasks (they come first in claim
    // order); the other host's 5 are claimed as the first slow ones finish. Had the 45 waiting
    // for a slot each held a worker, those 5 would queue behind them (~40 slow requests).
    const { slow, runtime, slowDoneWhenOtherDone } = await slowHostAndAnother({ workers: 10, queue: 40, slowMs: 200 });
    expect(slowDoneWhenOtherDone).toBeLessThanOrEqual(15);
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
