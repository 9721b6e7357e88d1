import type { AuthService, DiscoveryService } from '@backstage/backend-plugin-api';

/** A model's calls over a recent window, as the gateway counts them. */
export interface ModelMetrics {
  requests: number;
  /** Upstream failures: 5xx, 429, timeouts. */
  errors: number;
  errorRate: number;
  p50Ms: number;
  p99Ms: number;
}

/** What the rollouts engine uses of Quarterdeck's gateway: route weights and model metrics. */
export interface QuarterdeckGateway {
  routeWeights(productId: string, route: string): Promise<Record<string, number>>;
  setRouteWeights(productId: string, route: string, weights: Record<string, number>, reason: string): Promise<void>;
  modelMetrics(productId: string, model: string, windowSeconds: number): Promise<ModelMetrics>;
}

/**
 * The gateway plugin's control plane over HTTP, as this plugin's service
 * principal (plugin-to-plugin tokens), so the gateway checks and audits the
 * change like any other.
 */
export class HttpQuarterdeckGateway implements QuarterdeckGateway {
  constructor(private readonly deps: { discovery: DiscoveryService; auth: AuthService }) {}

  private async call<T>(path: string, init: RequestInit = {}): Promise<T> {
    const base = await this.deps.discovery.getBaseUrl('gateway');
    const { token } = await this.deps.auth.getPluginRequestToken({
      onBehalfOf: await this.deps.auth.getOwnServiceCredentials(),
      targetPluginId: 'gateway',
    });
    const response = await fetch(`${base}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
    });
    const text = await response.text();
    if (!response.ok) {
      let message = text;
      try {
        message = JSON.parse(text).error?.message ?? text;
      } catch {
        // not JSON
      }
      throw new Error(`gateway ${init.method ?? 'GET'} ${path}: ${response.status} ${message}`);
    }
    return JSON.parse(text) as T;
  }

  async routeWeights(productId: string, route: string) {
    const product = await this.call<{ routes?: Array<{ name: string; targets: Array<{ model: string; weight: number }> }> }>(`/products/${encodeURIComponent(productId)}`);
    const found = (product.routes ?? []).find(r => r.name === route);
    if (!found) throw new Error(`gateway product ${productId} has no route ${route}`);
    return Object.fromEntries(found.targets.map(t => [t.model, t.weight]));
  }

  async setRouteWeights(productId: string, route: string, weights: Record<string, number>, reason: string) {
    await this.call(`/products/${encodeURIComponent(productId)}/routes/${encodeURIComponent(route)}/weights`, {
      method: 'PUT',
      body: JSON.stringify({ weights, reason }),
    });
  }

  async modelMetrics(productId: string, model: string, windowSeconds: number) {
    const q = new URLSearchParams({ productId, model, windowSeconds: String(windowSeconds) });
    return this.call<ModelMetrics>(`/metrics/models?${q}`);
  }
}
