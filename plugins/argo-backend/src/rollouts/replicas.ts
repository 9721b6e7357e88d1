import type { IntOrString, RolloutSpec } from '@quarterdeck/plugin-argo-common';

/**
 * Replica arithmetic of Argo Rollouts' canary without a traffic router
 * (utils/replicaset/canary.go): the weight a step asks for becomes a ratio of
 * canary to stable pods, within maxSurge and maxUnavailable.
 */

/**
 * Resolves an int-or-percent the way Argo does (the deprecated
 * GetValueFromIntOrPercent): every string is a percentage, with or without
 * `%`, so `"3"` means 3 %, not 3 pods; numbers are pods.
 */
export function intOrPercent(value: IntOrString | undefined, total: number, roundUp: boolean): number {
  if (value === undefined) return 0;
  if (typeof value === 'number') return value;
  const percent = Number.parseInt(value.replace(/%$/, ''), 10);
  if (Number.isNaN(percent)) throw new Error(`invalid value for IntOrString: invalid value "${value}"`);
  const exact = (percent * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** Argo's default for both: the string "25" (a percentage). */
export const DEFAULT_MAX_SURGE: IntOrString = '25';
export const DEFAULT_MAX_UNAVAILABLE: IntOrString = '25';

/** maxSurge and maxUnavailable in pods (resolveFenceposts): never both zero. */
export function canaryFenceposts(spec: RolloutSpec): { maxSurge: number; maxUnavailable: number } {
  const replicas = spec.replicas ?? 1;
  const canary = spec.strategy?.canary;
  const surge = intOrPercent(canary?.maxSurge ?? DEFAULT_MAX_SURGE, replicas, true);
  let unavailable = intOrPercent(canary?.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE, replicas, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { maxSurge: surge, maxUnavailable: replicas === 0 ? 0 : Math.min(unavailable, replicas) };
}

/**
 * The canary/stable split closest to `weight` of `maxWeight`
 * (approximateWeightedCanaryStableReplicaCounts). With surge, the two may
 * sum to replicas + 1. When no candidate qualifies (e.g. 2 replicas at 75 %
 * without surge) Argo answers 0 canary pods, and so does this.
 */
export function weightedCanaryStableCounts(
  replicas: number,
  weight: number,
  maxWeight: number,
  maxSurge: number,
): { canary: number; stable: number } {
  if (replicas === 0) return { canary: 0, stable: 0 };
  const exact = (replicas * weight) / maxWeight;
  const ceilC = Math.ceil(exact);
  const floorC = Math.floor(exact);
  const tied = (total: number) => {
    const v = total * (weight / maxWeight);
    return Math.abs(v - Math.trunc(v) - 0.5) < 1e-9;
  };
  const zeroAllowed = weight === maxWeight || weight === 0 || (replicas === 1 && maxSurge === 0);
  const options: Array<{ canary: number; total: number }> = [];
  if (ceilC < replicas || zeroAllowed) options.push({ canary: ceilC, total: replicas });
  if (!tied(replicas) && (floorC !== 0 || zeroAllowed)) options.push({ canary: floorC, total: replicas });
  if (maxSurge > 0) {
    options.push({ canary: ceilC, total: replicas + 1 });
    if (!tied(replicas + 1) && (floorC !== 0 || zeroAllowed)) options.push({ canary: floorC, total: replicas + 1 });
  }
  if (options.length === 0) return { canary: 0, stable: replicas };
  let best = options[0];
  let bestDistance = Math.abs((best.canary * maxWeight) / best.total - weight);
  for (const option of options.slice(1)) {
    const distance = Math.abs((option.canary * maxWeight) / option.total - weight);
    if (distance < bestDistance) {
      best = option;
      bestDistance = distance;
    }
  }
  return { canary: best.canary, stable: best.total - best.canary };
}

