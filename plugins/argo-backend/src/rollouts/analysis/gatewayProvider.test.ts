import type { Metric } from '@quarterdeck/plugin-argo-common';
import type { ModelMetrics, QuarterdeckGateway } from '../../gateway/client';
import { GatewayMetricProvider } from './gatewayProvider';

const gatewayAnswering = (figures: ModelMetrics): QuarterdeckGateway => ({
  routeWeights: async () => ({}),
  setRouteWeights: async () => undefined,
  modelMetrics: async () => figures,
});
const metric = (which: string): Metric => ({
  name: which, provider: { plugin: { 'quarterdeck.io/gateway': { product: 'llm-chat', model: 'chat-small-v2', metric: which, window: '2m' } } },
});
const measure = (figures: ModelMetrics, which: string) => new GatewayMetricProvider(gatewayAnswering(figures)).measure(metric(which), new AbortController().signal);

describe('the quarterdeck.io/gateway metric provider', () => {
  it("measures a version's error rate, latency and counts as numbers a condition reads", async () => {
    const figures = { requests: 40, errors: 2, errorRate: 0.05, p50Ms: 120, p99Ms: 900 };
    expect(await measure(figures, 'error-rate')).toEqual({ ok: true, result: 0.05, value: '0.05' });
    expect(await measure(figures, 'p99-latency')).toEqual({ ok: true, result: 900, value: '900' });
    expect(await measure(figures, 'requests')).toEqual({ ok: true, result: 40, value: '40' });
  });

  it('makes a rate or a latency of a window without calls an error that says so, never a pass; counts stay 0', async () => {
    const none = { requests: 0, errors: 0, errorRate: null, p50Ms: null, p99Ms: null };
    expect(await measure(none, 'error-rate')).toEqual({
      ok: false, message: 'quarterdeck.io/gateway: no calls to chat-small-v2 of llm-chat in the last 2m, so no error-rate',
    });
    expect((await measure(none, 'p50-latency')).ok).toBe(false);
    expect(await measure(none, 'requests')).toEqual({ ok: true, result: 0, value: '0' });
  });
});
