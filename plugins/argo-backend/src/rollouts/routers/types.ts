import type { Rollout } from '@quarterdeck/plugin-argo-common';

/**
 * A traffic router of a canary (Argo's TrafficRoutingReconciler): given the
 * weight for the canary Service, it makes the data plane send that share of
 * requests there and the rest to the stable Service. Implementations are
 * idempotent: the reconciler calls setWeight on every pass.
 */
export interface TrafficRouter {
  /** The name under `trafficRouting` (or `trafficRouting.plugins`). */
  readonly type: string;
  setWeight(rollout: Rollout, canaryWeight: number, versions: RoutedVersions): Promise<void>;
}

/**
 * The two versions the weight splits between, as pod-template hashes, and
 * their pod templates' annotations (a router that routes to something other
 * than Services, like the gateway's models, reads its target there).
 */
export interface RoutedVersions {
  canaryHash?: string;
  stableHash?: string;
  annotationsOf(hash: string): Record<string, string> | undefined;
}
