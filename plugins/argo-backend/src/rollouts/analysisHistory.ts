import type { AnalysisRun } from '@quarterdeck/plugin-argo-common';
import type { KubeObject } from '@quarterdeck/plugin-argo-node';
import { POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION } from './objects';

/** Argo's defaults for `spec.analysis.successfulRunHistoryLimit` and `unsuccessfulRunHistoryLimit`. */
export const DEFAULT_SUCCESSFUL_RUN_HISTORY_LIMIT = 5;
export const DEFAULT_UNSUCCESSFUL_RUN_HISTORY_LIMIT = 5;

type Run = AnalysisRun & KubeObject;

/**
 * The Rollout's runs that are no longer current and go (argo-rollouts
 * utils/analysis/filter.go FilterAnalysisRunsToDelete): those of a pod
 * template no ReplicaSet of the Rollout has any more (or with no hash label),
 * and, newest first, the successful ones past `successful` and the failed,
 * errored or inconclusive ones past `unsuccessful`. A run still measuring is
 * kept. Without it every release left its step, background and promotion
 * runs — and a job metric's Jobs and pods — until the Rollout was deleted.
 */
export function analysisRunsToDelete(notCurrent: Run[], liveHashes: ReadonlySet<string>, limits: { successful: number; unsuccessful: number }): Run[] {
  // Creation times are whole seconds: runs made in the same second are told apart by the revision they were made for.
  const revision = (run: Run) => Number(run.metadata.annotations?.[REVISION_ANNOTATION] ?? 0) || 0;
  const newestFirst = [...notCurrent].sort((a, b) =>
    Date.parse(b.metadata.creationTimestamp ?? '') - Date.parse(a.metadata.creationTimestamp ?? '') || revision(b) - revision(a));
  let successful = 0;
  let unsuccessful = 0;
  return newestFirst.filter(run => {
    const hash = run.metadata.labels?.[POD_TEMPLATE_HASH_LABEL];
    if (!hash || !liveHashes.has(hash)) return true;
    const phase = run.status?.phase;
    if (phase === 'Successful') return ++successful > limits.successful;
    if (phase === 'Failed' || phase === 'Error' || phase === 'Inconclusive') return ++unsuccessful > limits.unsuccessful;
    return false;
  });
}
