import { describe, expect, it } from 'vitest';
import { newTask, rowToTask, withId, taskFields, taskJsonText, taskToJson, TaskSchema, type Task } from '../lib/tasks/model.ts';
import { openTestRepo } from './helpers.ts';

/**
 * The mapping of a task between its three shapes (lib/tasks/model.ts): a database row, the
 * stored `Task`, the API's JSON. Pure except the last part, which sends awkward text through
 * a real libSQL file and back, with both file drivers.
 */

const T0 = Date.UTC(2026, 10, 30, 12, 34, 56, 789);

function sample(overrides: Partial<Task> = {}): Task {
  return {
    ...withId(newTask({ title: 'title', description: 'description', type: 'simulate', priority: 3, runAt: T0 + 1000, maxAttempts: 5, createdAt: T0, updatedAt: T0 }), 1234),
    ...overrides,
  };
}

describe('newTask', () => {
  it('starts pending at version 1 with no attempts; every field it was not given is null', () => {
    const task = sample();
    expect(task).toEqual({
      id: 1234,
      title: 'title',
      description: 'description',
      status: 'pending',
      version: 1,
      type: 'simulate',
      payload: null,
      priority: 3,
      runAt: T0 + 1000,
      attempts: 0,
      maxAttempts: 5,
      leaseExpiresAt: null,
      lockedBy: null,
      lastError: null,
      result: null,
      progress: null,
      idempotencyKey: null,
      debounceKey: null,
      flowControl: null,
      createdAt: T0,
      startedAt: null,
      completedAt: null,
      updatedAt: T0,
    });
    // Exactly the fields of the API, no more (request_hash is not a Task property).
    expect(Object.keys(task).sort()).toEqual(taskFields.map((f) => String(f.key)).sort());
  });

  it('keeps the optional fields it is given, and a priority of 0', () => {
    const task = newTask({ title: 't', description: 'd', type: 'y', priority: 0, runAt: 1, maxAttempts: 1, createdAt: 1, updatedAt: 1, payload: '{"a":1}', idempotencyKey: 'k' });
    expect(task).toMatchObject({ priority: 0, payload: '{"a":1}', idempotencyKey: 'k', status: 'pending', version: 1, attempts: 0 });
  });
});

describe('taskToJson', () => {
  it('shows timestamps as ISO-8601 UTC with milliseconds, JSON values parsed, unset fields null', () => {
    const json = taskToJson(sample({ payload: '{"n":[1,2],"s":"é"}', result: 'null', startedAt: T0 + 5, status: 'in_progress', attempts: 1 }));
    expect(json.created_at).toBe('2026-11-30T12:34:56.789Z');
    expect(json.run_at).toBe('2026-11-30T12:34:57.789Z');
    expect(json.started_at).toBe('2026-11-30T12:34:56.794Z');
    expect(json.updated_at).toBe('2026-11-30T12:34:56.789Z');
    expect(json.completed_at).toBeNull();
    expect(json.lease_expires_at).toBeNull();
    expect(json.payload).toEqual({ n: [1, 2], s: 'é' });
    expect(json.result).toBeNull();
    expect(json).toMatchObject({ status: 'in_progress', attempts: 1, max_attempts: 5, priority: 3, locked_by: null, last_error: null, idempotency_key: null });
    // What the API promises, checked by the API's own schema.
    expect(TaskSchema.safeParse(json).success).toBe(true);
    expect(Object.keys(json)).toEqual([...taskFields.map((f) => f.name), 'held_back']);
  });

  it('keeps a whole second as .000, and JSON scalars as scalars', () => {
    const json = taskToJson(sample({ createdAt: Date.UTC(2026, 0, 1), payload: '"text"', result: '0' }));
    expect(json.created_at).toBe('2026-01-01T00:00:00.000Z');
    expect(json.payload).toBe('text');
    expect(json.result).toBe(0);
  });
});

describe('taskJsonText', () => {
  it('is JSON.stringify(taskToJson(task)), the stored JSON written as it is, with a tail before the brace', () => {
    const payloads = [null, { n: [1, 2.5, -0, 1e21], s: 'é"\\\n\u2028😀', 2: true, b: { '': null } }, 'text', 0, [], JSON.parse('"\\ud800"')];
    for (const payload of payloads) {
      const task = sample({
        payload: payload === null ? null : JSON.stringify(payload),
        result: JSON.stringify({ ok: 'done' }),
        lastError: 'boom\u0000"',
        lockedBy: 'host:1',
        startedAt: T0 + 5,
        completedAt: T0 + 6,
        leaseExpiresAt: T0 + 7,
        idempotencyKey: 'key-1',
      });
      expect(taskJsonText(task), JSON.stringify(payload)).toBe(JSON.stringify(taskToJson(task)));
      expect(JSON.parse(taskJsonText(task, ',"replayed":true'))).toEqual({ ...taskToJson(task), replayed: true });
    }
    expect(taskJsonText(sample())).toBe(JSON.stringify(taskToJson(sample())));
  });
});

describe('rowToTask', () => {
  it('reads a row as the drivers return it: numbers from strings or bigints, undefined and null as null', () => {
    const row: Record<string, unknown> = {
      id: 4096n, title: 't', description: 'd', status: 'failed', version: 4n, type: 'x', payload: '[1]', priority: '2', run_at: 1000,
      attempts: 3, max_attempts: 3, lease_expires_at: null, locked_by: 'w', last_error: 'e', result: null, created_at: 10n,
      completed_at: 2000, updated_at: 2000, request_hash: 'ignored',
    };
    const task = rowToTask(row);
    expect(task).toEqual({
      id: 4096, title: 't', description: 'd', status: 'failed', version: 4, type: 'x', payload: '[1]', priority: 2, runAt: 1000,
      attempts: 3, maxAttempts: 3, leaseExpiresAt: null, lockedBy: 'w', lastError: 'e', result: null, progress: null, idempotencyKey: null, debounceKey: null, flowControl: null,
      createdAt: 10, startedAt: null, completedAt: 2000, updatedAt: 2000,
    });
    expect(typeof task.version).toBe('number');
  });

  it('is the inverse of the insert arguments: a task → row (by column name) → the same task', () => {
    const task = sample({ payload: '{"a":1}', lockedBy: 'w1', leaseExpiresAt: T0 + 30_000 });
    const row = Object.fromEntries(taskFields.map((f) => [f.name, task[f.key]]));
    expect(rowToTask(row)).toEqual(task);
  });
});

describe('awkward text through a real libSQL file', () => {
  const awkward = 'nul:\0 emoji:🚀👩🏽‍💻 rtl:مرحبا cjk:漢字 quote:\' " backslash:\\ newline:\n end';

  for (const fileDriver of ['native', 'client'] as const) {
    it(`round-trips NUL and emoji in every text field through the repository (${fileDriver} driver)`, async () => {
      const { repo, close } = await openTestRepo(undefined, fileDriver);
      try {
        const payload = { text: awkward, list: ['🚀', '\0'] };
        const task = sample({
          title: `title ${awkward}`,
          description: `description ${awkward}`,
          type: 'emoji🚀',
          payload: JSON.stringify(payload),
          lastError: `error ${awkward}`,
          idempotencyKey: `key 🚀`,
          result: JSON.stringify({ ok: awkward }),
        });
        const inserted = await repo.insert(task);
        expect(inserted?.id).toBeGreaterThan(0);
        const stored = await repo.get(inserted!.id);
        expect(stored).toEqual(inserted);
        expect(stored!.title).toContain('\0');
        const json = taskToJson(stored!);
        expect(json.payload).toEqual(payload);
        expect(json.result).toEqual({ ok: awkward });
        expect(json.description).toBe(`description ${awkward}`);
        // And the JSON the API sends parses back to the same.
        expect(JSON.parse(JSON.stringify(json))).toEqual(json);
      } finally {
        await close();
      }
    });
  }
});
