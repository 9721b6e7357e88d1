import { parseGoDuration, type Metric } from '@quarterdeck/plugin-argo-common';
import { effectiveCount } from './assess';

/*
 * What Argo Rollouts checks of an AnalysisRun before it measures anything
 * (analysis/analysis.go reconcileAnalysisRun: ValidateMetrics, then the
 * dry-run and measurement-retention rules): a problem ends the run Error with
 * "Analysis spec invalid: <problem>", rather than a run that never finishes
 * or measures on a setting it made up.
 */

const intOf = (value: unknown): number | undefined => {
  if (typeof value === 'number') return Math.trunc(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number(value.trim());
  return undefined;
};

/** Why Go's time.ParseDuration refuses `text`, in its words. */
function durationError(text: string): string {
  const quoted = JSON.stringify(text);
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(text)) return `time: missing unit in duration ${quoted}`;
  const unit = /^[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))*(?:\d+(?:\.\d*)?|\.\d+)([^\d.]+)/.exec(text)?.[1];
  return unit ? `time: unknown unit ${JSON.stringify(unit.replace(/\d.*$/, ''))} in duration ${quoted}` : `time: invalid duration ${quoted}`;
}

/** ValidateMetric (utils/analysis/factory.go), with its messages. */
export function metricProblem(metric: Metric): string | undefined {
  const m = metric as Metric & { consecutiveSuccessLimit?: number | string; inconclusiveLimit?: number | string; consecutiveErrorLimit?: number | string };
  const count = intOf(m.count) ?? 0;
  const failureLimit = intOf(m.failureLimit) ?? 0;
  const consecutiveSuccessLimit = intOf(m.consecutiveSuccessLimit) ?? 0;
  const inconclusiveLimit = intOf(m.inconclusiveLimit) ?? 0;
  if (consecutiveSuccessLimit < 0) return 'consecutiveSuccessLimit must be >= 0';
  if (failureLimit < -1) return 'failureLimit must be >= 0, or -1 to be disabled';
  if (consecutiveSuccessLimit === 0 && failureLimit === -1) return 'failureLimit and consecutiveSuccessLimit cannot both be disabled';
  if (inconclusiveLimit < 0) return 'inconclusiveLimit must be >= 0';
  if (m.consecutiveErrorLimit !== undefined && (intOf(m.consecutiveErrorLimit) ?? 0) < 0) return 'consecutiveErrorLimit must be >= 0';
  if (count > 0) {
    if (failureLimit >= 0 && count < failureLimit + consecutiveSuccessLimit) {
      return `count (${count}) must be >= failureLimit + consecutiveSuccessLimit (${failureLimit} + ${consecutiveSuccessLimit}) if both >= 0`;
    }
    if (failureLimit < 0 && count < consecutiveSuccessLimit) return 'count must be >= consecutiveSuccessLimit';
    if (count < inconclusiveLimit) return 'count must be >= inconclusiveLimit';
  }
  if (count > 1 && !m.interval) return 'interval must be specified when count > 1';
  if (m.interval && parseGoDuration(m.interval) === undefined) return `invalid interval string: ${durationError(m.interval)}`;
  if (m.initialDelay && parseGoDuration(m.initialDelay) === undefined) return `invalid startDelay string: ${durationError(m.initialDelay)}`;
  // A plugin provider counts each plugin it names: exactly one may be.
  const counted = ([name, spec]: [string, unknown]) => {
    if (name === 'plugin') return Object.keys((spec ?? {}) as object).length;
    return spec ? 1 : 0;
  };
  const providers = Object.entries(m.provider ?? {}).reduce((n, entry) => n + counted(entry), 0);
  if (providers === 0) return 'no provider specified';
  if (providers > 1) return 'multiple providers specified';
  return undefined;
}

/** ValidateMetrics: at least one metric, names unique, each valid. */
export function metricsProblem(metrics: Metric[]): string | undefined {
  if (metrics.length === 0) return 'no metrics specified';
  const names = new Set<string>();
  for (const [i, metric] of metrics.entries()) {
    if (names.has(metric.name)) return `metrics[${i}]: duplicate name '${metric.name}'`;
    names.add(metric.name);
    const problem = metricProblem(metric);
    if (problem) return `metrics[${i}]: ${problem}`;
  }
  return undefined;
}

/** Go's regexp.MatchString: unanchored; a pattern that does not compile matches nothing. */
function matches(pattern: string, name: string): boolean {
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return false;
  }
}

/**
 * The metrics each rule names by regular expression (GetDryRunMetrics,
 * GetMeasurementRetentionMetrics): `.*` names them all. Throws for a rule
 * that names none; where rules overlap, the later one's wins.
 */
export function metricsMatching<R extends { metricName: string }>(field: 'dryRun' | 'measurementRetention', rules: R[] | undefined, metrics: Metric[]): Map<string, R> {
  const matched = new Map<string, R>();
  for (const [i, rule] of (rules ?? []).entries()) {
    const named = metrics.filter(m => matches(rule.metricName, m.name));
    if (named.length === 0) throw new Error(`${field}[${i}]: Rule didn't match any metric name(s)`);
    for (const m of named) matched.set(m.name, rule);
  }
  return matched;
}

/**
 * Rules given twice by name, across a Rollout's analysis and its templates
 * (mergeDryRunMetrics, flattenDryRunMetrics): Argo refuses the run.
 */
export function duplicateRule(field: 'dryRun' | 'measurementRetention', rules: Array<{ metricName: string }>): string | undefined {
  const seen = new Set<string>();
  for (const rule of rules) {
    if (seen.has(rule.metricName)) {
      return field === 'dryRun'
        ? `two Dry-Run metric rules have the same name '${rule.metricName}'`
        : `two Measurement Retention metric rules have the same name '${rule.metricName}'`;
    }
    seen.add(rule.metricName);
  }
  return undefined;
}

/**
 * A metric of a step's, pre- or post-promotion analysis that never ends
 * (ValidateAnalysisTemplateWithType): an interval with no count. The step
 * would wait for ever; Argo makes the Rollout InvalidSpec.
 */
export function endlessMetric(metrics: Metric[]): Metric | undefined {
  return metrics.find(m => effectiveCount(m) === undefined);
}
