import type { Rollout } from '@quarterdeck/plugin-argo-common';
import type { QuarterdeckGateway } from '../../gateway/client';
import type { RoutedVersions, TrafficRouter } from './types';

/** The plugin name under `trafficRouting.plugins`. */
export const QUARTERDECK_GATEWAY_PLUGIN = 'quarterdeck.io/gateway';
/** On the pod template: the gateway model (a route target) this version serves. */
export const GATEWAY_MODEL_ANNOTATION = 'quarterdeck.io/gateway-model';

export interface QuarterdeckGatewayConfig {
  /** The gateway product, e.g. `llm-chat`. */
  product: string;
  /** The model route whose split the canary drives, e.g. `chat-small`. */
  route: string;
}

export function quarterdeckGatewayConfig(rollout: Rollout): QuarterdeckGatewayConfig | undefined {
  const plugins = rollout.spec.strategy?.canary?.trafficRouting?.plugins as Record<string, QuarterdeckGatewayConfig> | undefined;
  return plugins?.[QUARTERDECK_GATEWAY_PLUGIN];
}

/** The InvalidSpec problem of a Rollout routed by the gateway, or undefined. */
export function quarterdeckGatewayProblem(rollout: Rollout, config: Partial<QuarterdeckGatewayConfig>): string | undefined {
  for (const field of ['product', 'route'] as const) {
    if (typeof config[field] !== 'string' || config[field] === '') {
      return `spec.strategy.canary.trafficRouting.plugins.${QUARTERDECK_GATEWAY_PLUGIN}.${field}: Required value`;
    }
  }
  if (!rollout.spec.workloadRef && !rollout.spec.template?.metadata?.annotations?.[GATEWAY_MODEL_ANNOTATION]) {
    return `spec.template.metadata.annotations[${GATEWAY_MODEL_ANNOTATION}]: Required value: the gateway model this version serves`;
  }
  return undefined;
}

/**
 * The gateway's weighted model routes as a canary's traffic router. Each
 * version's pod template names the gateway model it serves
 * (`quarterdeck.io/gateway-model`), the way a Service selects a version's
 * pods by hash: the route sends the canary weight to the canary version's
 * model, the rest to the stable version's, nothing to other targets. After
 * promotion the new version is stable, so its model takes all traffic.
 * Reads first and writes only a change, so a reconcile costs one GET.
 */
export class QuarterdeckGatewayRouter implements TrafficRouter {
  readonly type = QUARTERDECK_GATEWAY_PLUGIN;

  constructor(private readonly gateway: QuarterdeckGateway) {}

  async setWeight(rollout: Rollout, canaryWeight: number, versions: RoutedVersions): Promise<void> {
    const config = quarterdeckGatewayConfig(rollout)!;
    const modelOf = (hash: string | undefined) => {
      if (!hash) return undefined;
      const model = versions.annotationsOf(hash)?.[GATEWAY_MODEL_ANNOTATION];
      if (!model) throw new Error(`ReplicaSet ${rollout.metadata.name}-${hash} has no ${GATEWAY_MODEL_ANNOTATION} annotation`);
      return model;
    };
    const stable = modelOf(versions.stableHash);
    const canary = modelOf(versions.canaryHash) ?? stable;
    if (!stable || !canary) return;
    const wanted: Record<string, number> = {};
    wanted[stable] = (wanted[stable] ?? 0) + 100 - canaryWeight;
    wanted[canary] = (wanted[canary] ?? 0) + canaryWeight;
    const current = await this.gateway.routeWeights(config.product, config.route);
    const targets = new Set([...Object.keys(current), ...Object.keys(wanted)]);
    if ([...targets].every(model => (current[model] ?? 0) === (wanted[model] ?? 0))) return;
    await this.gateway.setRouteWeights(config.product, config.route, wanted,
      `Rollout ${rollout.metadata.namespace}/${rollout.metadata.name}: ${canary} ${canaryWeight}%, ${stable} ${100 - canaryWeight}%`);
  }
}
