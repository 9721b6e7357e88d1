import type { Rollout } from '@quarterdeck/plugin-argo-common';
import type { ClusterClient, KubeObject } from '@quarterdeck/plugin-argo-node';
import type { RoutedVersions, TrafficRouter } from './types';

/** The plugin name Argo Rollouts users already write. */
export const GATEWAY_API_PLUGIN = 'argoproj-labs/gatewayAPI';

interface GatewayApiConfig {
  httpRoute?: string;
  httpRoutes?: Array<{ name: string }>;
  namespace?: string;
}

type HttpRoute = KubeObject & {
  spec?: { rules?: Array<{ backendRefs?: Array<{ name: string; weight?: number; [k: string]: unknown }>; [k: string]: unknown }> };
};

export function gatewayApiConfig(rollout: Rollout): GatewayApiConfig | undefined {
  const plugins = rollout.spec.strategy?.canary?.trafficRouting?.plugins as Record<string, GatewayApiConfig> | undefined;
  return plugins?.[GATEWAY_API_PLUGIN];
}

/** The HTTPRoutes the config names: `httpRoutes` and `httpRoute` together, as the plugin merges them. */
function routeNames(config: GatewayApiConfig): string[] {
  return [...new Set([...(config.httpRoutes ?? []).map(r => r?.name).filter((n): n is string => typeof n === 'string' && n !== ''), ...(config.httpRoute ? [config.httpRoute] : [])])];
}

/** What this router drives: the plugin's other route kinds and selectors are refused, not ignored. */
const SUPPORTED_KEYS = new Set(['httpRoute', 'httpRoutes', 'namespace']);

/**
 * The InvalidSpec message for a gatewayAPI config this router would not act
 * on, or undefined. The plugin also drives gRPC, TCP and TLS routes and
 * routes found by a label selector; a canary whose traffic is never moved
 * would walk its steps and have its analysis judge an idle canary.
 */
export function gatewayApiProblem(config: Record<string, unknown>): string | undefined {
  const path = `spec.strategy.canary.trafficRouting.plugins.${GATEWAY_API_PLUGIN}`;
  const other = Object.keys(config).find(key => !SUPPORTED_KEYS.has(key));
  if (other) return `${path}.${other}: Unsupported value: "${other}": Quarterdeck's router drives HTTPRoutes named by httpRoute or httpRoutes`;
  if (routeNames(config as GatewayApiConfig).length === 0) return `${path}: Required value: httpRoute or httpRoutes must name the HTTPRoute whose weights the canary moves`;
  return undefined;
}

/**
 * Gateway API HTTPRoutes, as the argoproj-labs gatewayAPI plugin drives
 * them: every backendRef naming the canary Service gets the canary weight,
 * every one naming the stable Service the rest (of 100); a route without
 * both is an error ("backendRef was not found in httpRoute").
 */
export class GatewayApiRouter implements TrafficRouter {
  readonly type = GATEWAY_API_PLUGIN;

  constructor(private readonly client: ClusterClient) {}

  async setWeight(rollout: Rollout, canaryWeight: number, _versions: RoutedVersions): Promise<void> {
    const config = gatewayApiConfig(rollout)!;
    const canaryService = rollout.spec.strategy!.canary!.canaryService!;
    const stableService = rollout.spec.strategy!.canary!.stableService!;
    const namespace = config.namespace ?? rollout.metadata.namespace;
    for (const name of routeNames(config)) {
      const ref = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', namespace, name };
      const route = (await this.client.get(ref)) as HttpRoute | undefined;
      if (!route) throw new Error(`httproutes.gateway.networking.k8s.io "${name}" not found`);
      const rules = structuredClone(route.spec?.rules ?? []);
      const refs = rules.flatMap(rule => rule.backendRefs ?? []);
      const canaryRefs = refs.filter(r => r.name === canaryService);
      const stableRefs = refs.filter(r => r.name === stableService);
      if (canaryRefs.length === 0 || stableRefs.length === 0) throw new Error('backendRef was not found in httpRoute');
      if (canaryRefs.every(r => r.weight === canaryWeight) && stableRefs.every(r => r.weight === 100 - canaryWeight)) continue;
      for (const r of canaryRefs) r.weight = canaryWeight;
      for (const r of stableRefs) r.weight = 100 - canaryWeight;
      // Guarded by the resourceVersion read, like the plugin's Update.
      await this.client.patch(ref, 'merge', { metadata: { resourceVersion: route.metadata.resourceVersion }, spec: { rules } }, { fieldManager: 'quarterdeck-rollouts' });
    }
  }
}
