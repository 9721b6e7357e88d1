import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { canaryFenceposts, DEFAULT_MAX_UNAVAILABLE, intOrPercent } from './replicas';

/**
 * `spec.restartAt` (rollout/restart.go): pods created before that time are
 * restarted — evicted, and their ReplicaSet makes new ones — a few at a
 * time, keeping at least replicas − max(maxUnavailable, 1) available. When
 * none is left, `status.restartedAt` records it.
 */

export interface PodState {
  name: string;
  createdAt: string;
  available: boolean;
  deleting: boolean;
}

/** Argo checks again after this long while pods remain (restartPodCheckTime). */
export const RESTART_CHECK_MS = 30_000;

/** NeedsRestart: restartAt has passed and is not yet recorded as done. */
export function needsRestart(rollout: Rollout, now: Date): boolean {
  const restartAt = rollout.spec.restartAt;
  if (!restartAt) return false;
  const status = rollout.status?.restartedAt;
  if (status && Date.parse(status) === Date.parse(restartAt)) return false;
  return now.getTime() > Date.parse(restartAt);
}

function maxUnavailable(rollout: Rollout): number {
  const replicas = rollout.spec.replicas ?? 1;
  if (replicas === 0) return 0;
  if (rollout.spec.strategy?.canary) return canaryFenceposts(rollout.spec).maxUnavailable;
  // GetMaxUnavailableOrDefault: a blue-green Rollout without one has Argo's default, 25%, as a canary has.
  const value = (rollout.spec.strategy?.blueGreen as { maxUnavailable?: number | string } | undefined)?.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE;
  return Math.min(intOrPercent(value, replicas, false), replicas);
}

export interface RestartDecision {
  /** Pods to evict now. */
  evict: string[];
  /** Every pod is newer than restartAt: record `status.restartedAt`. */
  done: boolean;
  requeueAfterMs?: number;
}

/** RolloutPodRestarter.Reconcile, as a decision over the Rollout's pods. */
export function planRestart(rollout: Rollout, pods: PodState[], totalReplicas: number): RestartDecision {
  const restartAt = Date.parse(rollout.spec.restartAt!);
  const replicas = rollout.spec.replicas ?? 1;
  const available = pods.filter(p => p.available && !p.deleting).length;
  const concurrent = Math.max(maxUnavailable(rollout), 1);
  let canRestart = available - (Math.max(replicas, totalReplicas) - concurrent);
  const evict: string[] = [];
  let stale = 0;
  for (const pod of [...pods].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt))) {
    if (Date.parse(pod.createdAt) >= restartAt) continue;
    stale++;
    if (canRestart <= 0 || pod.deleting) continue;
    evict.push(pod.name);
    canRestart--;
  }
  // As Argo: done as soon as every stale pod has been evicted.
  if (stale - evict.length !== 0) return { evict, done: false, requeueAfterMs: RESTART_CHECK_MS };
  return { evict, done: true };
}
