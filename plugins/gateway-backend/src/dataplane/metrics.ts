import { Counter, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of the data plane, served at `/metrics` on its port:
 * calls and latency per product, model (route target) and upstream
 * version, so a rollout's analysis can compare versions with PromQL (e.g.
 * the error rate of `version="v2"`), as it would any service.
 */
export class DataPlaneMetrics {
  readonly registry = new Registry();
  private readonly calls = new Counter({
    name: 'quarterdeck_gateway_requests_total',
    help: 'Calls through the gateway by product, model, upstream version and status class.',
    labelNames: ['product', 'model', 'route', 'version', 'status'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'quarterdeck_gateway_request_duration_seconds',
    help: 'Time from request to the end of the response, by product, model and upstream version.',
    labelNames: ['product', 'model', 'route', 'version'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly tokens = new Counter({
    name: 'quarterdeck_gateway_tokens_total',
    help: 'Tokens by product, model and kind (prompt or completion).',
    labelNames: ['product', 'model', 'kind'] as const,
    registers: [this.registry],
  });
  private readonly refusals = new Counter({
    name: 'quarterdeck_gateway_refusals_total',
    help: 'Calls refused before reaching an upstream, by product and reason (key, limit, validation).',
    labelNames: ['product', 'reason'] as const,
    registers: [this.registry],
  });

  /**
   * Each label set's series, looked up once: prom-client would otherwise
   * sort and hash the labels on every call, a measurable share of a call's CPU.
   */
  private readonly series = new Map<string, {
    calls: Map<string, Counter.Internal>;
    duration: Histogram.Internal<'product' | 'model' | 'route' | 'version'>;
    prompt: Counter.Internal;
    completion: Counter.Internal;
  }>();

  call(labels: { product: string; model: string; route?: string; version?: string; status: number; seconds: number; promptTokens: number; completionTokens: number }) {
    const route = labels.route ?? '';
    const version = labels.version ?? '';
    const id = `${labels.product}\u0000${labels.model}\u0000${route}\u0000${version}`;
    let series = this.series.get(id);
    if (!series) {
      series = {
        calls: new Map(),
        duration: this.duration.labels(labels.product, labels.model, route, version),
        prompt: this.tokens.labels(labels.product, labels.model, 'prompt'),
        completion: this.tokens.labels(labels.product, labels.model, 'completion'),
      };
      this.series.set(id, series);
    }
    const status = `${Math.floor(labels.status / 100)}xx`;
    let calls = series.calls.get(status);
    if (!calls) {
      calls = this.calls.labels(labels.product, labels.model, route, version, status);
      series.calls.set(status, calls);
    }
    calls.inc();
    series.duration.observe(labels.seconds);
    if (labels.promptTokens) series.prompt.inc(labels.promptTokens);
    if (labels.completionTokens) series.completion.inc(labels.completionTokens);
  }

  refused(product: string, reason: string) {
    this.refusals.inc({ product, reason });
  }
}
