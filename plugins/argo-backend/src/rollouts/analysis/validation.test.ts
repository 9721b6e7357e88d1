import type { Metric } from '@quarterdeck/plugin-argo-common';
import { duplicateRule, endlessMetric, metricsMatching, metricsProblem } from './validation';

const web = { web: { url: 'http://x' } };
const metric = (name: string, extra: Partial<Metric> & Record<string, unknown> = {}): Metric => ({ name, provider: web, ...extra } as Metric);

describe("an AnalysisRun's spec, checked as Argo's ValidateMetrics checks it", () => {
  it.each([
    [[], 'no metrics specified'],
    [[metric('a'), metric('a')], "metrics[1]: duplicate name 'a'"],
    [[metric('a', { count: 3 })], 'metrics[0]: interval must be specified when count > 1'],
    [[metric('a', { interval: '5' })], 'metrics[0]: invalid interval string: time: missing unit in duration "5"'],
    [[metric('a', { interval: '5q' })], 'metrics[0]: invalid interval string: time: unknown unit "q" in duration "5q"'],
    [[metric('a', { initialDelay: 'soon' })], 'metrics[0]: invalid startDelay string: time: invalid duration "soon"'],
    [[metric('a', { failureLimit: -1 })], 'metrics[0]: failureLimit and consecutiveSuccessLimit cannot both be disabled'],
    [[metric('a', { failureLimit: -2 })], 'metrics[0]: failureLimit must be >= 0, or -1 to be disabled'],
    [[metric('a', { count: 2, interval: '1m', failureLimit: 2, consecutiveSuccessLimit: 1 })], 'metrics[0]: count (2) must be >= failureLimit + consecutiveSuccessLimit (2 + 1) if both >= 0'],
    [[metric('a', { count: 2, interval: '1m', inconclusiveLimit: 3 })], 'metrics[0]: count must be >= inconclusiveLimit'],
    [[metric('a', { consecutiveErrorLimit: -1 })], 'metrics[0]: consecutiveErrorLimit must be >= 0'],
    [[{ name: 'a', provider: {} } as Metric], 'metrics[0]: no provider specified'],
    [[{ name: 'a', provider: { web: {}, prometheus: {} } } as Metric], 'metrics[0]: multiple providers specified'],
  ])('%j: %s', (metrics, problem) => {
    expect(metricsProblem(metrics as Metric[])).toBe(problem);
  });

  it('takes what Argo takes', () => {
    expect(metricsProblem([metric('a'), metric('b', { count: 3, interval: '30s', initialDelay: '1m30s', failureLimit: 1, consecutiveSuccessLimit: 2 }), metric('c', { interval: '1h' })])).toBeUndefined();
  });

  it('names metrics by regular expression, unanchored, for dry-run and retention rules', () => {
    const metrics = [metric('error-rate'), metric('latency-p99'), metric('latency-p50')];
    expect([...metricsMatching('dryRun', [{ metricName: '.*' }], metrics).keys()]).toEqual(['error-rate', 'latency-p99', 'latency-p50']);
    expect([...metricsMatching('dryRun', [{ metricName: 'latency' }], metrics).keys()]).toEqual(['latency-p99', 'latency-p50']);
    expect(metricsMatching('measurementRetention', [{ metricName: 'p99', limit: 5 }, { metricName: 'latency', limit: 20 }], metrics).get('latency-p99')).toEqual({ metricName: 'latency', limit: 20 });
    expect(() => metricsMatching('dryRun', [{ metricName: 'error' }, { metricName: 'cpu' }], metrics)).toThrow("dryRun[1]: Rule didn't match any metric name(s)");
    expect(() => metricsMatching('measurementRetention', [{ metricName: '(', limit: 1 }], metrics)).toThrow("measurementRetention[0]: Rule didn't match any metric name(s)");
    expect(duplicateRule('dryRun', [{ metricName: 'a' }, { metricName: 'a' }])).toBe("two Dry-Run metric rules have the same name 'a'");
    expect(duplicateRule('measurementRetention', [{ metricName: 'a' }, { metricName: 'b' }])).toBeUndefined();
  });

  it('finds the metric that never ends: an interval and no count', () => {
    expect(endlessMetric([metric('once'), metric('forever', { interval: '1m' })])?.name).toBe('forever');
    expect(endlessMetric([metric('three', { count: 3, interval: '1m' })])).toBeUndefined();
  });
});
