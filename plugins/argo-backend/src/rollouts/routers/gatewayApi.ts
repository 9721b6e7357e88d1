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
    const names = config.httpRoutes?.map(r => r.name) ?? (config.httpRoute ? [config.httpRoute] : []);
    for (const name of names) {
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
