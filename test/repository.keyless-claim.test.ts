import { describe, expect, it, onTestFinished } from 'vitest';
import type { RunResult, SqlDriver, Statement } from '../lib/db/driver.ts';
import { GroupCommitDriver } from '../lib/db/group-commit.ts';
import { ANY_FLOW_PENDING, FLOW_RECHECK_MS } from '../lib/flow-control/claim.ts';
import { createLogger } from '../lib/foundation/log.ts';
import type { Task } from '../lib/tasks/model.ts';
import { TaskRepository } from '../lib/tasks/repository.ts';
import { TaskService } from '../lib/tasks/service.ts';
import { createAppServices } from '../lib/wiring/app-services.ts';
import { openDatabase } from '../local/database.ts';
import { submitInput, tempDbUrl, testConfig } from './helpers.ts';
import { sqldAvailable, useSqld } from './sqld.ts';
import { RecordingDriver } from './support/recording-driver.ts';

/**
 * The keyless claim (TaskRepository.claimDueTasks, issue 24): while the repository knows no
 * task with a flow key is pending, it claims without the flow arm; a task with a key is still
 * claimed by the next claim when this repository made it pending, and within FLOW_RECHECK_MS
 * (plus one claim) when another repository did. On a libSQL file and on sqld; which claim was
 * sent is read from a recording wrapper around the real driver, and time is the claims' `now`,
 * never a wait.
 */

/** Records which claim each statement is; holds ANY_FLOW_PENDING's answer back while `hold` is set. */
class Recording extends RecordingDriver {
  readonly sent: ('claim' | 'keyless' | 'flowCheck')[] = [];
  hold: Promise<void> | null = null;
  constructor(inner: SqlDriver) {
    super(inner, (sql) => {
      if (/^\s*WITH RECURSIVE[\s\S]*UPDATE tasks/.test(sql)) this.sent.push(/flow_room/.test(sql) ? 'claim' : 'keyless');
      else if (sql === ANY_FLOW_PENDING) this.sent.push('flowCheck');
    });
  }
  override async batch(statements: Statement[]): Promise<RunResult[]> {
    const results = await super.batch(statements);
    if (this.hold && statements.some((s) => s.sql === ANY_FLOW_PENDING)) await this.hold;
    return results;
  }
  /** What was sent since the last call. */
  take(): string[] {
    return this.sent.splice(0);
  }
}

const sqldOk = await sqldAvailable();
const leaseMs = 600_000;
const keyOf = (task: Task) => (task.flowControl === null ? null : (JSON.parse(task.flowControl) as { key: string }).key);

function storages(suite: (storage: string, url: () => Promise<string>, fileDriver: 'native' | 'client') => void) {
  suite('a libSQL file', async () => tempDbUrl(), 'native');
  if (sqldOk) {
    const sqld = useSqld();
    suite('sqld', async () => {
      await sqld.reset();
      return sqld.url;
    }, 'client');
  }
}

storages((storage, freshUrl, fileDriver) => {
  /** A repository over the recording driver, and `peer()`: another one on the same database (another process). */
  async function open() {
    const url = await freshUrl();
    const driver = await openDatabase({ url, fileDriver });
    onTestFinished(() => driver.close());
    const recording = new Recording(driver);
    const repo = new TaskRepository(new GroupCommitDriver(recording));
    const service = new TaskService(repo, { maxAttempts: 3, maxPending: 0 }, createLogger('silent'));
    const peer = async () => {
      const other = await openDatabase({ url, fileDriver });
      onTestFinished(() => other.close());
      return new TaskService(new TaskRepository(new GroupCommitDriver(other)), { maxAttempts: 3, maxPending: 0 }, createLogger('silent'));
    };
    // Every task submitted below is due before t0: claims run at t0 and after.
    const t0 = Date.now() + 60_000;
    const claim = (at: number, limit = 10) => repo.claimDueTasks({ limit, workerId: 'w', leaseMs, now: t0 + at });
    return { url, recording, repo, service, peer, claim, t0 };
  }
  const submitPlain = async (service: TaskService, n: number) => {
    for (let i = 0; i < n; i++) await service.submit(submitInput({ title: `plain ${i}` }));
  };

  describe(`the keyless claim on ${storage}`, () => {
    it('without a task with a key, claims after the first send the keyless statement until the answer is FLOW_RECHECK_MS old', async () => {
      const t = await open();
      await submitPlain(t.service, 8);
      t.recording.take();
      expect(await t.claim(0, 1)).toHaveLength(1);
      expect(t.recording.take()).toEqual(['claim', 'flowCheck']);
      for (const at of [1, 50, FLOW_RECHECK_MS - 1]) expect(await t.claim(at, 1)).toHaveLength(1);
      expect(t.recording.take()).toEqual(['keyless', 'keyless', 'keyless']);
      // The answer is FLOW_RECHECK_MS old: asked again, with the full claim.
      expect(await t.claim(FLOW_RECHECK_MS, 1)).toHaveLength(1);
      expect(await t.claim(FLOW_RECHECK_MS + 1, 1)).toHaveLength(1);
      expect(t.recording.take()).toEqual(['claim', 'flowCheck', 'keyless']);
      // nextRunAt asks too (an idle poller), and its answer serves the claims after it.
      await t.repo.nextRunAt(t.t0 + 1000);
      expect(await t.claim(1001, 1)).toHaveLength(1);
      expect(t.recording.take()).toEqual(['flowCheck', 'keyless']);
      // A `now` before the answer's is no reason to trust it.
      expect(await t.claim(999, 1)).toHaveLength(1);
      expect(t.recording.take()).toEqual(['claim', 'flowCheck']);
    });

    it('a task with a key submitted through the same repository is taken by the very next claim', async () => {
      const t = await open();
      await submitPlain(t.service, 5);
      await t.claim(0, 1);
      await t.claim(1, 1);
      t.recording.take();
      const { task } = await t.service.submit(submitInput({ title: 'keyed', flowControl: { key: 'k', parallelism: 1 } }));
      const claimed = await t.claim(2, 2);
      expect(claimed.map((c) => c.id)).toContain(task.id);
      expect(t.recording.take()).toEqual(['claim', 'flowCheck']);
      // Also in a batch, and a debounced or throttled submit.
      await t.claim(3, 10);
      await t.service.submitMany([{ input: submitInput({ flowControl: { key: 'b' } }) }]);
      expect((await t.claim(4)).map(keyOf)).toEqual(['b']);
      await t.service.submit(submitInput({ type: 'd', debounce: { key: 'x', seconds: 0 }, flowControl: { key: 'd' } }));
      expect((await t.claim(5)).map(keyOf)).toEqual(['d']);
    });

    it('a task with a key submitted by another repository on the database is claimed within FLOW_RECHECK_MS, or at once after nextRunAt', async () => {
      const t = await open();
      const peer = await t.peer();
      await submitPlain(t.service, 20);
      expect(await t.claim(0, 1)).toHaveLength(1); // the answer: none with a key
      const keyed = (await peer.submit(submitInput({ title: 'keyed', flowControl: { key: 'k' } }))).task;
      // Keyless claims, which cannot see it, until the answer is FLOW_RECHECK_MS old...
      for (const at of [1, FLOW_RECHECK_MS / 2, FLOW_RECHECK_MS - 1]) {
        expect((await t.claim(at, 2)).map(keyOf)).toEqual([null, null]);
      }
      // ...then the full claim takes it in turn with the tasks without a key.
      const claimed = await t.claim(FLOW_RECHECK_MS, 2);
      expect(claimed.map((c) => c.id)).toContain(keyed.id);
      t.recording.take();

      // An idle poller asks in nextRunAt: its next claim takes the task, however fresh the answer before.
      await t.claim(FLOW_RECHECK_MS + 1, 1); // keyless: the claim before found none left
      const second = (await peer.submit(submitInput({ title: 'keyed 2', flowControl: { key: 'k' } }))).task;
      await t.repo.nextRunAt(t.t0 + FLOW_RECHECK_MS + 2);
      expect((await t.claim(FLOW_RECHECK_MS + 3, 2)).map((c) => c.id)).toContain(second.id);
      expect(t.recording.take()).toEqual(['keyless', 'flowCheck', 'claim', 'flowCheck']);
    });

    it('while a task with a key is pending, every claim is the full one and the key\'s limits hold', async () => {
      const t = await open();
      await submitPlain(t.service, 10);
      for (let i = 0; i < 3; i++) await t.service.submit(submitInput({ title: `keyed ${i}`, flowControl: { key: 'k', parallelism: 1 } }));
      t.recording.take();
      const running: Task[] = [];
      for (let at = 0; at < 5; at++) running.push(...(await t.claim(at, 3)).filter((task) => keyOf(task) === 'k'));
      expect(running).toHaveLength(1);
      expect(t.recording.take()).toEqual(Array(5).fill(['claim', 'flowCheck']).flat());
    });

    it('a task with a key moved back to pending here (a retry, a release) is claimable at once', async () => {
      const t = await open();
      await submitPlain(t.service, 5);
      await t.service.submit(submitInput({ title: 'keyed', flowControl: { key: 'k', parallelism: 1 } }));
      let [keyed] = (await t.claim(0)).filter((task) => keyOf(task) === 'k');
      expect(keyed).toBeDefined();
      await submitPlain(t.service, 20);
      expect(await t.claim(1, 1)).toHaveLength(1);
      t.recording.take();
      // A retry after a failed attempt, due at once.
      await t.repo.transition({ task: keyed!, to: 'pending', now: t.t0 + 2, fields: { runAt: t.t0 + 2, leaseExpiresAt: null, lastError: 'failed' } });
      [keyed] = (await t.claim(3, 3)).filter((task) => keyOf(task) === 'k');
      expect(keyed).toBeDefined();
      expect(t.recording.take()).toEqual(['claim', 'flowCheck']);
      // A release (the attempt given back), within FLOW_RECHECK_MS of the last answer.
      expect((await t.claim(4, 1)).map(keyOf)).toEqual([null]);
      await t.repo.transition({ task: keyed!, to: 'pending', now: t.t0 + 5, fields: { leaseExpiresAt: null, lockedBy: null, attemptsDelta: -1 } });
      expect((await t.claim(6, 3)).map(keyOf)).toContain('k');
    });

    it('an answer asked before this repository submitted a task with a key is not recorded', async () => {
      const t = await open();
      await submitPlain(t.service, 5);
      let release!: () => void;
      t.recording.hold = new Promise((resolve) => (release = resolve));
      // The claim commits and asks (none with a key); its answer is held back while the submit commits.
      const claiming = t.claim(0, 1);
      while (!t.recording.sent.includes('flowCheck')) await new Promise((resolve) => setImmediate(resolve));
      const keyed = (await t.service.submit(submitInput({ title: 'keyed', flowControl: { key: 'k' } }))).task;
      t.recording.hold = null;
      release();
      expect(await claiming).toHaveLength(1);
      expect((await t.claim(1)).map((c) => c.id)).toContain(keyed.id);
    });

    it('a schedule\'s task with a key (inserted by the schedule repository) is taken by the next claim', async () => {
      const url = await freshUrl();
      const driver = await openDatabase({ url, fileDriver });
      onTestFinished(() => driver.close());
      const services = createAppServices({ config: testConfig({ DATABASE_URL: url }), logger: createLogger('silent'), driver });
      const claim = (now: number) => services.repo.claimDueTasks({ limit: 10, workerId: 'w', leaseMs, now });
      await services.service.submit(submitInput());
      const t0 = Date.now() + 60_000;
      expect(await claim(t0)).toHaveLength(1); // the answer: none with a key
      await services.schedules.put('keyed', { cron: '0 0 1 1 *', timezone: 'UTC', missed: 'skip', task: { title: 'from a schedule', description: '', flow_control: { key: 's' } } });
      const task = await services.schedules.trigger('keyed');
      expect((await claim(t0 + 1)).map((c) => c.id)).toEqual([task.id]);
    });
  });
});
