import type { Rollout } from '@quarterdeck/plugin-argo-common';
import type { ReplicaSetState, RolloutDecision } from './objects';
import { formatTime } from './status';

/** Argo's DefaultScaleDownDelaySeconds (and DefaultAbortScaleDownDelaySeconds). */
export const DEFAULT_SCALE_DOWN_DELAY_SECONDS = 30;
/** Argo's DefaultRevisionHistoryLimit. */
export const DEFAULT_REVISION_HISTORY_LIMIT = 10;

/**
 * scaleDownDelayHelper, one ReplicaSet at a time (newest first): the first
 * `revisionLimit` get a deadline and keep `keep` pods until it passes.
 */
export class ScaleDownDelay {
  private annotated = 0;

  constructor(private readonly args: {
    now: Date;
    delaySeconds: number;
    revisionLimit?: number;
    decision: RolloutDecision;
    requeue: (ms: number) => void;
  }) {}

  desiredReplicas(rs: ReplicaSetState, keep: number): number {
    const { now, decision, requeue, delaySeconds } = this.args;
    const limit = this.args.revisionLimit ?? Number.MAX_SAFE_INTEGER;
    if (!rs.scaleDownDeadline) {
      if (rs.specReplicas > 0 && this.annotated < limit && delaySeconds > 0) {
        this.annotated++;
        decision.annotate.push({ name: rs.name, scaleDownDeadline: formatTime(new Date(now.getTime() + delaySeconds * 1000)) });
        requeue(delaySeconds * 1000);
        return rs.specReplicas;
      }
      return 0;
    }
    this.annotated++;
    const remaining = Date.parse(rs.scaleDownDeadline) - now.getTime();
    if (this.annotated <= limit && remaining > 0) {
      requeue(remaining);
      return keep;
    }
    return 0;
  }
}

/**
 * isWaitingForReplicaSetScaleDown: an old ReplicaSet is still up until its
 * scale-down deadline, so the Rollout is not stuck meanwhile. One already
 * at zero does not count (Argo drops the annotation there; we leave it).
 */
export function waitingForScaleDown(others: ReplicaSetState[]): boolean {
  return others.some(rs => Boolean(rs.scaleDownDeadline) && rs.specReplicas > 0);
}

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
  const delay = new ScaleDownDelay(args);
  for (const rs of [...args.others].sort((a, b) => b.revision - a.revision)) {
    if (args.referenced.has(rs.hash) || rs.specReplicas === 0) continue;
    const desired = delay.desiredReplicas(rs, args.replicas);
    if (desired !== rs.specReplicas) args.decision.scale.push({ name: rs.name, replicas: desired });
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

/**
 * The new ReplicaSet's size after an abort with a delay (reconcileNewReplicaSet
 * with shouldDelayScaleDownOnAbort): it stays up until the stable one is
 * whole again, then gets a `scale-down-deadline`, then goes to zero.
 * Undefined: leave its size alone for now.
 */
export function abortedReplicas(args: {
  newRs: ReplicaSetState;
  stableRs: ReplicaSetState;
  replicas: number;
  delaySeconds: number;
  now: Date;
  decision: RolloutDecision;
  requeue: (ms: number) => void;
}): number | undefined {
  const { newRs, stableRs, now, decision, requeue } = args;
  if (newRs.scaleDownDeadline) {
    const remaining = Date.parse(newRs.scaleDownDeadline) - now.getTime();
    if (remaining <= 0) return 0;
    requeue(remaining);
    return undefined;
  }
  if (stableRs.availableReplicas >= args.replicas) {
    decision.annotate.push({ name: newRs.name, scaleDownDeadline: formatTime(new Date(now.getTime() + args.delaySeconds * 1000)) });
    requeue(args.delaySeconds * 1000);
  }
  return undefined;
}
