import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from './helpers.ts';
import { killAll, startServe, type ServiceProcess } from './processes.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * Debounce across processes (lib/tasks/debounce.ts): three real `serve` processes share one
 * database, a libSQL file or a sqld. Submits of one key spread over all three, one after
 * another within a second, collapse into one task that runs once with the last payload;
 * submits of another key sent all at once, so they race in three processes, make one task
 * too. The `payload` handler (test/fixtures/handlers.ts) appends a line per run to a file:
 * the ground truth for "ran once, with which payload".
 */

const sqldOk = await sqldAvailable();
const services: ServiceProcess[] = [];
afterEach(() => killAll(services.splice(0)));

interface Answer {
  status: number;
  body: { id: string; debounced?: boolean; payload?: unknown };
}

async function submit(url: string, body: unknown): Promise<Answer> {
  const response = await fetch(`${url}/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function threeServes(env: Record<string, string>): Promise<string[]> {
  const started = await Promise.all(
    [0, 1, 2].map(async () => {
      const service = await startServe({ ...env, TASK_POLL_INTERVAL_SECONDS: '0.1' });
      services.push(service);
      return service;
    }),
  );
  return started.map((s) => s.url);
}

/** Lines of the runs file: [task id, pid, payload n]. */
function runsIn(file: string): [string, string, unknown][] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, pid, n] = line.split(' ');
      return [id!, pid!, JSON.parse(n!)];
    });
}

async function burstOnThree(env: Record<string, string>): Promise<void> {
  const urls = await threeServes(env);
  const file = join(tempDir(), 'runs.log');
  const key = `user:${Math.random()}`;
  const task = (n: number, seconds: number, k = key) => ({ title: `reindex ${n}`, description: 'burst', type: 'payload', payload: { file, n }, debounce: { key: k, seconds } });

  // 50 submits within about a second, one after another, round-robin over the processes. A
  // 5-second debounce: on a loaded machine (the full suite, load 20+ on 2 cores) one submit
  // took over a second, and a task that falls due mid-burst is rightly claimed and followed by
  // a new one.
  const answers: Answer[] = [];
  const started = Date.now();
  for (let n = 0; n < 50; n++) {
    answers.push(await submit(urls[n % 3]!, task(n, 5)));
    await sleep(Math.max(0, started + (n + 1) * 20 - Date.now()));
  }
  expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
  expect(answers.filter((a) => a.status === 200 && a.body.debounced === true)).toHaveLength(49);
  const id = answers[0]!.body.id;
  expect(new Set(answers.map((a) => a.body.id))).toEqual(new Set([id]));

  // 30 submits of another key at once: they race in three processes.
  const raceKey = `${key}:race`;
  const raced = await Promise.all(Array.from({ length: 30 }, (_, n) => submit(urls[n % 3]!, task(100 + n, 5, raceKey))));
  expect(raced.map((a) => a.status).sort()).toEqual([...Array(29).fill(200), 202]);
  expect(new Set(raced.map((a) => a.body.id)).size).toBe(1);

  await waitFor(() => runsIn(file).length >= 2, 40_000, 'both debounced tasks to run');
  // Time for a second run of either to show, if there were one.
  await sleep(1500);
  const runs = runsIn(file);
  expect(runs).toHaveLength(2);
  expect(runs.find(([runId]) => runId === id)?.[2]).toBe(49);
  expect(runs.find(([runId]) => runId === raced[0]!.body.id)).toBeDefined();
  const listed = (await (await fetch(`${urls[1]}/tasks?type=payload&limit=1000`)).json()) as { tasks: { id: string; status: string; attempts: number; debounce_key: string }[] };
  expect(listed.tasks.map((t) => [t.debounce_key, t.status, t.attempts]).sort()).toEqual([
    [key, 'completed', 1],
    [raceKey, 'completed', 1],
  ]);
}

/**
 * Submits every 15 ms with a 40 ms debounce, with a quiet spell every 15, over three processes
 * that claim as tasks fall due: tasks are claimed mid-burst, so replacements race claims. Whatever interleaving happens, a
 * claimed task is never changed: each task ran exactly once, with the payload it has now, and
 * the last submit's payload ran.
 */
async function racingClaims(env: Record<string, string>): Promise<void> {
  const urls = await threeServes(env);
  const file = join(tempDir(), 'runs.log');
  const key = `claims:${Math.random()}`;
  const answers: Answer[] = [];
  for (let n = 0; n < 60; n++) {
    answers.push(await submit(urls[n % 3]!, { title: `t${n}`, description: 'race', type: 'payload', payload: { file, n }, debounce: { key, seconds: 0.04 } }));
    // A quiet spell now and then, so that some tasks surely fall due and are claimed.
    await sleep(n % 15 === 14 ? 1000 : 15);
  }
  expect(answers.every((a) => a.status === 200 || a.status === 202)).toBe(true);
  const ids = new Set(answers.map((a) => a.body.id));
  expect(ids.size).toBeGreaterThanOrEqual(2);
  expect(answers.filter((a) => a.status === 202)).toHaveLength(ids.size);
  await waitFor(() => runsIn(file).length >= ids.size, 20_000, 'every task to run');
  await sleep(1000);
  const runs = runsIn(file);
  const listed = (await (await fetch(`${urls[0]}/tasks?type=payload&limit=1000`)).json()) as { tasks: { id: string; status: string; attempts: number; payload: { n: number } }[] };
  expect(listed.tasks).toHaveLength(ids.size);
  for (const task of listed.tasks) {
    expect({ id: task.id, status: task.status, attempts: task.attempts }).toEqual({ id: task.id, status: 'completed', attempts: 1 });
    expect(runs.filter(([id]) => id === task.id).map(([, , n]) => n)).toEqual([task.payload.n]);
  }
  expect(runs.map(([, , n]) => n)).toContain(59);
}

describe('debounce across three serve processes', () => {
  it('on one libSQL file: replacements racing claims never change a claimed task', async () => {
    await racingClaims({ DATABASE_DSN: join(tempDir(), 'tasks.db') });
  }, 120_000);

  it('on one libSQL file: 50 submits in a second make one task, run once with the last payload; a race makes one task', async () => {
    await burstOnThree({ DATABASE_DSN: join(tempDir(), 'tasks.db') });
  }, 120_000);

  describe.skipIf(!sqldOk)('on sqld', () => {
    const sqld = useSqld();
    it('on one sqld: the same', async () => {
      await burstOnThree({ DATABASE_URL: sqld.url });
    }, 120_000);
  });
});
