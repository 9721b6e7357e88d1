import type { Metric } from '@quarterdeck/plugin-argo-common';
import {
  assessMetric,
  assessRun,
  effectiveCount,
  newMetricResult,
  nextMeasurementAt,
  recordMeasurement,
  updateLastMeasurement,
  type AnalysisPhase,
  type MetricResult,
} from './assess';
import { parseGoDuration } from '@quarterdeck/plugin-argo-common';

const metric = (extra: Partial<Metric> = {}): Metric => ({ name: 'success-rate', provider: { web: { url: 'http://x' } }, ...extra });

function withMeasurements(m: Metric, phases: AnalysisPhase[]): MetricResult {
  return phases.reduce(
    (r, phase, i) => recordMeasurement(r, { phase, startedAt: `2026-01-01T00:00:0${i}Z`, finishedAt: `2026-01-01T00:00:0${i}Z`, message: phase === 'Error' ? 'timeout' : undefined }),
    newMetricResult(m),
  );
}

describe('effectiveCount', () => {
  it.each([
    [{}, 1], // neither count nor interval: one measurement
    [{ interval: '1m' }, undefined], // interval without count: indefinitely
    [{ count: 5 }, 5],
    [{ count: '3', interval: '10s' }, 3],
    [{ count: 0, interval: '10s' }, undefined],
  ])('%j → %s', (extra, expected) => {
    expect(effectiveCount(metric(extra as Partial<Metric>))).toBe(expected);
  });
});

describe('assessMetric', () => {
  it.each<[string, Partial<Metric>, AnalysisPhase[], AnalysisPhase, string | undefined]>([
    ['one success with no count finishes', {}, ['Successful'], 'Successful', undefined],
    ['one failure fails (failureLimit 0)', { count: 5, interval: '1s' }, ['Failed'], 'Failed', 'failed (1) > failureLimit (0)'],
    ['failures up to failureLimit are tolerated', { count: 5, interval: '1s', failureLimit: 2 }, ['Failed', 'Failed'], 'Running', undefined],
    ['then one more fails', { count: 5, interval: '1s', failureLimit: 2 }, ['Failed', 'Failed', 'Failed'], 'Failed', 'failed (3) > failureLimit (2)'],
    ['failureLimit -1 never fails', { count: 2, interval: '1s', failureLimit: -1 }, ['Failed', 'Failed'], 'Successful', undefined],
    ['one inconclusive is inconclusive', { count: 3, interval: '1s' }, ['Inconclusive'], 'Inconclusive', 'inconclusive (1) > inconclusiveLimit (0)'],
    ['four consecutive errors keep running', { count: 3, interval: '1s' }, ['Error', 'Error', 'Error', 'Error'], 'Running', undefined],
    ['the fifth errors the metric', { count: 3, interval: '1s' }, ['Error', 'Error', 'Error', 'Error', 'Error'], 'Error', 'consecutiveErrors (5) > consecutiveErrorLimit (4)'],
    ['a success resets consecutive errors', { count: 3, interval: '1s' }, ['Error', 'Error', 'Error', 'Error', 'Successful', 'Error'], 'Running', undefined],
    ['errors do not count toward count', { count: 2, interval: '1s' }, ['Successful', 'Error'], 'Running', undefined],
    ['count reached with tolerated failures succeeds', { count: 3, interval: '1s', failureLimit: 1 }, ['Successful', 'Failed', 'Successful'], 'Successful', undefined],
    ['no count: runs on', { interval: '1s' }, ['Successful', 'Successful'], 'Running', undefined],
  ])('%s', (_name, extra, phases, phase, message) => {
    const m = metric(extra);
    expect(assessMetric(m, withMeasurements(m, phases), false)).toEqual(message ? { phase, message } : { phase });
  });

  it('ends an indefinite or unmeasured metric as Successful when the run terminates', () => {
    const m = metric({ interval: '1s' });
    expect(assessMetric(m, withMeasurements(m, ['Successful']), true).phase).toBe('Successful');
    expect(assessMetric(m, newMetricResult(m), true).phase).toBe('Successful');
    expect(assessMetric(m, newMetricResult(m), false).phase).toBe('Pending');
  });

  it('waits for a measurement still running', () => {
    const m = metric();
    const r = { ...newMetricResult(m), measurements: [{ phase: 'Running' as const, startedAt: '2026-01-01T00:00:00Z' }] };
    expect(assessMetric(m, r, false).phase).toBe('Running');
  });
});

describe('a measurement that runs on (a job\'s)', () => {
  it('is counted only when it finishes, in place of the running one', () => {
    const m = metric({ count: 2, interval: '1s' });
    const started = recordMeasurement(newMetricResult(m), { phase: 'Running', startedAt: '2026-01-01T00:00:00Z', metadata: { 'job-name': 'j1' } });
    expect(started).toMatchObject({ count: 0, successful: 0, measurements: [{ phase: 'Running' }] });
    expect(assessMetric(m, started, false).phase).toBe('Running');
    const done = updateLastMeasurement(started, { ...started.measurements[0], phase: 'Successful', finishedAt: '2026-01-01T00:00:05Z' });
    expect(done).toMatchObject({ count: 1, successful: 1, consecutiveSuccess: 1 });
    expect(done.measurements).toEqual([{ phase: 'Successful', startedAt: '2026-01-01T00:00:00Z', finishedAt: '2026-01-01T00:00:05Z', metadata: { 'job-name': 'j1' } }]);
  });

  it('is resumed at its resumeAt', () => {
    const m = metric();
    const r = recordMeasurement(newMetricResult(m), { phase: 'Running', startedAt: '2026-01-01T00:00:00Z', resumeAt: '2026-01-01T00:00:03Z' });
    expect(nextMeasurementAt(m, r, Date.parse('2026-01-01T00:00:00Z'))).toBe(Date.parse('2026-01-01T00:00:03Z'));
  });
});

describe('assessRun', () => {
  const a = metric({ name: 'a', count: 2, interval: '1s' });
  const b = metric({ name: 'b', count: 1 });

  it('runs until every metric is done, then takes the worst', () => {
    expect(assessRun([a, b], [withMeasurements(a, ['Successful']), withMeasurements(b, ['Successful'])]).phase).toBe('Running');
    const done = assessRun([a, b], [withMeasurements(a, ['Successful', 'Successful']), withMeasurements(b, ['Successful'])]);
    expect(done.phase).toBe('Successful');
    expect(done.metricResults.map(r => r.phase)).toEqual(['Successful', 'Successful']);
  });

  it('fails as soon as a metric fails, with Argo\'s message, and ends the others', () => {
    const first = assessRun([a, b], [withMeasurements(a, ['Successful']), withMeasurements(b, ['Failed'])]);
    expect(first.phase).toBe('Running'); // b becomes Failed in this pass...
    const second = assessRun([a, b], first.metricResults);
    expect(second.phase).toBe('Failed'); // ...and terminates the run in the next
    expect(second.message).toBe('Metric "b" assessed Failed due to failed (1) > failureLimit (0)');
    expect(second.metricResults[0].phase).toBe('Successful');
  });

  it('is Inconclusive when the worst metric is, and ignores dry-run metrics', () => {
    const r1 = assessRun([a, b], [withMeasurements(a, ['Successful', 'Successful']), withMeasurements(b, ['Inconclusive'])]);
    expect(r1.phase).toBe('Inconclusive');
    const dry = assessRun([a, b], [withMeasurements(a, ['Successful', 'Successful']), withMeasurements(b, ['Failed'])], { dryRun: new Set(['b']) });
    expect(dry.phase).toBe('Successful');
    expect(dry.metricResults[1].message).toBe('Metric assessed Failed due to failed (1) > failureLimit (0)');
  });

  it('says Run Terminated when asked to stop', () => {
    expect(assessRun([a], [withMeasurements(a, ['Successful'])], { terminate: true })).toMatchObject({ phase: 'Successful', message: 'Run Terminated' });
  });
});

describe('measurement timing', () => {
  const start = Date.parse('2026-01-01T00:00:00Z');

  it('parses Go durations', () => {
    expect(parseGoDuration('1m30s')).toBe(90_000);
    expect(parseGoDuration('500ms')).toBe(500);
    expect(parseGoDuration('1.5h')).toBe(5_400_000);
    expect(parseGoDuration('10')).toBeUndefined();
    expect(parseGoDuration('soon')).toBeUndefined();
  });

  it('waits for initialDelay, then measures every interval, and retries errors after 10s', () => {
    const m = metric({ initialDelay: '30s', interval: '1m', count: 3 });
    expect(nextMeasurementAt(m, undefined, start)).toBe(start + 30_000);
    const once = recordMeasurement(newMetricResult(m), { phase: 'Successful', finishedAt: '2026-01-01T00:00:30Z' });
    expect(nextMeasurementAt(m, once, start)).toBe(Date.parse('2026-01-01T00:01:30Z') + 1);
    const errored = recordMeasurement(once, { phase: 'Error', finishedAt: '2026-01-01T00:01:30Z' });
    expect(nextMeasurementAt(m, errored, start)).toBe(Date.parse('2026-01-01T00:01:40Z') + 1);
  });

  it('stops when the count is reached', () => {
    const m = metric({ count: 1 });
    const done = recordMeasurement(newMetricResult(m), { phase: 'Successful', finishedAt: '2026-01-01T00:00:01Z' });
    expect(nextMeasurementAt(m, done, start)).toBeUndefined();
  });
});
