import type { Metric } from '@quarterdeck/plugin-argo-common';
import { parseGoDuration } from '@quarterdeck/plugin-argo-common';

/**
 * AnalysisRun assessment, as Argo Rollouts' analysis controller decides it
 * (analysis/analysis.go): how measurements count, when a metric is done and
 * with which phase, and the run's phase from its metrics. Pure: the clock
 * comes in as an argument.
 */

export type AnalysisPhase = 'Pending' | 'Running' | 'Successful' | 'Failed' | 'Error' | 'Inconclusive';

export interface Measurement {
  phase: AnalysisPhase;
  value?: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  resumeAt?: string;
  metadata?: Record<string, string>;
}

export interface MetricResult {
  name: string;
  phase: AnalysisPhase;
  measurements: Measurement[];
  message?: string;
  count: number;
  successful: number;
  failed: number;
  inconclusive: number;
  error: number;
  consecutiveError: number;
  consecutiveSuccess: number;
  dryRun?: boolean;
}

const COMPLETED = new Set<AnalysisPhase>(['Successful', 'Failed', 'Error', 'Inconclusive']);
export const isCompleted = (phase: AnalysisPhase | undefined) => phase !== undefined && COMPLETED.has(phase);

/** Argo's IsWorse order: Successful < Running < Pending < Inconclusive < Error < Failed. */
const SEVERITY: Record<AnalysisPhase, number> = { Successful: 0, Running: 1, Pending: 2, Inconclusive: 3, Error: 4, Failed: 5 };
export const isWorse = (current: AnalysisPhase, candidate: AnalysisPhase) => SEVERITY[candidate] > SEVERITY[current];

export const DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4;
/** Measurements kept per metric (Argo's DefaultMeasurementHistoryLimit); a job metric keeps as many Jobs. */
export const MEASUREMENT_HISTORY_LIMIT = 10;
/** An errored measurement is retried after this, whatever the interval. */
export const ERROR_RETRY_INTERVAL_MS = 10_000;
export const DEFAULT_INTERVAL_MS = 10_000;

function intValue(v: number | string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v;
  const n = Number.parseInt(v, 10);
  return Number.isNaN(n) ? 0 : n;
}

/** `count`, or 1 when neither count nor interval is set, or undefined (run indefinitely). */
export function effectiveCount(metric: Metric): number | undefined {
  const count = intValue(metric.count);
  if (count === undefined || count === 0) return metric.interval ? undefined : 1;
  return count;
}

export function newMetricResult(metric: Metric, dryRun = false): MetricResult {
  return {
    name: metric.name,
    phase: 'Running',
    measurements: [],
    count: 0,
    successful: 0,
    failed: 0,
    inconclusive: 0,
    error: 0,
    consecutiveError: 0,
    consecutiveSuccess: 0,
    ...(dryRun ? { dryRun } : {}),
  };
}

/** Updates the counters for a measurement that has just finished, as runMeasurements does. */
function countMeasurement(next: MetricResult, phase: AnalysisPhase): MetricResult {
  switch (phase) {
    case 'Successful':
      next.successful++;
      next.count++;
      next.consecutiveError = 0;
      next.consecutiveSuccess++;
      break;
    case 'Failed':
      next.failed++;
      next.count++;
      next.consecutiveError = 0;
      next.consecutiveSuccess = 0;
      break;
    case 'Inconclusive':
      next.inconclusive++;
      next.count++;
      next.consecutiveError = 0;
      next.consecutiveSuccess = 0;
      break;
    case 'Error':
      next.error++;
      next.consecutiveError++;
      next.consecutiveSuccess = 0;
      break;
    default:
      // Running or Pending: counted when it finishes.
      break;
  }
  return next;
}

/**
 * Adds a new measurement and updates the counters as runMeasurements does.
 * A Running one (a job's) is added but counted only when it finishes.
 */
export function recordMeasurement(result: MetricResult, measurement: Measurement, historyLimit = MEASUREMENT_HISTORY_LIMIT): MetricResult {
  return countMeasurement({ ...result, measurements: [...result.measurements, measurement].slice(-historyLimit) }, measurement.phase);
}

/**
 * Replaces the in-flight last measurement with what resuming or terminating
 * it gave, and counts it if it has finished (runMeasurements with an
 * incomplete measurement).
 */
export function updateLastMeasurement(result: MetricResult, measurement: Measurement): MetricResult {
  return countMeasurement({ ...result, measurements: [...result.measurements.slice(0, -1), measurement] }, measurement.phase);
}

/** Which limit a metric has crossed, if any; a later check overrides an earlier one. */
function failureInconclusiveOrError(metric: Metric, result: MetricResult): { phase?: AnalysisPhase; message?: string } {
  let phase: AnalysisPhase | undefined;
  let message: string | undefined;
  const failureLimit = intValue(metric.failureLimit) ?? 0;
  if (failureLimit >= 0 && result.failed > failureLimit) {
    phase = 'Failed';
    message = `failed (${result.failed}) > failureLimit (${failureLimit})`;
  }
  const inconclusiveLimit = intValue(metric.inconclusiveLimit) ?? 0;
  if (result.inconclusive > inconclusiveLimit) {
    phase = 'Inconclusive';
    message = `inconclusive (${result.inconclusive}) > inconclusiveLimit (${inconclusiveLimit})`;
  }
  const consecutiveErrorLimit = intValue(metric.consecutiveErrorLimit) ?? DEFAULT_CONSECUTIVE_ERROR_LIMIT;
  if (result.consecutiveError > consecutiveErrorLimit) {
    phase = 'Error';
    message = `consecutiveErrors (${result.consecutiveError}) > consecutiveErrorLimit (${consecutiveErrorLimit})`;
  }
  return { phase, message };
}

/** A metric's phase (assessMetricStatus); `terminating` ends metrics that would run on. */
export function assessMetric(metric: Metric, result: MetricResult, terminating: boolean): { phase: AnalysisPhase; message?: string } {
  if (isCompleted(result.phase)) return { phase: result.phase };
  if (result.measurements.length === 0) return { phase: terminating ? 'Successful' : 'Pending' };
  const last = result.measurements[result.measurements.length - 1];
  if (!isCompleted(last.phase)) return { phase: 'Running' };
  const limits = failureInconclusiveOrError(metric, result);
  if (limits.phase) return { phase: limits.phase, message: limits.message };
  const successLimit = intValue((metric as Metric & { consecutiveSuccessLimit?: number | string }).consecutiveSuccessLimit) ?? 0;
  if (successLimit > 0 && result.consecutiveSuccess >= successLimit) return { phase: 'Successful' };
  const count = effectiveCount(metric);
  if (count !== undefined && result.count >= count) {
    const failureLimit = intValue(metric.failureLimit);
    const failureApplicable = failureLimit === undefined || failureLimit >= 0;
    const successApplicable = successLimit > 0;
    if (failureApplicable && successApplicable) return { phase: 'Inconclusive' };
    if (successApplicable) return { phase: 'Failed' };
    return { phase: 'Successful' };
  }
  return { phase: terminating ? 'Successful' : 'Running' };
}

export interface RunAssessment {
  phase: AnalysisPhase;
  message: string;
  metricResults: MetricResult[];
}

/**
 * The run's phase (assessRunStatus): Running until every metric is done,
 * then the worst metric phase; a failed, errored or inconclusive metric (not
 * a dry-run one) or `terminate` ends the others. Dry-run metrics never decide.
 */
export function assessRun(
  metrics: Metric[],
  results: MetricResult[],
  options: { terminate?: boolean; dryRun?: Set<string> } = {},
): RunAssessment {
  const dryRun = options.dryRun ?? new Set<string>();
  const terminating =
    Boolean(options.terminate) ||
    results.some(r => !dryRun.has(r.name) && (r.phase === 'Failed' || r.phase === 'Error' || r.phase === 'Inconclusive'));
  let worst: AnalysisPhase | undefined;
  let worstMessage = options.terminate ? 'Run Terminated' : '';
  let everythingCompleted = true;
  const updated: MetricResult[] = [];
  for (const metric of metrics) {
    const result = results.find(r => r.name === metric.name);
    if (!result) {
      everythingCompleted = false;
      continue;
    }
    const { phase } = assessMetric(metric, result, terminating);
    // The message comes from the limits on every pass, also for metrics already done.
    const { message } = failureInconclusiveOrError(metric, result);
    const last = result.measurements[result.measurements.length - 1];
    const next = phase !== result.phase ? { ...result, phase, message: last?.message ?? result.message } : result;
    if (dryRun.has(metric.name) && message) next.message = `Metric assessed ${phase} due to ${message}`;
    updated.push(next);
    if (!isCompleted(phase)) {
      everythingCompleted = false;
    } else if (!dryRun.has(metric.name)) {
      if (worst === undefined || isWorse(worst, phase)) {
        worst = phase;
        if (message) {
          worstMessage = `Metric "${metric.name}" assessed ${phase} due to ${message}`;
          if (next.message) worstMessage += `: "Error Message: ${next.message}"`;
        }
      }
    } else if (worst === undefined) {
      worst = 'Successful';
    }
  }
  worstMessage = worstMessage.trim();
  if (terminating) return { phase: worst ?? 'Successful', message: worstMessage, metricResults: updated };
  if (!everythingCompleted || worst === undefined) return { phase: 'Running', message: '', metricResults: updated };
  return { phase: worst, message: worstMessage, metricResults: updated };
}

/**
 * When the metric's next measurement is due (generateMetricTasks), or
 * undefined when it is done. `startedAt` is the run's start.
 */
export function nextMeasurementAt(metric: Metric, result: MetricResult | undefined, startedAt: number): number | undefined {
  if (result && isCompleted(result.phase)) return undefined;
  const last = result?.measurements[result.measurements.length - 1];
  if (last && !last.finishedAt) return last.resumeAt ? Date.parse(last.resumeAt) : startedAt;
  if (!last) {
    const delay = metric.initialDelay ? parseGoDuration(metric.initialDelay) ?? 0 : 0;
    return startedAt + delay;
  }
  const count = effectiveCount(metric);
  if (count !== undefined && (result?.count ?? 0) >= count) return undefined;
  const interval = last.phase === 'Error'
    ? ERROR_RETRY_INTERVAL_MS
    : (metric.interval ? parseGoDuration(metric.interval) : undefined) ?? DEFAULT_INTERVAL_MS;
  // "strictly after": a measurement is due once this instant has passed.
  return Date.parse(last.finishedAt!) + interval + 1;
}
