import { createHash } from 'node:crypto';
import type { Rollout } from '@quarterdeck/plugin-argo-common';
import type { KubeObject } from '@quarterdeck/plugin-argo-node';
import { REVISION_ANNOTATION } from '../objects';
import { displayedRolloutPhase } from '../phase';

/*
 * What about a Rollout is worth telling its team, decided from the Rollout
 * alone (observed or reconciled, so the same for a real Argo controller's
 * objects): it waits for someone to promote it, its update was aborted or
 * stopped progressing, or an update finished. These are Argo Rollouts' own
 * notification triggers (on-rollout-paused, on-rollout-aborted,
 * on-rollout-completed) narrowed to what needs a person or closes what they
 * were told: a timed pause ends by itself, a manual pause was made by the one
 * who will end it.
 */

export type RolloutNoticeKind = 'awaiting-promotion' | 'aborted' | 'degraded' | 'completed';

export interface RolloutNotice {
  kind: RolloutNoticeKind;
  /** The state told of: a Rollout is told of each state once (the same step of the same revision is one state). */
  key: string;
  title: string;
  description: string;
  severity: 'high' | 'normal' | 'low';
}

type RolloutObject = Rollout & KubeObject;

/** The Rollout, with its cluster: a team with the same service on staging and prod is told of each apart. */
const where = (rollout: RolloutObject, cluster?: string) =>
  `Rollout ${rollout.metadata.namespace}/${rollout.metadata.name}${cluster ? ` on cluster ${cluster}` : ''}`;

/** The Rollout's revision (Argo's `rollout.argoproj.io/revision` annotation), as words. */
function revisionOf(rollout: RolloutObject): string {
  const revision = rollout.metadata.annotations?.[REVISION_ANNOTATION];
  return revision ? `revision ${revision}, the version its spec names,` : 'the version its spec names';
}

/** Argo's phase message, e.g. `RolloutAborted: Metric "error-rate" assessed Failed …`, as a sentence. */
function reasonOf(message: string): string {
  if (!message) return '';
  return /[.!?]$/.test(message) ? `${message} ` : `${message}. `;
}

/** Why the Rollout waits for a person, if it does: an indefinite pause step, a blue-green pause, an inconclusive analysis. */
function awaitingPromotion(rollout: RolloutObject, cluster?: string): { reason: string; title: string; description: string } | undefined {
  const status = rollout.status ?? {};
  const reasons = new Set((status.pauseConditions ?? []).map(c => c.reason));
  const canary = rollout.spec.strategy?.canary;
  const blueGreen = rollout.spec.strategy?.blueGreen;
  if (reasons.has('InconclusiveAnalysisRun')) {
    return {
      reason: 'InconclusiveAnalysisRun',
      title: 'analysis inconclusive',
      description: `An analysis of ${where(rollout, cluster)} was inconclusive, so the update is paused for a person to decide.`,
    };
  }
  if (canary && reasons.has('CanaryPauseStep')) {
    const steps = canary.steps ?? [];
    const index = status.currentStepIndex ?? 0;
    // A pause with a duration resumes by itself.
    if (steps[index]?.pause?.duration !== undefined) return undefined;
    return {
      reason: 'CanaryPauseStep',
      title: `waits for promotion at step ${index + 1} of ${steps.length}`,
      description: `The canary of ${where(rollout, cluster)} reached its pause step ${index + 1} of ${steps.length}.`,
    };
  }
  if (blueGreen && reasons.has('BlueGreenPause')) {
    // Unless auto-promotion is off, the pause ends by itself (after autoPromotionSeconds); with it off,
    // autoPromotionSeconds is ignored, as Argo documents, and only a person ends it.
    if (blueGreen.autoPromotionEnabled !== false) return undefined;
    const preview = blueGreen.previewService ? ` behind ${blueGreen.previewService}` : '';
    return {
      reason: 'BlueGreenPause',
      title: 'waits for promotion',
      description: `The new version of ${where(rollout, cluster)} is up${preview}; ${blueGreen.activeService} still serves the stable one.`,
    };
  }
  return undefined;
}

/** The notice a Rollout's current state calls for, if any. */
export function rolloutNotice(rollout: RolloutObject, cluster?: string): RolloutNotice | undefined {
  const status = rollout.status ?? {};
  const name = rollout.metadata.name!;
  const hash = status.currentPodHash;
  if (!hash) return undefined;
  const { phase, message } = displayedRolloutPhase(rollout);
  // Until the controller has looked at the current spec, its status describes the one before.
  if (message === 'waiting for rollout spec update to be observed') return undefined;
  // An abort is told once the controller has acted on it (the RolloutAborted condition, with its
  // reason, and abortedAt): the action itself only sets `abort`, under the status of before.
  const abortedCondition = (status.conditions ?? []).find(c => c.type === 'Progressing' && c.reason === 'RolloutAborted');
  if (status.abort) {
    if (!abortedCondition) return undefined;
    return {
      kind: 'aborted',
      key: `aborted:${hash}:${status.abortedAt ?? ''}`,
      title: `${name}: update aborted`,
      description: `The update of ${where(rollout, cluster)} was aborted and the stable version serves all traffic. ${reasonOf(abortedCondition.message ?? '')}Retry it, or change the spec, on the Rollouts tab.`,
      severity: 'high',
    };
  }
  // A retry clears `abort` before the controller clears the aborted phase: not a new failure.
  if (phase === 'Degraded' && !message.startsWith('RolloutAborted')) {
    return {
      kind: 'degraded',
      // The message's digest: a key holds at most 1,024 characters, and an InvalidSpec message can be longer.
      key: `degraded:${hash}:${createHash('sha256').update(message).digest('hex').slice(0, 32)}`,
      title: `${name}: update stopped`,
      description: `The update of ${where(rollout, cluster)} is Degraded. ${reasonOf(message)}`,
      severity: 'high',
    };
  }
  if (rollout.spec.paused) return undefined;
  const awaiting = awaitingPromotion(rollout, cluster);
  if (awaiting) {
    return {
      kind: 'awaiting-promotion',
      // With the pause's start: a second inconclusive run at the same step (after a promotion made a new one) is news too.
      key: `awaiting-promotion:${hash}:${status.currentStepIndex ?? ''}:${awaiting.reason}:${(status.pauseConditions ?? []).find(p => p.reason === awaiting.reason)?.startTime ?? ''}`,
      title: `${name}: ${awaiting.title}`,
      description: `${awaiting.description} Promote or abort it on the Rollouts tab.`,
      severity: 'normal',
    };
  }
  if (phase === 'Healthy' && status.stableRS === hash) {
    return {
      kind: 'completed',
      key: `completed:${hash}`,
      title: `${name}: update complete`,
      // Also after going back to the stable template (a revert after an abort), as Argo's on-rollout-completed
      // fires then too: so the version is named by its revision, not called new.
      description: `${where(rollout, cluster)} is fully promoted: ${revisionOf(rollout)} is stable and serves all traffic.`,
      severity: 'low',
    };
  }
  return undefined;
}
