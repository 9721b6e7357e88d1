import { quantile, summarizeUsage, type UsageRow } from './summary';

const row = (at: string, status: number, latency: number, consumer = 'component:default/a', model = 'm', upstream = 'u@v1'): UsageRow => ({
  at, consumer_ref: consumer, model, upstream, status, latency_ms: latency, prompt_tokens: 10, completion_tokens: 5, cost: 0.01,
});

describe('usage summaries', () => {
  it('takes nearest-rank quantiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(xs, 0.5)).toBe(50);
    expect(quantile(xs, 0.99)).toBe(99);
    expect(quantile([], 0.5)).toBe(0);
  });

  it('buckets by hour (empty hours included), and groups by consumer and by model version', () => {
    const rows = [
      row('2026-11-22T08:10:00Z', 200, 40),
      row('2026-11-22T08:20:00Z', 502, 90, 'component:default/b', 'm', 'u@v2'),
      row('2026-11-22T10:05:00Z', 200, 60),
    ];
    const s = summarizeUsage(rows, new Date('2026-11-22T08:00:00Z'), new Date('2026-11-22T10:30:00Z'));
    expect(s.series.map(b => [b.start, b.requests, b.errors])).toEqual([
      ['2026-11-22T08:00:00.000Z', 2, 1],
      ['2026-11-22T09:00:00.000Z', 0, 0],
      ['2026-11-22T10:00:00.000Z', 1, 0],
    ]);
    expect(s.series[0]).toMatchObject({ promptTokens: 20, completionTokens: 10, p50Ms: 40, p99Ms: 90 });
    expect(s.byConsumer).toEqual([
      expect.objectContaining({ consumerRef: 'component:default/a', requests: 2, errors: 0 }),
      expect.objectContaining({ consumerRef: 'component:default/b', requests: 1, errors: 1 }),
    ]);
    expect(s.byModel.map(m => [m.upstream, m.requests, m.errors])).toEqual([['u@v1', 2, 0], ['u@v2', 1, 1]]);
  });
});
