import type { AnalysisRun, Metric } from '@quarterdeck/plugin-argo-common';
import type { ClusterClient, KubeObject } from '@quarterdeck/plugin-argo-node';
import type { Measurement, MetricResult } from './assess';
import type { QuarterdeckGateway } from '../../gateway/client';
import { parseGoFloat } from './conditions';
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
      insecure?: boolean;
      authentication?: { oauth2?: { tokenUrl?: string } };
    };
    const unsupported = unsupportedSetting('web', web.url, web.insecure, web.authentication?.oauth2?.tokenUrl);
    if (unsupported) return { ok: false, message: unsupported };
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
    let status: number;
    let text: string;
    try {
      const response = await fetch(web.url, { method, headers, body, signal: AbortSignal.any([signal, timeout]) });
      status = response.status;
      // A body that stalls past the timeout, or a connection reset in it, is an Error measurement, as Argo's read of it.
      text = await response.text();
    } catch (error) {
      return { ok: false, message: (error as Error).message };
    }
    if (status < 200 || status > 299) {
      return { ok: false, message: `received non 2xx response code: ${status}` };
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
    // The value as Argo stores it, json.Marshal of what the path found: a string with its quotes.
    return { ok: true, result: found.value, value: JSON.stringify(found.value) };
  },
};

/**
 * A provider setting Argo honours that this one does not: said in the
 * measurement's error rather than ignored (a query sent unauthenticated, or
 * over a connection Argo would not have made, measures something else).
 * `insecure` matters only for https; TLS is always verified here, and
 * NODE_EXTRA_CA_CERTS adds a private CA.
 */
function unsupportedSetting(provider: string, address: string | undefined, insecure: boolean | undefined, oauth2TokenUrl: string | undefined, more: Array<[string, unknown]> = []): string | undefined {
  if (insecure && address?.toLowerCase().startsWith('https:')) {
    return `${provider}: insecure (no TLS verification) is not supported by Quarterdeck's analysis; trust the server's CA with NODE_EXTRA_CA_CERTS instead`;
  }
  if (oauth2TokenUrl) return `${provider}: authentication.oauth2 is not supported by Quarterdeck's analysis`;
  const set = more.find(([, value]) => value !== undefined && value !== null && !(typeof value === 'object' && Object.keys(value).length === 0));
  return set && `${provider}: ${set[0]} is not supported by Quarterdeck's analysis`;
}

/** A sample's value, a string as Prometheus writes it ("+Inf", "NaN" included). */
function sampleValue(sample: unknown): number {
  const text = Array.isArray(sample) ? sample[1] : undefined;
  const n = typeof text === 'string' ? parseGoFloat(text) : undefined;
  if (n === undefined) throw new Error(`cannot read ${JSON.stringify(sample)} as a sample`);
  return n;
}

/** `prometheus`: an instant query; a vector becomes an array of floats, a scalar a float (Argo's mapping). */
export const prometheusProvider: MetricProvider = {
  async measure(metric, signal) {
    const prom = metric.provider.prometheus as {
      address?: string;
      query: string;
      timeout?: number;
      insecure?: boolean;
      headers?: Array<{ key: string; value: string }>;
      authentication?: { basicAuth?: { username?: string; password?: string }; sigv4?: Record<string, unknown>; oauth2?: { tokenUrl?: string } };
      rangeQuery?: unknown;
    };
    const address = prom.address || process.env.ARGO_ROLLOUTS_PROMETHEUS_ADDRESS;
    if (!address) return { ok: false, message: 'prometheus address is not configured' };
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      return { ok: false, message: 'prometheus address is not is url format' };
    }
    const unsupported = unsupportedSetting('prometheus', address, prom.insecure, prom.authentication?.oauth2?.tokenUrl, [
      // Argo signs only for Amazon Managed Prometheus's addresses.
      ['authentication.sigv4', address.includes('aps-workspaces') ? prom.authentication?.sigv4 : undefined],
      ['rangeQuery', prom.rangeQuery],
    ]);
    if (unsupported) return { ok: false, message: unsupported };
    // Below the address's own path, as Prometheus's Go client joins them: a Prometheus served under /prometheus, or Mimir's /api/prom.
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/v1/query`;
    url.searchParams.set('query', prom.query);
    const headers: Record<string, string> = {};
    for (const h of prom.headers ?? []) headers[h.key] = h.value;
    const basic = prom.authentication?.basicAuth;
    if (basic?.username || basic?.password) {
      if (!basic.username) return { ok: false, message: 'missing mandatory parameter in metric for basic auth setup: username' };
      if (!basic.password) return { ok: false, message: 'missing mandatory parameter in metric for basic auth setup: password' };
      headers.authorization = `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}`;
    }
    const timeout = AbortSignal.timeout((prom.timeout ?? 30) * 1000);
    try {
      const response = await fetch(url, { headers, signal: AbortSignal.any([signal, timeout]) });
      const json = await response.json();
      if (!response.ok || json?.status !== 'success') {
        return { ok: false, message: json?.error ?? `received non 2xx response code: ${response.status}` };
      }
      const { resultType, result } = json.data ?? {};
      if (resultType === 'scalar') {
        const v = sampleValue(result);
        return { ok: true, result: v, value: formatFloat(v) };
      }
      if (resultType === 'vector' || resultType === 'matrix') {
        const series = Array.isArray(result) ? (result as Array<{ value?: unknown; values?: unknown }>) : [];
        const values = resultType === 'vector'
          ? series.filter(Boolean).map(s => sampleValue(s.value))
          : series.filter(Boolean).flatMap(s => (Array.isArray(s.values) ? s.values : []).map(sampleValue));
        return { ok: true, result: values, value: `[${values.map(formatFloat).join(',')}]` };
      }
      return { ok: false, message: 'Prometheus metric type not supported' };
    } catch (error) {
      // No answer, a body cut short, or one that is not Prometheus's: an Error measurement, never a run left unmeasured.
      return { ok: false, message: (error as Error).message };
    }
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
