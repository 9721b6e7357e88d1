import type { RolloutSpec, RolloutStatus } from '@quarterdeck/plugin-argo-common';

export type RolloutPhase = 'Healthy' | 'Progressing' | 'Paused' | 'Degraded';

type AnalysisRunRef = { status?: string } | undefined;
const COMPLETED_RUN = new Set(['Successful', 'Failed', 'Error', 'Inconclusive']);

/**
 * `status.phase` and `status.message` as Argo Rollouts' controller computes
 * them (CalculateRolloutPhase), branch by branch and in the same order.
 */
export function calculateRolloutPhase(spec: RolloutSpec, status: RolloutStatus): { phase: RolloutPhase; message: string } {
  for (const cond of status.conditions ?? []) {
    if (cond.type === 'InvalidSpec') return { phase: 'Degraded', message: `InvalidSpec: ${cond.message ?? ''}` };
    if (cond.reason === 'RolloutAborted' || cond.reason === 'ProgressDeadlineExceeded') {
      return { phase: 'Degraded', message: `${cond.reason}: ${cond.message ?? ''}` };
    }
  }
  if (spec.paused) return { phase: 'Paused', message: 'manually paused' };
  const firstPause = (status.pauseConditions ?? [])[0];
  if (firstPause) return { phase: 'Paused', message: firstPause.reason };
  if (spec.restartAt && (!status.restartedAt || Date.parse(spec.restartAt) !== Date.parse(status.restartedAt))) {
    return { phase: 'Progressing', message: 'rollout is restarting' };
  }
  const replicas = spec.replicas ?? 1;
  if ((status.updatedReplicas ?? 0) < replicas) return { phase: 'Progressing', message: 'more replicas need to be updated' };
  if ((status.availableReplicas ?? 0) < (status.updatedReplicas ?? 0)) {
    return { phase: 'Progressing', message: 'updated replicas are still becoming available' };
  }
  const blueGreen = spec.strategy?.blueGreen;
  if (blueGreen) {
    const active = status.blueGreen?.activeSelector;
    if (!active || active !== status.currentPodHash) return { phase: 'Progressing', message: 'active service cutover pending' };
    if (!status.stableRS || status.stableRS !== status.currentPodHash) {
      const post = status.blueGreen?.postPromotionAnalysisRunStatus as AnalysisRunRef;
      if (blueGreen.postPromotionAnalysis && (!post || !COMPLETED_RUN.has(post.status ?? ''))) {
        return { phase: 'Progressing', message: 'waiting for analysis to complete' };
      }
      return { phase: 'Progressing', message: 'waiting for post-promotion verification to complete' };
    }
  } else if (spec.strategy?.canary) {
    if (!spec.strategy.canary.trafficRouting && (status.replicas ?? 0) > (status.updatedReplicas ?? 0)) {
      return { phase: 'Progressing', message: 'old replicas are pending termination' };
    }
    if (!status.stableRS || status.stableRS !== status.currentPodHash) {
      return { phase: 'Progressing', message: 'waiting for all steps to complete' };
    }
  }
  return { phase: 'Healthy', message: '' };
}

/**
 * The phase a client shows (GetRolloutPhase): a spec change the controller
 * has not observed yet, or a resume it has not acted on, is Progressing;
 * otherwise the controller's phase. `observedGeneration` is a string.
 */
export function displayedRolloutPhase(
  rollout: { metadata: { generation?: number }; spec: RolloutSpec; status?: RolloutStatus },
): { phase: RolloutPhase; message: string } {
  const status = rollout.status ?? {};
  const observed = Number.parseInt(status.observedGeneration ?? '', 10);
  const generation = rollout.metadata.generation ?? 0;
  const generationObserved = Number.isNaN(observed) || observed >= generation;
  if (!generationObserved) return { phase: 'Progressing', message: 'waiting for rollout spec update to be observed' };
  if (status.controllerPause && (status.pauseConditions ?? []).length === 0) {
    return { phase: 'Progressing', message: 'waiting for rollout to unpause' };
  }
  if (status.phase) return { phase: status.phase, message: status.message ?? '' };
  return calculateRolloutPhase(rollout.spec, status);
}
