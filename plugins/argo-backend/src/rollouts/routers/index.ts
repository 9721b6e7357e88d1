import type { Rollout } from '@quarterdeck/plugin-argo-common';
import type { ClusterClient } from '@quarterdeck/plugin-argo-node';
import type { QuarterdeckGateway } from '../../gateway/client';
import { GATEWAY_API_PLUGIN, GatewayApiRouter, gatewayApiProblem } from './gatewayApi';
import { QUARTERDECK_GATEWAY_PLUGIN, QuarterdeckGatewayRouter, quarterdeckGatewayProblem, type QuarterdeckGatewayConfig } from './quarterdeckGateway';
import type { TrafficRouter } from './types';

export type { TrafficRouter } from './types';

/** The routers Quarterdeck implements, by the name used under `trafficRouting.plugins`. */
const SUPPORTED_PLUGINS = [GATEWAY_API_PLUGIN, QUARTERDECK_GATEWAY_PLUGIN];

/**
 * The InvalidSpec message for a traffic routing this Rollout cannot use,
 * or undefined. Argo has many built-in routers; Quarterdeck implements the
 * Gateway API one and says so for the others.
 */
export function trafficRoutingProblem(rollout: Rollout): string | undefined {
  const routing = rollout.spec.strategy?.canary?.trafficRouting as Record<string, unknown> | undefined;
  if (!routing) return undefined;
  const builtins = Object.keys(routing).filter(k => !['plugins', 'maxTrafficWeight', 'managedRoutes'].includes(k));
  if (builtins.length > 0) {
    return `spec.strategy.canary.trafficRouting.${builtins[0]}: Unsupported value: "${builtins[0]}": supported values: "plugins.${SUPPORTED_PLUGINS.join('", "plugins.')}"`;
  }
  const plugins = Object.keys((routing.plugins ?? {}) as Record<string, unknown>);
  const unknown = plugins.find(p => !SUPPORTED_PLUGINS.includes(p));
  if (unknown) return `spec.strategy.canary.trafficRouting.plugins: Unsupported value: "${unknown}": supported values: "${SUPPORTED_PLUGINS.join('", "')}"`;
  if (plugins.length === 0) return 'spec.strategy.canary.trafficRouting: Required value: a traffic router is required';
  const gatewayApi = (routing.plugins as Record<string, unknown>)[GATEWAY_API_PLUGIN];
  if (gatewayApi !== undefined) {
    const problem = gatewayApiProblem((gatewayApi ?? {}) as Record<string, unknown>);
    if (problem) return problem;
  }
  const gateway = (routing.plugins as Record<string, Partial<QuarterdeckGatewayConfig>>)[QUARTERDECK_GATEWAY_PLUGIN];
  if (gateway) {
    const problem = quarterdeckGatewayProblem(rollout, gateway);
    if (problem) return problem;
  }
  if (routing.maxTrafficWeight !== undefined) {
    return `spec.strategy.canary.trafficRouting.maxTrafficWeight: Invalid value: ${routing.maxTrafficWeight}: Quarterdeck supports only the default maximum weight of 100`;
  }
  return undefined;
}

/** The routers a Rollout names; the gateway's needs the gateway plugin (absent in some tests). */
export function trafficRoutersFor(rollout: Rollout, client: ClusterClient, gateway?: QuarterdeckGateway): TrafficRouter[] {
  const plugins = Object.keys((rollout.spec.strategy?.canary?.trafficRouting?.plugins ?? {}) as Record<string, unknown>);
  const routers: TrafficRouter[] = [];
  for (const plugin of plugins) {
    if (plugin === GATEWAY_API_PLUGIN) routers.push(new GatewayApiRouter(client));
    if (plugin === QUARTERDECK_GATEWAY_PLUGIN) {
      if (!gateway) throw new Error(`${QUARTERDECK_GATEWAY_PLUGIN}: the gateway plugin is not installed in this backend`);
      routers.push(new QuarterdeckGatewayRouter(gateway, client.name));
    }
  }
  return routers;
}
