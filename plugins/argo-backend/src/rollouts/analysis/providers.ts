import type { AnalysisRun, Metric } from '@quarterdeck/plugin-argo-common';
import type { ClusterClient, KubeObject } from '@quarterdeck/plugin-argo-node';
import type { Measurement, MetricResult } from './assess';
import type { QuarterdeckGateway } from '../../gateway/client';
import { GatewayMetricProvider, QUARTERDECK_GATEWAY_METRIC } from './gatewayProvider';
import { JobProvider } from './job';

/** What a provider measured: the value conditions see as `result`, and its text form. */
export type ProviderResult = { ok: true; result: unknown; value: string } | { ok: false; message: string };

/** A provider that measures within one call; the metric's conditions judge what it returns. */
export interface MetricProvider {
  measure(metric: Metric, signal: AbortSignal): Promise<ProviderResult>;
}

/**
 * A provider whose measurement outlives the call that starts it (Argo's
 * job): `run` starts it and answers a Running measurement with `metadata`
 * and a `resumeAt`; later passes `resume` it until it has finished;
 * `terminate` stops it when the run ends first; `garbageCollect` removes
 * what measurements beyond the history limit left behind. The provider
 * judges its measurements: the metric's conditions are not consulted.
 */
export interface ResumableMetricProvider {
  readonly resumable: true;
  /** `result` is the metric's result before this measurement, if any. */
  run(run: AnalysisRun & KubeObject, metric: Metric, result: MetricResult | undefined, now: Date): Promise<Measurement>;
  resume(run: AnalysisRun & KubeObject, metric: Metric, measurement: Measurement, now: Date): Promise<Measurement>;
  terminate(run: AnalysisRun & KubeObject, metric: Metric, measurement: Measurement, now: Date): Promise<Measurement>;
  garbageCollect(run: AnalysisRun & KubeObject, metric: Metric, limit: number): Promise<void>;
}

export type AnyMetricProvider = MetricProvider | ResumableMetricProvider;

export const isResumable = (provider: AnyMetricProvider): provider is ResumableMetricProvider =>
  (provider as ResumableMetricProvider).resumable === true;

/**
 * A Kubernetes-style JSONPath of the simple kind metrics use: `{$.data.ok}`,
 * `{$.items[0].latency}`, `{$}`. Returns undefined when nothing matches.
 */
export function evaluateJsonPath(document: unknown, jsonPath: string): { found: boolean; value?: unknown } {
  const inner = jsonPath.trim().replace(/^\{/, '').replace(/\}$/, '').trim();
  if (inner !== '$' && !inner.startsWith('$') && !inner.startsWith('.')) throw new Error(`unrecognized JSONPath ${jsonPath}`);
  const path = inner.replace(/^\$/, '');
  let current: unknown = document;
  for (const part of path.match(/\.[^.[\]]+|\[\d+\]|\['[^']+'\]|\["[^"]+"\]/g) ?? []) {
    let key: string | number;
    if (part.startsWith('.')) key = part.slice(1);
    else if (/^\[\d+\]$/.test(part)) key = Number(part.slice(1, -1));
    else key = part.slice(2, -2);
    if (current === null || typeof current !== 'object' || !Object.prototype.hasOwnProperty.call(current, key)) {
      return { found: false };
    }
    current = (current as Record<string | number, unknown>)[key];
  }
  return { found: true, value: current };
}

function formatFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  return String(n);
}

/** `web`: an HTTP endpoint, its JSON body read with jsonPath (Argo's webmetric). */
export const webProvider: MetricProvider = {
  async measure(metric, signal) {
    const web = metric.provider.web as {
      url: string;
      method?: string;
      headers?: Array<{ key: string; value: string }>;
      body?: string;
      jsonBody?: unknown;
      jsonPath?: string;
      timeoutSeconds?: number;
    };
    const method = (web.method ?? 'GET').toUpperCase();
    if (web.body !== undefined && web.jsonBody !== undefined) {
      return { ok: false, message: 'use either Body or JSONBody; both cannot exists for WebMetric payload' };
    }
    if ((web.body !== undefined || web.jsonBody !== undefined) && method !== 'POST' && method !== 'PUT') {
      return { ok: false, message: 'Body/JSONBody can only be used with POST or PUT WebMetric Method types' };
    }
    const headers: Record<string, string> = {};
    for (const h of web.headers ?? []) headers[h.key] = h.value;
    let body = web.body;
    if (web.jsonBody !== undefined) {
      body = JSON.stringify(web.jsonBody);
      headers['content-type'] = 'application/json';
    }
    const timeout = AbortSignal.timeout(((web.timeoutSeconds ?? 0) > 0 ? web.timeoutSeconds! : 10) * 1000);
    let response: Response;
    try {
      response = await fetch(web.url, { method, headers, body, signal: AbortSignal.any([signal, timeout]) });
    } catch (error) {
      return { ok: false, message: (error as Error).message };
    }
    const text = await response.text();
    if (response.status < 200 || response.status > 299) {
      return { ok: false, message: `received non 2xx response code: ${response.status}` };
    }
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      return { ok: true, result: text, value: text };
    }
    let found;
    try {
      found = evaluateJsonPath(document, web.jsonPath ?? '{$}');
    } catch (error) {
      return { ok: false, message: `Could not find JSONPath in body: ${(error as Error).message}` };
    }
    if (!found.found) return { ok: false, message: 'result of web metric produced no value' };
    return { ok: true, result: found.value, value: typeof found.value === 'string' ? found.value : JSON.stringify(found.value) };
  },
};

/** `prometheus`: an instant query; a vector becomes an array of floats, a scalar a float (Argo's mapping). */
export const prometheusProvider: MetricProvider = {
  async measure(metric, signal) {
    const prom = metric.provider.prometheus as { address?: string; query: string; timeout?: number };
    const address = prom.address ?? process.env.ARGO_ROLLOUTS_PROMETHEUS_ADDRESS;
    if (!address) return { ok: false, message: 'prometheus address is not configured' };
    let url: URL;
    try {
      url = new URL('/api/v1/query', address);
    } catch {
      return { ok: false, message: 'prometheus address is not is url format' };
    }
    url.searchParams.set('query', prom.query);
    const timeout = AbortSignal.timeout((prom.timeout ?? 30) * 1000);
    let json: any;
    try {
      const response = await fetch(url, { signal: AbortSignal.any([signal, timeout]) });
      json = await response.json();
      if (!response.ok || json.status !== 'success') {
        return { ok: false, message: json?.error ?? `received non 2xx response code: ${response.status}` };
      }
    } catch (error) {
      return { ok: false, message: (error as Error).message };
    }
    const { resultType, result } = json.data ?? {};
    if (resultType === 'scalar') {
      const v = Number(result[1]);
      return { ok: true, result: v, value: formatFloat(v) };
    }
    if (resultType === 'vector') {
      const values = (result as Array<{ value: [number, string] }>).map(s => Number(s.value[1]));
      return { ok: true, result: values, value: `[${values.map(formatFloat).join(',')}]` };
    }
    if (resultType === 'matrix') {
      const values = (result as Array<{ values: Array<[number, string]> }>).flatMap(s => s.values.map(v => Number(v[1])));
      return { ok: true, result: values, value: `[${values.map(formatFloat).join(',')}]` };
    }
    return { ok: false, message: 'Prometheus metric type not supported' };
  },
};

/**
 * The provider a metric names, or the reason there is none usable. The job
 * provider works through `client`, the cluster the AnalysisRun is in.
 */
export function providerFor(metric: Metric, options: { client?: ClusterClient; gateway?: QuarterdeckGateway } = {}): AnyMetricProvider | string {
  const names = Object.keys(metric.provider ?? {});
  if (names.length === 0) return 'no provider specified';
  if (names.length > 1) return 'multiple providers specified';
  switch (names[0]) {
    case 'web': return webProvider;
    case 'prometheus': return prometheusProvider;
    case 'job': return options.client ? new JobProvider(options.client) : 'the job provider needs the cluster the AnalysisRun is in';
    case 'plugin': {
      const plugins = Object.keys((metric.provider.plugin ?? {}) as Record<string, unknown>);
      if (plugins.length !== 1 || plugins[0] !== QUARTERDECK_GATEWAY_METRIC) {
        return `metric plugin "${plugins.join(', ')}" is not supported by Quarterdeck (it supports ${QUARTERDECK_GATEWAY_METRIC})`;
      }
      return options.gateway ? new GatewayMetricProvider(options.gateway) : `${QUARTERDECK_GATEWAY_METRIC}: the gateway plugin is not installed in this backend`;
    }
    default: return `provider "${names[0]}" is not supported by Quarterdeck yet`;
  }
}
