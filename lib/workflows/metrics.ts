import { NO_METRICS, type AttemptReport, type Metrics } from '../metrics/metrics.ts';
import { workflowOfType } from './define.ts';

/**
 * A run's end is its task's end, and the task side already reports it exactly once: an
 * attempt's final write committed (`attemptFinished`, completed or failed, after the write,
 * so a write lost to an expired lease is not counted) or a cancel (`taskCancelled`, from
 * TaskService.cancel, whichever route asked: /runs, /tasks, the dashboard). This forwards
 * every report and adds `runFinished` for the task reports of run types (`workflow:<name>`).
 * lib/wiring/ wraps the metrics the task service and the processing cycle report to with it.
 *
 * Cheap on the hot path: one string prefix test per finished attempt or cancel.
 */
export function withRunMetrics(metrics: Metrics): Metrics {
  if (metrics === NO_METRICS) return metrics;
  return {
    tasksSubmitted: (type, count) => metrics.tasksSubmitted(type, count),
    attemptFinished(report: AttemptReport) {
      metrics.attemptFinished(report);
      if (report.outcome !== 'completed' && report.outcome !== 'failed') return;
      const workflow = workflowOfType(report.type);
      if (workflow !== null) metrics.runFinished(workflow, report.outcome);
    },
    taskCancelled(type) {
      metrics.taskCancelled(type);
      const workflow = workflowOfType(type);
      if (workflow !== null) metrics.runFinished(workflow, 'cancelled');
    },
    taskRetried: (type) => metrics.taskRetried(type),
    httpRequest: (method, route, status, seconds) => metrics.httpRequest(method, route, status, seconds),
    runStarted: (workflow) => metrics.runStarted(workflow),
    runFinished: (workflow, outcome) => metrics.runFinished(workflow, outcome),
    stepFinished: (workflow, kind, seconds) => metrics.stepFinished(workflow, kind, seconds),
  };
}
