import type { Rollout } from '@quarterdeck/plugin-argo-common';
import type { ReplicaSetState, RolloutDecision } from './objects';
import { formatTime } from './status';

/** Argo's DefaultScaleDownDelaySeconds (and DefaultAbortScaleDownDelaySeconds). */
export const DEFAULT_SCALE_DOWN_DELAY_SECONDS = 30;
/** Argo's DefaultRevisionHistoryLimit. */
export const DEFAULT_REVISION_HISTORY_LIMIT = 10;

/**
 * Old ReplicaSets after a switch (scaleDownOldReplicaSetsForBlueGreen with
 * scaleDownDelayHelper): each gets a `scale-down-deadline` first and keeps
 * the Rollout's size until then, so a rollback within the delay is instant;
 * beyond scaleDownDelayRevisionLimit they go down at once. Ones a Service or
 * the status still points at are left alone.
 */
export function scaleDownOldReplicaSets(args: {
  rollout: Rollout;
  others: ReplicaSetState[];
  referenced: Set<string | undefined>;
  now: Date;
  replicas: number;
  delaySeconds: number;
  revisionLimit?: number;
  decision: RolloutDecision;
  requeue: (ms: number) => void;
}) {
  const { now, decision, requeue } = args;
  const limit = args.revisionLimit ?? Number.MAX_SAFE_INTEGER;
  let annotated = 0;
  for (const rs of [...args.others].sort((a, b) => b.revision - a.revision)) {
    if (args.referenced.has(rs.hash) || rs.specReplicas === 0) continue;
    let desired = 0;
    if (!rs.scaleDownDeadline) {
      if (annotated < limit && args.delaySeconds > 0) {
        annotated++;
        desired = rs.specReplicas;
        decision.annotate.push({ name: rs.name, scaleDownDeadline: formatTime(new Date(now.getTime() + args.delaySeconds * 1000)) });
        requeue(args.delaySeconds * 1000);
      }
    } else {
      annotated++;
      const remaining = Date.parse(rs.scaleDownDeadline) - now.getTime();
      if (annotated <= limit && remaining > 0) {
        desired = args.replicas;
        requeue(remaining);
      }
    }
    if (desired !== rs.specReplicas) decision.scale.push({ name: rs.name, replicas: desired });
  }
}

/**
 * reconcileRevisionHistoryLimit: of the old ReplicaSets, the oldest beyond
 * revisionHistoryLimit are deleted, provided they have no pods left.
 */
export function cleanupRevisionHistory(rollout: Rollout, others: ReplicaSetState[]): string[] {
  const limit = rollout.spec.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT;
  const excess = others.length - limit;
  if (excess <= 0) return [];
  return [...others]
    .sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || a.revision - b.revision)
    .slice(0, excess)
    .filter(rs => rs.specReplicas === 0 && rs.replicas === 0)
    .map(rs => rs.name);
}
