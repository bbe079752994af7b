import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { Logger } from '../lib/foundation/log.ts';
import type { AttemptReport, Metrics, RunOutcome } from '../lib/metrics/metrics.ts';
import type { TaskStats } from '../lib/tasks/repository.ts';
import { STATUSES } from '../lib/tasks/states.ts';

/**
 * lib/metrics/metrics.ts's Metrics with prom-client, one Registry per runtime (tests run
 * several runtimes in one process; the global registry would refuse a second set of names).
 *
 * Counters and histograms are bumped in memory on the hot path; label children are cached
 * per type so a report is a Map lookup and an add. The histograms are our own small class
 * (LabelledHistogram below) exposed through the registry: prom-client's Histogram validates
 * and hashes the labels on every observe, a visible share of a no-op task's CPU
 * (bench/scenarios/metrics.ts; bench/README.md, "Figures behind the code"). The gauges
 * read from the database (tasks by status, oldest pending age) are refreshed on a scrape,
 * at most once per METRICS_REFRESH_SECONDS, with concurrent scrapes sharing one read.
 */

/** 1 ms … 1 h: handlers and queue waits range from no-ops to long jobs. */
const taskSecondsBuckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
/** 1 ms … 7 d: a step's own work is short; a sleep, a wait for an event or a child run can last days. */
const stepSecondsBuckets = [0.001, 0.01, 0.1, 1, 10, 60, 300, 3600, 21_600, 86_400, 604_800];
/** 0.5 ms … 10 s: API requests, including `?wait=` holds up to 60 s in the +Inf bucket. */
const httpSecondsBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

export interface PromMetricsOptions {
  refreshSeconds: number;
  logger: Logger;
  /** Process metrics (CPU, memory, event loop lag, GC); on by default. */
  processMetrics?: boolean;
}

export class PromMetrics implements Metrics {
  readonly registry = new Registry();
  readonly #refreshMs: number;
  readonly #logger: Logger;
  #stats: (() => Promise<TaskStats>) | undefined;
  #waiting: (() => number) | undefined;
  #last: { at: number; stats: TaskStats } | undefined;
  #reads = 0;
  #reading: Promise<TaskStats | undefined> | undefined;

  readonly #submitted: Counter<'type'>;
  readonly #completed: Counter<'type'>;
  readonly #failed: Counter<'type'>;
  readonly #retried: Counter<'type' | 'source'>;
  readonly #cancelled: Counter<'type'>;
  readonly #handlerSeconds: LabelledHistogram;
  readonly #queueWaitSeconds: LabelledHistogram;
  readonly #httpSeconds: LabelledHistogram;
  readonly #runsStarted: Counter<'workflow'>;
  readonly #runsFinished: Counter<'workflow' | 'outcome'>;
  readonly #stepSeconds: LabelledHistogram;
  readonly #children = new Map<string, TypeChildren>();
  readonly #httpChildren = new Map<string, HistogramSeries>();
  readonly #workflowChildren = new Map<string, WorkflowChildren>();

  constructor(options: PromMetricsOptions) {
    this.#refreshMs = options.refreshSeconds * 1000;
    this.#logger = options.logger;
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) => new Counter<L>({ name, help, labelNames, registers });
    this.#submitted = counter('task_pool_tasks_submitted_total', 'Tasks committed by a submit or as follow-ups (Idempotency-Key replays excluded).', ['type']);
    this.#completed = counter('task_pool_tasks_completed_total', 'Attempts that ended completed.', ['type']);
    this.#failed = counter('task_pool_tasks_failed_total', 'Tasks that failed for good (no attempts left, or a permanent failure).', ['type']);
    this.#retried = counter(
      'task_pool_tasks_retried_total',
      'Tasks sent back to pending: source="attempt" after a failed attempt with attempts left, source="api" by the API (POST /tasks/:id/retry, POST /tasks/retry, the dashboard).',
      ['type', 'source'],
    );
    this.#cancelled = counter('task_pool_tasks_cancelled_total', 'Tasks cancelled through the API.', ['type']);
    const histogram = (name: string, help: string, buckets: number[]) => {
      const h = new LabelledHistogram(name, help, buckets);
      this.registry.registerMetric(h as unknown as Metric);
      return h;
    };
    this.#handlerSeconds = histogram('task_pool_handler_duration_seconds', 'Handler run time per attempt.', taskSecondsBuckets);
    this.#queueWaitSeconds = histogram(
      'task_pool_queue_wait_seconds',
      'created_at to started_at of first attempts (later attempts wait for their backoff on purpose).',
      taskSecondsBuckets,
    );
    this.#httpSeconds = histogram('task_pool_http_request_duration_seconds', 'HTTP request duration by method, route pattern and status.', httpSecondsBuckets);
    this.#runsStarted = counter('task_pool_workflow_runs_started_total', 'Workflow runs created: POST /workflows/:name/runs (replays excluded) and child runs.', ['workflow']);
    this.#runsFinished = counter(
      'task_pool_workflow_runs_finished_total',
      'Workflow runs that reached a final status, by outcome: completed, failed, cancelled.',
      ['workflow', 'outcome'],
    );
    this.#stepSeconds = histogram(
      'task_pool_workflow_step_duration_seconds',
      'Workflow steps from start to end by kind (step: its last attempt; sleep, wait, invoke: the whole wait), counted once when the final record commits.',
      stepSecondsBuckets,
    );

    const self = this;
    new Gauge({
      name: 'task_pool_tasks',
      help: `Tasks by status, read from the database at most once per refresh interval.`,
      labelNames: ['status'],
      registers,
      async collect() {
        const stats = await self.#readStats();
        if (!stats) return;
        for (const status of STATUSES) this.set({ status }, stats.counts[status] ?? 0);
      },
    });
    // Flow control: totals only. Keys are whatever clients send (a tenant, a user id): one
    // series per key would grow without bound, so the busiest keys are named by GET /stats
    // instead (docs/flow-control.md, "Metrics").
    new Gauge({
      name: 'task_pool_flow_held_back_tasks',
      help: 'Due pending tasks held back by their flow key (at its parallelism or rate), from the same database read as task_pool_tasks.',
      registers,
      async collect() {
        const stats = await self.#readStats();
        if (stats?.flow) this.set(stats.flow.tasksHeldBack);
      },
    });
    new Gauge({
      name: 'task_pool_flow_keys',
      help: 'Flow keys with pending tasks (state="pending") and, of them, keys at a limit holding due tasks back (state="held_back").',
      labelNames: ['state'],
      registers,
      async collect() {
        const stats = await self.#readStats();
        if (!stats?.flow) return;
        this.set({ state: 'pending' }, stats.flow.keysPending);
        this.set({ state: 'held_back' }, stats.flow.keysHeldBack);
      },
    });
    new Gauge({
      name: 'task_pool_oldest_pending_age_seconds',
      help: 'Age of the oldest pending task (0 when none), from the same database read as task_pool_tasks.',
      registers,
      async collect() {
        const stats = await self.#readStats();
        if (!stats) return;
        this.set(stats.oldestPendingCreatedAt === null ? 0 : Math.max(0, (Date.now() - stats.oldestPendingCreatedAt) / 1000));
      },
    });
    new Gauge({
      name: 'task_pool_waiting_requests',
      help: 'GET /tasks/:id?wait= requests being held in this process.',
      registers,
      collect() {
        this.set(self.#waiting?.() ?? 0);
      },
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Where the gauges come from (the service exists only after the metrics it reports to). */
  observe(sources: { stats(): Promise<TaskStats>; waiting(): number }): void {
    this.#stats = sources.stats;
    this.#waiting = sources.waiting;
  }

  /** The exposition text (Prometheus text format 0.0.4) and its content type. */
  async scrape(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  tasksSubmitted(type: string, count: number): void {
    this.#for(type).submitted.inc(count);
  }

  attemptFinished(report: AttemptReport): void {
    const children = this.#for(report.type);
    children.handlerSeconds.observe(report.handlerSeconds);
    if (report.queueWaitSeconds !== null) children.queueWaitSeconds.observe(report.queueWaitSeconds);
    if (report.outcome === 'completed') children.completed.inc();
    else if (report.outcome === 'failed') children.failed.inc();
    else if (report.outcome === 'retried') children.retriedByAttempt.inc();
  }

  taskCancelled(type: string): void {
    this.#for(type).cancelled.inc();
  }

  taskRetried(type: string): void {
    this.#for(type).retriedByApi.inc();
  }

  httpRequest(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let series = this.#httpChildren.get(key);
    if (!series) this.#httpChildren.set(key, (series = this.#httpSeconds.series({ method, route, status: String(status) })));
    series.observe(seconds);
  }

  runStarted(workflow: string): void {
    this.#forWorkflow(workflow).started.inc();
  }

  runFinished(workflow: string, outcome: RunOutcome): void {
    this.#forWorkflow(workflow).finished[outcome].inc();
  }

  stepFinished(workflow: string, kind: string, seconds: number): void {
    const children = this.#forWorkflow(workflow);
    let series = children.steps.get(kind);
    if (!series) children.steps.set(kind, (series = this.#stepSeconds.series({ workflow, kind })));
    series.observe(seconds);
  }

  #forWorkflow(workflow: string): WorkflowChildren {
    let children = this.#workflowChildren.get(workflow);
    if (!children) {
      children = {
        started: this.#runsStarted.labels(workflow),
        finished: {
          completed: this.#runsFinished.labels(workflow, 'completed'),
          failed: this.#runsFinished.labels(workflow, 'failed'),
          cancelled: this.#runsFinished.labels(workflow, 'cancelled'),
        },
        steps: new Map(),
      };
      this.#workflowChildren.set(workflow, children);
    }
    return children;
  }

  #for(type: string): TypeChildren {
    let children = this.#children.get(type);
    if (!children) {
      children = {
        submitted: this.#submitted.labels(type),
        completed: this.#completed.labels(type),
        failed: this.#failed.labels(type),
        retriedByAttempt: this.#retried.labels(type, 'attempt'),
        retriedByApi: this.#retried.labels(type, 'api'),
        cancelled: this.#cancelled.labels(type),
        handlerSeconds: this.#handlerSeconds.series({ type }),
        queueWaitSeconds: this.#queueWaitSeconds.series({ type }),
      };
      this.#children.set(type, children);
    }
    return children;
  }

  /** The last database read if fresh enough, else one new read shared by concurrent scrapes. */
  #readStats(): Promise<TaskStats | undefined> {
    if (!this.#stats) return Promise.resolve(undefined);
    if (this.#last && Date.now() - this.#last.at < this.#refreshMs) return Promise.resolve(this.#last.stats);
    if (this.#reading) return this.#reading;
    this.#reads++;
    return (this.#reading = this.#stats()
      .then((stats) => {
        this.#last = { at: Date.now(), stats };
        return stats;
      })
      .catch((error: unknown) => {
        // Counters still answer; the gauges keep their last values (or stay absent).
        this.#logger.warn('metrics: reading task counts failed', { error });
        return this.#last?.stats;
      })
      .finally(() => (this.#reading = undefined)));
  }

  /** How many database reads the gauges have made (tests of the refresh interval read it). */
  get databaseReads(): number {
    return this.#reads;
  }
}

interface TypeChildren {
  submitted: { inc(n?: number): void };
  completed: { inc(n?: number): void };
  failed: { inc(n?: number): void };
  retriedByAttempt: { inc(n?: number): void };
  retriedByApi: { inc(n?: number): void };
  cancelled: { inc(n?: number): void };
  handlerSeconds: { observe(value: number): void };
  queueWaitSeconds: { observe(value: number): void };
}

interface WorkflowChildren {
  started: { inc(n?: number): void };
  finished: Record<RunOutcome, { inc(n?: number): void }>;
  /** Step duration series by kind. */
  steps: Map<string, HistogramSeries>;
}

/** One label set's observations: per-bucket counts (not cumulative until exported), sum, count. */
class HistogramSeries {
  readonly labels: Record<string, string>;
  readonly #bounds: readonly number[];
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(labels: Record<string, string>, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

/**
 * A Prometheus histogram with fixed label sets, registered in a prom-client Registry as a
 * custom metric: the registry calls `get()` on a scrape and writes the text itself, so the
 * exposition (escaping, `_bucket`/`_sum`/`_count`, `le="+Inf"`) is prom-client's. Callers keep
 * the series they observe into, so observing is a bucket scan and three adds.
 */
class LabelledHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds: readonly number[];
  readonly #series: HistogramSeries[] = [];

  constructor(name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.#bounds = bounds;
  }

  series(labels: Record<string, string>): HistogramSeries {
    const series = new HistogramSeries(labels, this.#bounds);
    this.#series.push(series);
    return series;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] } {
    const values = [];
    for (const series of this.#series) {
      let cumulative = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += series.counts[i]!;
        values.push({ labels: { le: this.#bounds[i]!, ...series.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { le: '+Inf', ...series.labels }, value: series.count, metricName: `${this.name}_bucket` });
      values.push({ labels: series.labels, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: series.labels, value: series.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Registry.resetMetrics(): zero every series (callers keep observing into them). */
  reset(): void {
    for (const series of this.#series) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
