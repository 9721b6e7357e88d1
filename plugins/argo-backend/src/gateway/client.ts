import type { AuthService, DiscoveryService } from '@backstage/backend-plugin-api';

/** A model's calls over a recent window, as the gateway counts them. */
export interface ModelMetrics {
  requests: number;
  /** Upstream failures: 5xx, 429, timeouts. */
  errors: number;
  /** null when there were no calls: no rate and no latency to judge. */
  errorRate: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
}

/** What the rollouts engine uses of Quarterdeck's gateway: route weights and model metrics. */
export interface QuarterdeckGateway {
  routeWeights(productId: string, route: string): Promise<Record<string, number>>;
  /** `rollout`: `cluster/namespace/name` of the Rollout this is done for; the gateway takes it only from the one the route names. */
  setRouteWeights(productId: string, route: string, weights: Record<string, number>, reason: string, rollout: string): Promise<void>;
  /** `signal`: the caller gives up (the analysis reconciler stopping). */
  modelMetrics(productId: string, model: string, windowSeconds: number, signal?: AbortSignal): Promise<ModelMetrics>;
}

/** How long one call may take: a hung gateway must not hold a reconcile (or a measurement) for minutes. */
export const GATEWAY_TIMEOUT_MS = 10_000;

/**
 * The gateway plugin's control plane over HTTP, as this plugin's service
 * principal (plugin-to-plugin tokens), so the gateway checks and audits the
 * change like any other.
 */
export class HttpQuarterdeckGateway implements QuarterdeckGateway {
  constructor(private readonly deps: { discovery: DiscoveryService; auth: AuthService; timeoutMs?: number }) {}

  private async call<T>(path: string, init: RequestInit = {}, signal?: AbortSignal): Promise<T> {
    const base = await this.deps.discovery.getBaseUrl('gateway');
    const { token } = await this.deps.auth.getPluginRequestToken({
      onBehalfOf: await this.deps.auth.getOwnServiceCredentials(),
      targetPluginId: 'gateway',
    });
    const what = `gateway ${init.method ?? 'GET'} ${path}`;
    const timeoutMs = this.deps.timeoutMs ?? GATEWAY_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${base}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      text = await response.text();
    } catch (error) {
      if (signal?.aborted) throw new Error(`${what}: cancelled`);
      if (timeout.aborted) throw new Error(`${what}: no answer within ${timeoutMs / 1000}s`);
      throw error;
    }
    if (!response.ok) {
      let message = text;
      try {
        message = JSON.parse(text).error?.message ?? text;
      } catch {
        // not JSON
      }
      throw new Error(`${what}: ${response.status} ${message}`);
    }
    return JSON.parse(text) as T;
  }

  async routeWeights(productId: string, route: string) {
    const product = await this.call<{ routes?: Array<{ name: string; targets: Array<{ model: string; weight: number }> }> }>(`/products/${encodeURIComponent(productId)}`);
    const found = (product.routes ?? []).find(r => r.name === route);
    if (!found) throw new Error(`gateway product ${productId} has no route ${route}`);
    return Object.fromEntries(found.targets.map(t => [t.model, t.weight]));
  }

  async setRouteWeights(productId: string, route: string, weights: Record<string, number>, reason: string, rollout: string) {
    await this.call(`/products/${encodeURIComponent(productId)}/routes/${encodeURIComponent(route)}/weights`, {
      method: 'PUT',
      body: JSON.stringify({ weights, reason, rollout }),
    });
  }

  async modelMetrics(productId: string, model: string, windowSeconds: number, signal?: AbortSignal) {
    const q = new URLSearchParams({ productId, model, windowSeconds: String(windowSeconds) });
    return this.call<ModelMetrics>(`/metrics/models?${q}`, {}, signal);
  }
}
