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
  setWeight(rollout: Rollout, canaryWeight: number): Promise<void>;
}

/** The config a router reads from `spec.strategy.canary.trafficRouting`, or why it is not usable. */
export type RouterConfigProblem = string | undefined;
