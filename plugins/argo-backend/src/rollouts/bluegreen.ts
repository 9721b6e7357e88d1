import type { Rollout, RolloutAnalysis, RolloutStatus } from '@quarterdeck/plugin-argo-common';
import {
  newAnalysisRunName,
  newRevision,
  runStatusRef,
  currentTemplateHash,
  type AnalysisRunState,
  type ReplicaSetState,
  type RolloutDecision,
  type RunStatusRef,
  type ServiceState,
} from './objects';
import { abortedReplicas, cleanupRevisionHistory, DEFAULT_SCALE_DOWN_DELAY_SECONDS, scaleDownOldReplicaSets, waitingForScaleDown } from './scaleDown';
import { baseStatus, finishStatus, formatSelector, formatTime, PauseContext, PAUSE_REASON, pausedConditions } from './status';

/**
 * The blue-green strategy as Argo Rollouts runs it (rollout/bluegreen.go,
 * service.go, analysis.go): the new ReplicaSet comes up beside the active
 * one behind the preview Service; once it is ready (and pre-promotion
 * analysis passed, and the pause ended) the active Service's selector
 * switches to it; post-promotion analysis then decides whether it becomes
 * stable; the old ReplicaSet stays up for scaleDownDelaySeconds.
 */

export interface BlueGreenContext {
  rollout: Rollout;
  replicaSets: ReplicaSetState[];
  services: { active: ServiceState; preview?: ServiceState };
  /** The AnalysisRuns the Rollout owns. */
  analysisRuns: AnalysisRunState[];
  now: Date;
}

/** DefaultAbortScaleDownDelaySeconds; undefined means "never" (an explicit 0). */
function abortScaleDownDelaySeconds(rollout: Rollout): number | undefined {
  const explicit = rollout.spec.strategy?.blueGreen?.abortScaleDownDelaySeconds;
  if (explicit === 0) return undefined;
  return explicit ?? DEFAULT_SCALE_DOWN_DELAY_SECONDS;
}

const ref = (value: unknown) => value as RunStatusRef | undefined;

export function reconcileBlueGreen(ctx: BlueGreenContext): RolloutDecision {
  const { rollout, now } = ctx;
  const nowText = formatTime(now);
  const spec = rollout.spec.strategy!.blueGreen!;
  const old: RolloutStatus = rollout.status ?? {};
  const oldBlueGreen = old.blueGreen ?? {};
  const replicas = rollout.spec.replicas ?? 1;
  const hash = currentTemplateHash(rollout, ctx.replicaSets);
  const pause = new PauseContext(old);
  const decision: RolloutDecision = { scale: [], annotate: [], switchServices: [], createAnalysis: [], keepAnalysis: [], delete: [], status: {} };
  const requeue = (ms: number) => {
    decision.requeueAfterMs = Math.min(decision.requeueAfterMs ?? Infinity, Math.max(0, ms) + 1);
  };

  let newRs = ctx.replicaSets.find(rs => rs.hash === hash);
  const revision = newRevision(ctx.replicaSets, newRs);
  if (!newRs) {
    decision.create = { name: `${rollout.metadata.name}-${hash}`, hash, revision };
    newRs = { name: decision.create.name, hash, revision, specReplicas: 0, replicas: 0, availableReplicas: 0, readyReplicas: 0, createdAt: nowText };
  } else if (newRs.revision < revision) {
    decision.revise = { name: newRs.name, revision };
  }
  const allRs = decision.create ? [...ctx.replicaSets, newRs] : ctx.replicaSets;
  const stableRs = allRs.find(rs => rs.hash === old.stableRS);
  const others = allRs.filter(rs => rs !== newRs && rs !== stableRs);
  const runs = new Map(ctx.analysisRuns.map(r => [r.name, r]));
  const preRef = ref(oldBlueGreen.prePromotionAnalysisRunStatus);
  const postRef = ref(oldBlueGreen.postPromotionAnalysisRunStatus);
  const currentPre = preRef ? runs.get(preRef.name) : undefined;
  const currentPost = postRef ? runs.get(postRef.name) : undefined;

  let activeHash = ctx.services.active.selectorHash;
  let previewHash = ctx.services.preview?.selectorHash;
  const switchService = (service: ServiceState, to: string | undefined) => {
    if (!to || service.selectorHash === to) return;
    decision.switchServices.push({ name: service.name, hash: to });
  };
  const halted = Boolean(rollout.spec.paused) || Boolean(pause.pauseCondition(PAUSE_REASON.inconclusiveAnalysis));
  const deadlinePassed = (rs: ReplicaSetState) => !rs.scaleDownDeadline || Date.parse(rs.scaleDownDeadline) <= now.getTime();

  // isFastRollback: back to stable, or to an older ReplicaSet still within its scale-down delay.
  const isRollback = Boolean(stableRs) && (old.stableRS === hash || Date.parse(newRs.createdAt) < Date.parse(stableRs!.createdAt));
  const fastRollback = isRollback && (old.stableRS === hash || !deadlinePassed(newRs));
  const aborted = () => pause.isAborted();

  // NewRSNewReplicas: previewReplicaCount until the switch.
  const desiredNewReplicas = (): number => {
    if (spec.previewReplicaCount === undefined) return replicas;
    const activeRs = allRs.find(rs => rs.hash === oldBlueGreen.activeSelector);
    if (!activeRs || activeRs === newRs || old.promoteFull) return replicas;
    if (hash !== old.currentPodHash) return spec.previewReplicaCount;
    const notPaused = !rollout.spec.paused && (old.pauseConditions ?? []).length === 0;
    if (notPaused && oldBlueGreen.scaleUpPreviewCheckPoint) return replicas;
    return spec.previewReplicaCount;
  };
  const readyForPause = () => newRs!.specReplicas === desiredNewReplicas() && newRs!.availableReplicas === desiredNewReplicas();
  const saturated = (rs: ReplicaSetState | undefined) => Boolean(rs) && rs!.specReplicas === replicas && rs!.availableReplicas === replicas;
  const completedPrePromotion = () => !spec.prePromotionAnalysis || currentPre?.phase === 'Successful';
  const completedPause = (): boolean => {
    const cond = pause.pauseCondition(PAUSE_REASON.blueGreenPause);
    if (pause.hasAddedPause()) return false;
    if (oldBlueGreen.scaleUpPreviewCheckPoint) return true;
    if (spec.autoPromotionEnabled === undefined || spec.autoPromotionEnabled) {
      const seconds = spec.autoPromotionSeconds ?? 0;
      if (seconds === 0) return true;
      if (cond) return now.getTime() > Date.parse(cond.startTime) + seconds * 1000;
      return false;
    }
    return Boolean(old.controllerPause) && !cond;
  };
  const fastTracked = () => fastRollback || Boolean(old.promoteFull) || !activeHash || activeHash === hash;

  // The preview Service follows the new ReplicaSet at once.
  if (ctx.services.preview && !halted) {
    switchService(ctx.services.preview, hash);
    previewHash = hash;
  }

  const podSpecChanged = Boolean(old.currentPodHash) && old.currentPodHash !== hash;
  if (!podSpecChanged) {
    // ReplicaSets: deadlines off the new and stable ones, stable at full size, the new one to its size.
    const abortDelay = abortScaleDownDelaySeconds(rollout);
    const delayOnAbort = aborted() && Boolean(stableRs) && abortDelay !== undefined;
    for (const rs of [...(delayOnAbort ? [] : [newRs]), ...(stableRs && stableRs !== newRs ? [stableRs] : [])]) {
      if (rs.scaleDownDeadline) decision.annotate.push({ name: rs.name, scaleDownDeadline: null });
    }
    if (stableRs && stableRs.specReplicas !== replicas) decision.scale.push({ name: stableRs.name, replicas });
    let newCount: number | undefined = desiredNewReplicas();
    if (delayOnAbort && newRs !== stableRs) {
      newCount = abortedReplicas({ newRs, stableRs: stableRs!, replicas, delaySeconds: abortDelay!, now, decision, requeue });
    }
    if (newCount !== undefined && newRs.specReplicas !== newCount && newRs !== stableRs) decision.scale.push({ name: newRs.name, replicas: newCount });

    // Old ReplicaSets go down after the scale-down delay, unless something still refers to them.
    const postBlocks = Boolean(spec.postPromotionAnalysis) && spec.scaleDownDelaySeconds === undefined &&
      !skipPostPromotion(rollout, hash, activeHash, currentPost, newRs, saturated) && currentPost?.phase !== 'Successful';
    if (!pause.pauseCondition(PAUSE_REASON.inconclusiveAnalysis) && !postBlocks) {
      const referenced = new Set([old.stableRS, old.currentPodHash, activeHash, previewHash, oldBlueGreen.activeSelector, oldBlueGreen.previewSelector].filter(Boolean));
      scaleDownOldReplicaSets({
        rollout, others, referenced, now, replicas,
        delaySeconds: spec.scaleDownDelaySeconds ?? DEFAULT_SCALE_DOWN_DELAY_SECONDS,
        revisionLimit: (spec as { scaleDownDelayRevisionLimit?: number }).scaleDownDelayRevisionLimit,
        decision, requeue,
      });
    }
    decision.delete.push(...cleanupRevisionHistory(rollout, others));

    // The pause before the switch (reconcileBlueGreenPause).
    if (!aborted() && readyForPause() && !halted) {
      const needsControllerPause = spec.autoPromotionEnabled === false || (spec.autoPromotionSeconds ?? 0) > 0;
      if (fastTracked() || activeHash === hash || oldBlueGreen.scaleUpPreviewCheckPoint || !needsControllerPause) {
        pause.removePause(PAUSE_REASON.blueGreenPause);
      } else if (completedPrePromotion()) {
        const cond = pause.pauseCondition(PAUSE_REASON.blueGreenPause);
        if (cond) {
          if (completedPause()) pause.removePause(PAUSE_REASON.blueGreenPause);
          else if ((spec.autoPromotionSeconds ?? 0) > 0) requeue(Date.parse(cond.startTime) + spec.autoPromotionSeconds! * 1000 - now.getTime());
        } else if (!old.controllerPause) {
          pause.addPause(PAUSE_REASON.blueGreenPause);
        }
      }
    }

    // The switch (reconcileActiveService).
    if (!halted && readyForPause() && saturated(newRs)) {
      let target = activeHash;
      if (fastTracked()) target = hash;
      if (completedPause() && completedPrePromotion()) target = hash;
      if (aborted()) target = old.stableRS;
      switchService(ctx.services.active, target);
      if (target) activeHash = target;
    }
  }

  // Analysis (reconcileAnalysisRuns).
  let preStatus = preRef;
  let postStatus = postRef;
  const fullyPromoted = Boolean(old.stableRS) && old.stableRS === old.currentPodHash;
  const cancelAll = fullyPromoted || aborted() || Boolean(old.promoteFull) || fastRollback || !old.stableRS;
  if (!cancelAll && !podSpecChanged) {
    const needsNew = (run: AnalysisRunState | undefined) => {
      if (!run) return true;
      if (old.controllerPause && !pause.pauseCondition(PAUSE_REASON.canaryPauseStep) && !pause.pauseCondition(PAUSE_REASON.blueGreenPause)) {
        return run.phase === 'Inconclusive';
      }
      return Boolean(old.abortedAt);
    };
    const reconcileRun = (
      analysis: RolloutAnalysis | undefined,
      current: AnalysisRunState | undefined,
      currentRef: RunStatusRef | undefined,
      skip: boolean,
      kind: 'PrePromotion' | 'PostPromotion',
    ): RunStatusRef | undefined => {
      if (!analysis || (analysis.templates ?? []).length === 0) return undefined;
      if (skip) return currentRef;
      if (pause.pauseCondition(PAUSE_REASON.inconclusiveAnalysis)) {
        if (current) decision.keepAnalysis.push(current.name);
        return currentRef;
      }
      if (needsNew(current)) {
        const name = newAnalysisRunName(rollout, hash, revision, kind === 'PrePromotion' ? 'pre' : 'post', runs.keys());
        decision.createAnalysis.push({ name, kind });
        decision.keepAnalysis.push(name);
        return runStatusRef(name, undefined);
      }
      decision.keepAnalysis.push(current!.name);
      if (current!.phase === 'Inconclusive') pause.addPause(PAUSE_REASON.inconclusiveAnalysis);
      if (current!.phase === 'Failed' || current!.phase === 'Error') {
        pause.abort(`Blue/green ${kind === 'PrePromotion' ? 'pre' : 'post'}-promotion analysis phase error/failed${current!.message ? `: ${current!.message}` : ''}`);
      }
      return runStatusRef(current!.name, current);
    };
    const skipPre = hash === old.stableRS || !oldBlueGreen.activeSelector || oldBlueGreen.activeSelector === hash ||
      (!currentPre && (spec.previewReplicaCount !== undefined
        ? newRs.specReplicas !== spec.previewReplicaCount || newRs.availableReplicas !== spec.previewReplicaCount
        : !saturated(newRs)));
    preStatus = reconcileRun(spec.prePromotionAnalysis, currentPre, preRef, skipPre, 'PrePromotion');
    postStatus = reconcileRun(spec.postPromotionAnalysis, currentPost, postRef,
      skipPostPromotion(rollout, hash, oldBlueGreen.activeSelector, currentPost, newRs, saturated), 'PostPromotion');
  } else if (podSpecChanged) {
    preStatus = undefined;
    postStatus = undefined;
  }

  // Status (syncRolloutStatusBlueGreen).
  const status = baseStatus(rollout, allRs, newRs, hash, pausedConditions(rollout, nowText));
  status.stableRS = old.stableRS;
  let scaleUpPreviewCheckPoint = oldBlueGreen.scaleUpPreviewCheckPoint;
  if (podSpecChanged) {
    pause.clear();
    pause.removeAbort();
    if (rollout.spec.restartAt) status.restartedAt = rollout.spec.restartAt;
    status.promoteFull = undefined;
    scaleUpPreviewCheckPoint = undefined;
  }
  if (old.promoteFull) {
    pause.clear();
    pause.removeAbort();
  }
  const withRef = (r: RunStatusRef | undefined) => {
    if (!r) return undefined;
    const run = runs.get(r.name);
    return run ? runStatusRef(r.name, run) : r;
  };
  status.blueGreen = {
    ...(previewHash ? { previewSelector: previewHash } : {}),
    ...(activeHash ? { activeSelector: activeHash } : {}),
    ...(withRef(preStatus) ? { prePromotionAnalysisRunStatus: withRef(preStatus) } : {}),
    ...(withRef(postStatus) ? { postPromotionAnalysisRunStatus: withRef(postStatus) } : {}),
  };

  let promoteReason = '';
  if (!stableRs || !activeHash) promoteReason = 'Initial deploy';
  else if (activeHash !== hash) promoteReason = '';
  else if (old.promoteFull) promoteReason = 'Full promotion requested';
  else if (fastRollback) promoteReason = 'Fast rollback';
  else if (aborted()) promoteReason = '';
  else if (spec.postPromotionAnalysis && currentPost?.phase !== 'Successful') promoteReason = '';
  else promoteReason = 'Completed blue-green update';
  if (promoteReason) {
    pause.clear();
    pause.removeAbort();
    status.promoteFull = undefined;
    scaleUpPreviewCheckPoint = undefined;
    status.stableRS = hash;
  } else if (spec.previewReplicaCount !== undefined && !scaleUpPreviewCheckPoint) {
    scaleUpPreviewCheckPoint = completedPrePromotion() && completedPause() && newRs.availableReplicas === spec.previewReplicaCount;
  }
  if (spec.previewReplicaCount === undefined) scaleUpPreviewCheckPoint = undefined;
  if (scaleUpPreviewCheckPoint) status.blueGreen.scaleUpPreviewCheckPoint = true;

  const activeRs = allRs.find(rs => rs.hash === activeHash);
  if (activeRs) {
    status.HPAReplicas = activeRs.replicas;
    status.availableReplicas = activeRs.availableReplicas;
    status.readyReplicas = activeRs.readyReplicas;
    status.selector = formatSelector({ ...(rollout.spec.selector?.matchLabels ?? {}), 'rollouts-pod-template-hash': activeRs.hash });
  }

  const pausedTrue = (status.conditions ?? []).some(c => c.type === 'Paused' && c.status === 'True');
  const { requeueAfterMs } = finishStatus(status, {
    rollout,
    pause,
    now,
    revision,
    newRsName: newRs.name,
    createdRsName: decision.create?.name,
    available: saturated(activeRs),
    indefiniteStep: pausedTrue,
    waitingForScaleDown: waitingForScaleDown(others),
  });
  if (requeueAfterMs !== undefined) requeue(requeueAfterMs - 1);
  if (cancelAll) decision.keepAnalysis = [];
  decision.status = status;
  return decision;
}

/** skipPostPromotionAnalysisRun. */
function skipPostPromotion(
  rollout: Rollout,
  hash: string,
  activeSelector: string | undefined,
  current: AnalysisRunState | undefined,
  newRs: ReplicaSetState,
  saturated: (rs: ReplicaSetState) => boolean,
): boolean {
  if (rollout.status?.stableRS === hash || activeSelector !== hash) return true;
  if (current) return false;
  return !saturated(newRs);
}
