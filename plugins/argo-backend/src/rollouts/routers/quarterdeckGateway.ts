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
  // The template as resolved: with a workloadRef, the workload's.
  if (!rollout.spec.template?.metadata?.annotations?.[GATEWAY_MODEL_ANNOTATION]) {
    const ref = rollout.spec.workloadRef;
    return ref
      ? `spec.workloadRef: Invalid value: "${ref.name}": its pod template has no ${GATEWAY_MODEL_ANNOTATION} annotation (the gateway model this version serves)`
      : `spec.template.metadata.annotations[${GATEWAY_MODEL_ANNOTATION}]: Required value: the gateway model this version serves`;
  }
  return undefined;
}

/**
 * The route's weights for a canary weight. The stable model takes what the
 * canary's does not; a canary without a model gets nothing, so an abort can
 * always put everything back on the stable model. A stable version without
 * a model (its ReplicaSet predates the annotation) leaves the route's other
 * targets as the stable side, and the canary gets nothing: any share it has
 * goes back to them in proportion.
 */
export function routeWeightsFor(current: Record<string, number>, stable: string | undefined, canary: string | undefined, canaryWeight: number): Record<string, number> {
  if (stable) {
    if (!canary || canary === stable) return { [stable]: 100 };
    return { [stable]: 100 - canaryWeight, [canary]: canaryWeight };
  }
  const share = canary ? current[canary] ?? 0 : 0;
  const others = Object.entries(current).filter(([model, weight]) => model !== canary && weight > 0);
  if (share === 0 || others.length === 0) return current; // nothing to give back, or nowhere known to give it
  const wanted = Object.fromEntries(others.map(([model, weight]) => [model, Math.floor((weight * 100) / (100 - share))]));
  const largest = others.reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  wanted[largest] += 100 - Object.values(wanted).reduce((n, w) => n + w, 0);
  return { ...wanted, [canary!]: 0 };
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

  /** `cluster`: the name of the Rollout's cluster, the first part of the `rollout` a route names. */
  constructor(private readonly gateway: QuarterdeckGateway, private readonly cluster: string) {}

  async setWeight(rollout: Rollout, canaryWeight: number, versions: RoutedVersions): Promise<void> {
    const config = quarterdeckGatewayConfig(rollout)!;
    const modelOf = (hash: string | undefined) => (hash ? versions.annotationsOf(hash)?.[GATEWAY_MODEL_ANNOTATION] : undefined);
    const stable = modelOf(versions.stableHash);
    const canary = modelOf(versions.canaryHash);
    if (!stable && !canary) return;
    const current = await this.gateway.routeWeights(config.product, config.route);
    const wanted = routeWeightsFor(current, stable, canary, canaryWeight);
    const targets = new Set([...Object.keys(current), ...Object.keys(wanted)]);
    if ([...targets].every(model => (current[model] ?? 0) === (wanted[model] ?? 0))) return;
    const split = Object.entries(wanted).map(([model, weight]) => `${model} ${weight}%`).join(', ');
    // The gateway takes it only from the Rollout the route names (`rollout: cluster/namespace/name`), which its API's owners set.
    const ref = `${this.cluster}/${rollout.metadata.namespace}/${rollout.metadata.name}`;
    await this.gateway.setRouteWeights(config.product, config.route, wanted, `Rollout ${ref}: ${split}`, ref);
  }
}
