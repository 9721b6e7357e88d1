import type { Metric } from '@quarterdeck/plugin-argo-common';
import type { QuarterdeckGateway } from '../../gateway/client';
import { parseGoDuration } from '@quarterdeck/plugin-argo-common';
import type { MetricProvider } from './providers';

/** The name under `provider.plugin`, as Argo's metric plugins are named. */
export const QUARTERDECK_GATEWAY_METRIC = 'quarterdeck.io/gateway';

const METRICS = ['error-rate', 'p50-latency', 'p99-latency', 'requests', 'errors'] as const;
type GatewayMetric = (typeof METRICS)[number];

interface GatewayMetricConfig {
  product?: string;
  model?: string;
  metric?: string;
  /** A Go duration; default 5m. */
  window?: string;
}

/**
 * The gateway's own view of a model version: error rate (5xx, 429 and
 * timeouts over calls), p50/p99 latency in milliseconds, or counts, over
 * the last `window`. `result` is a number, so conditions read like
 * `result < 0.05` or `result <= 800`; a rate or a latency of a window
 * without calls is a measurement error that says so.
 */
export class GatewayMetricProvider implements MetricProvider {
  constructor(private readonly gateway: QuarterdeckGateway) {}

  async measure(metric: Metric, signal: AbortSignal) {
    const config = ((metric.provider.plugin as Record<string, GatewayMetricConfig> | undefined) ?? {})[QUARTERDECK_GATEWAY_METRIC] ?? {};
    if (!config.product || !config.model) return { ok: false as const, message: `${QUARTERDECK_GATEWAY_METRIC}: product and model are required` };
    const which = (config.metric ?? 'error-rate') as GatewayMetric;
    if (!METRICS.includes(which)) return { ok: false as const, message: `${QUARTERDECK_GATEWAY_METRIC}: metric "${config.metric}" is not one of ${METRICS.join(', ')}` };
    const windowMs = parseGoDuration(config.window ?? '5m');
    if (windowMs === undefined || windowMs < 1000) return { ok: false as const, message: `${QUARTERDECK_GATEWAY_METRIC}: window "${config.window}" is not a duration of at least 1s` };
    let measured;
    try {
      measured = await this.gateway.modelMetrics(config.product, config.model, Math.round(windowMs / 1000), signal);
    } catch (error) {
      return { ok: false as const, message: (error as Error).message };
    }
    const values: Record<GatewayMetric, number | null> = {
      'error-rate': measured.errorRate,
      'p50-latency': measured.p50Ms,
      'p99-latency': measured.p99Ms,
      requests: measured.requests,
      errors: measured.errors,
    };
    const value = values[which];
    // No calls in the window: like a Prometheus query over an empty vector, an error (past consecutiveErrorLimit,
    // an aborted canary), never a number a condition would pass. `requests` and `errors` are 0 then.
    if (value === null) {
      return { ok: false as const, message: `${QUARTERDECK_GATEWAY_METRIC}: no calls to ${config.model} of ${config.product} in the last ${config.window ?? '5m'}, so no ${which}` };
    }
    return { ok: true as const, result: value, value: String(value) };
  }
}
