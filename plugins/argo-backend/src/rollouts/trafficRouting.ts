import type { Rollout, RolloutStatus } from '@quarterdeck/plugin-argo-common';
import type { ReplicaSetState } from './objects';
import { DEFAULT_SCALE_DOWN_DELAY_SECONDS } from './scaleDown';

/**
 * The canary with a traffic router, as Argo Rollouts runs it
 * (utils/replicaset/canary.go, rollout/trafficrouting.go): the router splits
 * traffic by weight, so pods no longer carry the split — the canary gets
 * ceil(weight × replicas) pods (or what setCanaryScale says), the stable
 * keeps all of its pods unless dynamicStableScale trims it to its share.
 */

export const MAX_TRAFFIC_WEIGHT = 100;

type Weights = NonNullable<NonNullable<RolloutStatus['canary']>['weights']>;

/** trafficWeightToReplicas. */
export const weightToReplicas = (replicas: number, weight: number) => Math.ceil((weight * replicas) / MAX_TRAFFIC_WEIGHT);

/** GetAbortScaleDownDelaySecondsOrDefault for a routed canary; undefined = never (an explicit 0). */
export function abortScaleDownDelaySeconds(rollout: Rollout): number | undefined {
  const explicit = rollout.spec.strategy?.canary?.abortScaleDownDelaySeconds;
  if (explicit === 0) return undefined;
  return explicit ?? DEFAULT_SCALE_DOWN_DELAY_SECONDS;
}

/** The step index the status points at, if it is a step. */
function currentStep(rollout: Rollout): number | undefined {
  const steps = rollout.spec.strategy?.canary?.steps ?? [];
  const index = rollout.status?.currentStepIndex ?? 0;
  return steps.length > 0 && index < steps.length ? index : undefined;
}

/** GetCurrentSetWeight. */
export function currentSetWeight(rollout: Rollout): number {
  if (rollout.status?.abort) return 0;
  const index = currentStep(rollout);
  if (index === undefined) return MAX_TRAFFIC_WEIGHT;
  const steps = rollout.spec.strategy!.canary!.steps!;
  for (let i = index; i >= 0; i--) if (steps[i].setWeight !== undefined) return steps[i].setWeight!;
  return 0;
}

/** UseSetCanaryScale: the setCanaryScale in force at the current step, unless it matches the traffic weight. */
export function setCanaryScaleInForce(rollout: Rollout): { replicas?: number; weight?: number } | undefined {
  if (rollout.status?.abort && abortScaleDownDelaySeconds(rollout) !== undefined) return undefined;
  const index = currentStep(rollout);
  if (index === undefined) return undefined;
  const steps = rollout.spec.strategy!.canary!.steps!;
  for (let i = index; i >= 0; i--) {
    const scale = steps[i].setCanaryScale;
    if (!scale) continue;
    return scale.matchTrafficWeight ? undefined : scale;
  }
  return undefined;
}

/**
 * GetDesiredCanaryWeight: normally the current setWeight; on an abort with
 * dynamicStableScale, the steps walked backwards as the stable comes back,
 * so the stable is not asked to take all traffic at once.
 */
export function desiredCanaryWeight(rollout: Rollout, newRs: ReplicaSetState | undefined, stableRs: ReplicaSetState | undefined): number {
  const canary = rollout.spec.strategy!.canary!;
  if (rollout.status?.abort && canary.dynamicStableScale && newRs && stableRs) {
    const replicas = rollout.spec.replicas ?? 1;
    const expected = replicas - stableRs.availableReplicas;
    const canaryReplicas = canary.abortScaleDownDelaySeconds !== undefined && canary.abortScaleDownDelaySeconds > 0
      ? expected
      : Math.max(expected, newRs.availableReplicas);
    const steps = canary.steps ?? [];
    for (let i = steps.length - 1; i >= 0; i--) {
      const w = steps[i].setWeight;
      if (w !== undefined && weightToReplicas(replicas, w) < canaryReplicas) return w;
    }
    return 0;
  }
  return currentSetWeight(rollout);
}

/** CalculateReplicaCountsForTrafficRoutedCanary. */
export function routedCanaryCounts(
  rollout: Rollout,
  newRs: ReplicaSetState | undefined,
  stableRs: ReplicaSetState | undefined,
  weights: Weights | undefined,
): { canary: number; stable: number } {
  const replicas = rollout.spec.replicas ?? 1;
  const status = rollout.status ?? {};
  let canaryCount: number;
  let weight: number;
  if (status.promoteFull || !status.stableRS || status.currentPodHash === status.stableRS) {
    weight = MAX_TRAFFIC_WEIGHT;
    canaryCount = weightToReplicas(replicas, weight);
  } else {
    const scale = setCanaryScaleInForce(rollout);
    if (scale?.replicas !== undefined) {
      weight = 0;
      canaryCount = scale.replicas;
    } else {
      weight = scale?.weight ?? desiredCanaryWeight(rollout, newRs, stableRs);
      canaryCount = weightToReplicas(replicas, weight);
    }
  }
  if (!rollout.spec.strategy!.canary!.dynamicStableScale) return { canary: canaryCount, stable: replicas };
  let stableCount = weightToReplicas(replicas, MAX_TRAFFIC_WEIGHT - weight);
  if (weights) {
    stableCount = Math.max(stableCount, weightToReplicas(replicas, weights.stable.weight));
    if (status.abort) canaryCount = Math.max(canaryCount, weightToReplicas(replicas, weights.canary.weight));
  }
  return { canary: canaryCount, stable: stableCount };
}

/** AtDesiredReplicaCountsForCanary with a router: the canary's pods all up, and the stable's (unless scaled dynamically). */
export function atDesiredRoutedCounts(
  rollout: Rollout,
  newRs: ReplicaSetState | undefined,
  stableRs: ReplicaSetState | undefined,
  weights: Weights | undefined,
): boolean {
  const { canary, stable } = routedCanaryCounts(rollout, newRs, stableRs, weights);
  if (!newRs || newRs.specReplicas !== canary || newRs.availableReplicas !== canary) return false;
  if (!rollout.spec.strategy!.canary!.dynamicStableScale) {
    if (!stableRs || stableRs.specReplicas !== stable || stableRs.replicas !== stable) return false;
  }
  return true;
}

/** calculateDesiredWeightOnAbortOrStableRollback. */
export function weightOnAbortOrRollback(rollout: Rollout, newRs: ReplicaSetState | undefined, stableRs: ReplicaSetState | undefined): number {
  const replicas = rollout.spec.replicas ?? 0;
  if (!rollout.spec.strategy!.canary!.dynamicStableScale || !stableRs || !newRs || replicas === 0) return 0;
  const desired = desiredCanaryWeight(rollout, newRs, stableRs);
  const expected = Math.max(0, MAX_TRAFFIC_WEIGHT - Math.floor((MAX_TRAFFIC_WEIGHT * stableRs.availableReplicas) / replicas));
  const current = rollout.status?.canary?.weights?.canary.weight;
  if (current === undefined) return Math.max(expected, desired);
  if (desired <= 0) return Math.min(expected, current);
  const stableWeight = Math.floor((MAX_TRAFFIC_WEIGHT * stableRs.availableReplicas) / replicas);
  if (stableWeight < MAX_TRAFFIC_WEIGHT - desired) return current;
  return Math.min(desired, current);
}

/**
 * The weight the router should send to the canary this reconcile
 * (reconcileTrafficRouting's decision), and the canary hash it applies to;
 * undefined while the stable lacks the pods to take the rest.
 */
/**
 * IsDynamicallyRollingBackToStable: a dynamicStableScale canary sent back to
 * its stable template before the update ended — the stable ReplicaSet was
 * trimmed and is not yet at full size, so traffic stays on the previous
 * canary meanwhile.
 */
export function dynamicallyRollingBack(rollout: Rollout, newRs: ReplicaSetState | undefined, hash: string): boolean {
  const status = rollout.status ?? {};
  const canary = rollout.spec.strategy?.canary;
  const previous = status.canary?.weights;
  const fullyPromoted = Boolean(status.stableRS) && status.stableRS === status.currentPodHash;
  return fullyPromoted && Boolean(canary?.trafficRouting) && Boolean(canary?.dynamicStableScale) && Boolean(previous) &&
    previous!.canary.podTemplateHash !== hash && (newRs?.availableReplicas ?? 0) < (rollout.spec.replicas ?? 1);
}

export function routedWeight(args: {
  rollout: Rollout;
  newRs: ReplicaSetState | undefined;
  stableRs: ReplicaSetState | undefined;
  others: ReplicaSetState[];
  hash: string;
}): { weight: number; canaryHash?: string } | undefined {
  const { rollout, newRs, stableRs } = args;
  const status = rollout.status ?? {};
  const canary = rollout.spec.strategy!.canary!;
  const replicas = rollout.spec.replicas ?? 1;
  const fullyPromoted = Boolean(status.stableRS) && status.stableRS === status.currentPodHash;
  const previous = status.canary?.weights;
  let weight = 0;
  let canaryHash = newRs?.hash;
  if (dynamicallyRollingBack(rollout, newRs, args.hash)) {
    weight = weightOnAbortOrRollback(rollout, newRs, stableRs);
    canaryHash = previous!.canary.podTemplateHash;
  } else if (fullyPromoted) {
    weight = 0;
  } else if (status.abort) {
    weight = weightOnAbortOrRollback(rollout, newRs, stableRs);
  } else if (!newRs || newRs.availableReplicas === 0) {
    weight = 0;
  } else if (status.promoteFull) {
    if (canary.dynamicStableScale) weight = Math.floor((MAX_TRAFFIC_WEIGHT * newRs.availableReplicas) / replicas);
    else weight = previous?.canary.weight ?? 0;
  } else {
    const steps = canary.steps ?? [];
    const index = status.currentStepIndex ?? (steps.length > 0 ? 0 : undefined);
    if (index !== undefined) {
      if (!atDesiredRoutedCounts(rollout, newRs, stableRs, previous)) {
        // Not ready for the new weight: keep the previous setWeight.
        for (let i = index - 1; i >= 0; i--) {
          if (steps[i].setWeight !== undefined) {
            weight = steps[i].setWeight!;
            break;
          }
        }
      } else if (index !== steps.length) {
        weight = currentSetWeight(rollout);
      } else {
        weight = MAX_TRAFFIC_WEIGHT;
      }
    }
  }
  // checkReplicasAvailable: the stable must have the pods for its share.
  if (!stableRs) return undefined;
  const stableNeeds = Math.floor(((MAX_TRAFFIC_WEIGHT - weight) * replicas) / MAX_TRAFFIC_WEIGHT);
  if (stableRs.availableReplicas < stableNeeds) return undefined;
  return { weight, canaryHash };
}
