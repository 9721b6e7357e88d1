import type { UsageRecord } from '../database/GatewayStore';
import { DAY_MS, histogramQuantile, rollUp } from './rollup';
import { bucketFor, dailyRepairSince, quantile, rawUsageBefore, summarizeGatewayUsage, summarizeUsage, type StoredHourlyRow } from './summary';

const call = (at: string, status: number, latencyMs: number, consumerRef = 'component:default/a', upstream = 'u@v1'): UsageRecord => ({
  at: new Date(at), consumerRef, productId: 'p', model: 'm', upstream, status, latencyMs, promptTokens: 10, completionTokens: 5, estimated: false, cost: 0.01,
});

describe('usage rollups and summaries', () => {
  it('takes nearest-rank quantiles, and histogram quantiles as bucket bounds', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(xs, 0.5)).toBe(50);
    expect(quantile(xs, 0.99)).toBe(99);
    expect(quantile([], 0.5)).toBe(0);
    // 98 calls under 50 ms, 2 between 250 and 500 ms.
    const counts = [0, 0, 0, 98, 0, 0, 2, 0, 0, 0, 0, 0];
    expect(histogramQuantile(counts, 0.5)).toBe(50);
    expect(histogramQuantile(counts, 0.99)).toBe(500);
    // The last bucket with a bound (5–10 s) and the one past it (over 10 s) stay apart.
    expect(histogramQuantile([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], 0.5)).toBe(10000);
    expect(histogramQuantile([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 0.5)).toBe(10001);
  });

  it('rolls a batch up by hour, product, consumer, model and version', () => {
    const rows = rollUp([
      call('2026-11-22T08:10:00Z', 200, 40),
      call('2026-11-22T08:20:00Z', 200, 60),
      call('2026-11-22T08:30:00Z', 502, 9, 'component:default/b', 'u@v2'),
    ]);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ hour: new Date('2026-11-22T08:00:00Z'), consumer_ref: 'component:default/a', requests: 2, errors: 0, prompt_tokens: 20, le_50: 1, le_100: 1 });
    expect(rows[1]).toMatchObject({ upstream: 'u@v2', requests: 1, errors: 1, le_10: 1 });
    // A call the client closed had no answer: counted, not as an error.
    expect(rollUp([call('2026-11-22T08:10:00Z', 499, 40), call('2026-11-22T08:11:00Z', 404, 40)])[0]).toMatchObject({ requests: 2, errors: 1 });
  });

  it('summarises hours (empty ones included), consumers and model versions from rollup rows', () => {
    const rows = rollUp([
      call('2026-11-22T08:10:00Z', 200, 40),
      call('2026-11-22T08:20:00Z', 502, 90, 'component:default/b', 'u@v2'),
      call('2026-11-22T10:05:00Z', 200, 60),
    ]);
    const s = summarizeUsage(rows, new Date('2026-11-22T08:00:00Z'), new Date('2026-11-22T10:30:00Z'));
    expect(s.series.map(b => [b.start, b.requests, b.errors])).toEqual([
      ['2026-11-22T08:00:00.000Z', 2, 1],
      ['2026-11-22T09:00:00.000Z', 0, 0],
      ['2026-11-22T10:00:00.000Z', 1, 0],
    ]);
    expect(s.series[0]).toMatchObject({ promptTokens: 20, completionTokens: 10, p50Ms: 50, p99Ms: 100 });
    // The bounds travel with the quantiles, so a page can say which bucket 50 and 100 stand for.
    expect(s.latencyBoundsMs).toEqual([5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]);
    expect(s.byConsumer).toEqual([
      expect.objectContaining({ consumerRef: 'component:default/a', requests: 2, errors: 0 }),
      expect.objectContaining({ consumerRef: 'component:default/b', requests: 1, errors: 1 }),
    ]);
    expect(s.byModel.map(m => [m.upstream, m.requests, m.errors])).toEqual([['u@v1', 2, 0], ['u@v2', 1, 1]]);
    expect(s.consumerRef).toBeUndefined();

    // Narrowed to one consumer: its hours and versions, and still every consumer to choose from.
    const b = summarizeUsage(rows, new Date('2026-11-22T08:00:00Z'), new Date('2026-11-22T10:30:00Z'), 'component:default/b');
    expect(b.consumerRef).toBe('component:default/b');
    expect(b.series.map(h => [h.requests, h.errors])).toEqual([[1, 1], [0, 0], [0, 0]]);
    expect(b.series[0]).toMatchObject({ p50Ms: 100, p99Ms: 100 });
    expect(b.byModel.map(m => [m.upstream, m.requests])).toEqual([['u@v2', 1]]);
    expect(b.byConsumer.map(c => [c.consumerRef, c.requests])).toEqual([['component:default/a', 2], ['component:default/b', 1]]);
  });

  it("names the whole gateway's products still offered, a removed one by its id, and lists ties in one order", () => {
    const sums = (rows: Array<Partial<StoredHourlyRow>>) => rows.map(r => ({ requests: 2, errors: 0, prompt_tokens: 1, completion_tokens: 1, cost: 0, ...r }) as StoredHourlyRow);
    const to = new Date('2026-12-07T03:30:00Z');
    const summary = summarizeGatewayUsage({
      byTime: sums([{ hour: '2026-12-07T03:00:00Z', requests: 6 }]),
      byProduct: sums([{ product_id: 'gone' }, { product_id: 'chat', requests: 4 }]),
      byConsumer: sums([{ consumer_ref: 'component:default/b' }, { consumer_ref: 'component:default/a' }, { consumer_ref: '' }]),
      byModel: sums([{ model: 'm', upstream: 'v2' }, { model: 'm', upstream: 'v1' }]),
    }, [{ id: 'chat', entityRef: 'api:default/chat', title: 'Chat' }, { id: 'quiet', entityRef: 'api:default/quiet' }], new Date(to.getTime() - 2 * 3600_000), to);
    expect(summary.byProduct!.map(p => [p.productId, p.entityRef, p.title, p.requests])).toEqual([['chat', 'api:default/chat', 'Chat', 4], ['gone', undefined, undefined, 2]]);
    expect(summary.byConsumer.map(c => c.consumerRef)).toEqual(['component:default/a', 'component:default/b', 'unknown']);
    expect(summary.byModel.map(m => m.upstream)).toEqual(['v1', 'v2']);
    expect(summary.series.map(p => p.requests)).toEqual([0, 0, 6]);
  });

  it("repairs the days a page can show, and none the rollups' retention has begun to remove", () => {
    const now = new Date('2026-12-07T03:00:00Z');
    // The default retention (400 days): the 31 days of the longest window, whose first one is partly outside it.
    expect(dailyRepairSince(now, 400).toISOString()).toBe('2026-11-06T03:00:00.000Z');
    // Ten days kept: the hours of 2026-11-27 before 03:00 are gone, so the first whole day is the 28th.
    expect(dailyRepairSince(now, 10).toISOString()).toBe('2026-11-28T00:00:00.000Z');
    expect(dailyRepairSince(now, 1).toISOString()).toBe('2026-12-07T00:00:00.000Z');
  });

  it('keeps raw calls for the retention, month or not: budgets start from each key\'s spend by day instead', () => {
    expect(rawUsageBefore(new Date('2026-12-31T12:00:00Z'), 30).toISOString()).toBe('2026-12-01T12:00:00.000Z');
    expect(rawUsageBefore(new Date('2026-12-07T12:00:00Z'), 30).toISOString()).toBe('2026-11-07T12:00:00.000Z');
  });

  it('charts a window past a week by UTC day, from the start of its first day', () => {
    expect([bucketFor(24), bucketFor(168), bucketFor(169), bucketFor(720)]).toEqual([3_600_000, 3_600_000, DAY_MS, DAY_MS]);
    const rows = rollUp([
      call('2026-11-20T23:10:00Z', 200, 40),
      call('2026-11-22T01:20:00Z', 502, 90),
      call('2026-11-22T22:05:00Z', 200, 60),
    ]);
    const s = summarizeUsage(rows, new Date('2026-11-20T15:00:00Z'), new Date('2026-11-22T23:30:00Z'), undefined, DAY_MS);
    expect(s.bucketMs).toBe(DAY_MS);
    expect(s.series.map(d => [d.start, d.requests, d.errors])).toEqual([
      ['2026-11-20T00:00:00.000Z', 1, 0],
      ['2026-11-21T00:00:00.000Z', 0, 0],
      ['2026-11-22T00:00:00.000Z', 2, 1],
    ]);
    expect(s.series[2]).toMatchObject({ promptTokens: 20, completionTokens: 10, p50Ms: 100, p99Ms: 100 });
  });
});
