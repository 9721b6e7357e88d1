import type { CanaryStep, Rollout, RolloutStatus } from '@quarterdeck/plugin-argo-common';
import { computePodTemplateHash } from '@quarterdeck/plugin-argo-node';
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
import { pauseDurationSeconds } from '@quarterdeck/plugin-argo-common';
import { canaryFenceposts, weightedCanaryStableCounts } from './replicas';
import { abortedReplicas, cleanupRevisionHistory, DEFAULT_SCALE_DOWN_DELAY_SECONDS, ScaleDownDelay, waitingForScaleDown } from './scaleDown';
import { abortScaleDownDelaySeconds, atDesiredRoutedCounts, dynamicallyRollingBack, MAX_TRAFFIC_WEIGHT, routedCanaryCounts, routedWeight } from './trafficRouting';
import { baseStatus, finishStatus, formatTime, PAUSE_REASON, pausedConditions, type PauseDecisions } from './status';

/**
 * The canary strategy without a traffic router, as Argo Rollouts runs it
 * (rollout/canary.go, rollout/sync.go): a pure decision per reconcile —
 * given the Rollout, its ReplicaSets and the time, what to create, what to
 * scale, and the status to write. One group of ReplicaSets changes per
 * reconcile and at most one step completes, as in Argo.
 */

const MAX_WEIGHT = 100;

export function stepHash(rollout: Rollout): string {
  return computePodTemplateHash(rollout.spec.strategy?.canary?.steps ?? []);
}

/** The most recent setWeight at or before the current step (GetCurrentSetWeight). */
export function currentSetWeight(rollout: Rollout, index: number | undefined): number {
  const status = rollout.status ?? {};
  if (status.promoteFull || !status.stableRS || status.currentPodHash === status.stableRS) return MAX_WEIGHT;
  if (status.abort) return 0;
  const steps = rollout.spec.strategy?.canary?.steps ?? [];
  const i = index ?? 0;
  if (i >= steps.length) return MAX_WEIGHT;
  for (let j = i; j >= 0; j--) {
    if (steps[j].setWeight !== undefined) return steps[j].setWeight!;
  }
  return 0;
}

const sum = (xs: ReplicaSetState[], f: (rs: ReplicaSetState) => number) => xs.reduce((n, rs) => n + f(rs), 0);

/** Desired canary and stable replicas this reconcile (CalculateReplicaCountsForBasicCanary). */
export function basicCanaryCounts(
  rollout: Rollout,
  weight: number,
  newRs: ReplicaSetState | undefined,
  stableRs: ReplicaSetState | undefined,
  others: ReplicaSetState[],
): { canary: number; stable: number } {
  const replicas = rollout.spec.replicas ?? 1;
  const { maxSurge, maxUnavailable } = canaryFenceposts(rollout.spec);
  let { canary: desiredNew, stable: desiredStable } = weightedCanaryStableCounts(replicas, weight, MAX_WEIGHT, maxSurge);
  let newCount = newRs?.specReplicas ?? 0;
  const scaleStable = Boolean(stableRs) && (!newRs || newRs.name !== stableRs!.name);
  let stableCount = 0;
  if (scaleStable) {
    stableCount = stableRs!.specReplicas;
  } else {
    desiredNew = replicas;
    desiredStable = 0;
  }
  const maxAllowed = replicas + maxSurge;
  const counted = [...others, ...(newRs ? [newRs] : []), ...(scaleStable ? [stableRs!] : [])];
  let scaleUp = maxAllowed - sum(counted, rs => rs.specReplicas);
  if (scaleStable && stableRs!.specReplicas < desiredStable && scaleUp > 0) {
    if (stableRs!.specReplicas + scaleUp < desiredStable) {
      stableCount = stableRs!.specReplicas + scaleUp;
      scaleUp = 0;
    } else {
      stableCount = desiredStable;
      scaleUp -= desiredStable - stableRs!.specReplicas;
    }
  }
  if (newRs && newRs.specReplicas < desiredNew && scaleUp > 0) newCount = Math.min(newRs.specReplicas + scaleUp, desiredNew);
  if (sum(others, rs => rs.specReplicas) > 0) return { canary: newCount, stable: stableCount };

  const minAvailable = replicas - maxUnavailable;
  const isIncreasing = !newRs || desiredNew >= newRs.specReplicas;
  const forScaleDown = (rs: ReplicaSetState | undefined, ignoreAvailability: boolean) => {
    if (!rs) return 0;
    if (rs.specReplicas < rs.availableReplicas || ignoreAvailability) return rs.specReplicas;
    return rs.availableReplicas;
  };
  const toScaleDown = forScaleDown(newRs, !isIncreasing) + forScaleDown(scaleStable ? stableRs : undefined, isIncreasing);
  if (toScaleDown <= minAvailable) return { canary: newCount, stable: stableCount };
  const scaleDownCount = toScaleDown - minAvailable;

  const adjustWithinLimits = (drain: ReplicaSetState | undefined, adjust: ReplicaSetState | undefined, drainCount: number, adjustCount: number) => {
    let over = Math.max(0, adjustCount + drainCount - maxAllowed);
    let available = drain ? Math.min(drain.availableReplicas, drainCount) : 0;
    let a = adjustCount;
    let d = drainCount;
    if (adjust) {
      a -= over;
      available += Math.min(adjust.availableReplicas, a);
      const extra = Math.max(0, adjust.availableReplicas - a);
      const need = Math.max(0, minAvailable - available);
      a += Math.min(extra, need);
      over = Math.max(0, a + d - maxAllowed);
      d -= over;
    }
    return [d, a] as const;
  };
  if (!isIncreasing) {
    if (newRs!.specReplicas > desiredNew) newCount = Math.max(desiredNew, newRs!.specReplicas - scaleDownCount);
    [newCount, stableCount] = adjustWithinLimits(newRs, scaleStable ? stableRs : undefined, newCount, stableCount);
  } else if (scaleStable) {
    if (stableRs!.specReplicas > desiredStable) stableCount = Math.max(desiredStable, stableRs!.specReplicas - scaleDownCount);
    [stableCount, newCount] = adjustWithinLimits(stableRs, newRs, stableCount, newCount);
  }
  return { canary: newCount, stable: stableCount };
}

export interface CanaryContext {
  rollout: Rollout;
  replicaSets: ReplicaSetState[];
  now: Date;
  /** The AnalysisRuns the Rollout owns. */
  analysisRuns?: AnalysisRunState[];
  /** `stableService` and `canaryService`, when the Rollout names them. */
  services?: { stable?: ServiceState; canary?: ServiceState };
}

const ref = (value: unknown) => value as RunStatusRef | undefined;

/** One reconcile of a canary Rollout without a traffic router. */
export function reconcileCanary(ctx: CanaryContext): RolloutDecision {
  const { rollout, replicaSets, now } = ctx;
  const nowIso = formatTime(now);
  const old = rollout.status ?? {};
  const steps: CanaryStep[] = rollout.spec.strategy?.canary?.steps ?? [];
  const replicas = rollout.spec.replicas ?? 1;
  const hash = currentTemplateHash(rollout, replicaSets);
  const stepsHash = stepHash(rollout);
  const newRs = replicaSets.find(rs => rs.hash === hash);
  const decision: RolloutDecision = { scale: [], annotate: [], switchServices: [], createAnalysis: [], keepAnalysis: [], delete: [], status: {} };
  const runs = new Map((ctx.analysisRuns ?? []).map(r => [r.name, r]));

  const revision = newRevision(replicaSets, newRs);
  if (!newRs) decision.create = { name: `${rollout.metadata.name}-${hash}`, hash, revision };
  else if (newRs.revision < revision) decision.revise = { name: newRs.name, revision };
  const stableRs = replicaSets.find(rs => rs.hash === old.stableRS) ?? (old.stableRS === hash ? newRs : undefined);
  const others = replicaSets.filter(rs => rs !== newRs && rs !== stableRs);

  // Base status, recomputed every reconcile.
  const status: RolloutStatus = {
    ...baseStatus(rollout, replicaSets, newRs, hash, pausedConditions(rollout, nowIso)),
    currentStepHash: stepsHash,
    promoteFull: old.promoteFull,
    abort: old.abort,
    abortedAt: old.abortedAt,
    canary: { ...(old.canary?.weights ? { weights: old.canary.weights } : {}) },
  };
  let pauseConditions = [...(old.pauseConditions ?? [])];
  let controllerPause = old.controllerPause;
  let index: number | undefined = steps.length > 0 ? old.currentStepIndex ?? 0 : undefined;

  const changed = !old.currentStepHash || old.currentStepHash !== stepsHash || (old.currentPodHash && old.currentPodHash !== hash);
  if (changed) {
    // A new template or new steps: start the steps again (resetRolloutStatus); new pods need no restart.
    if (rollout.spec.restartAt) status.restartedAt = rollout.spec.restartAt;
    pauseConditions = [];
    controllerPause = undefined;
    status.abort = undefined;
    status.abortedAt = undefined;
    status.promoteFull = undefined;
    index = steps.length > 0 ? 0 : undefined;
    if (steps.length > 0 && old.stableRS === hash) index = steps.length; // rollback to stable skips the steps
  } else {
    // newRolloutContext: an abort of a Rollout already fully promoted has nothing to abort, and is removed
    // (before, it turned a healthy canary Degraded, "update aborted", until someone pressed Retry).
    if (status.abort && old.stableRS && old.stableRS === old.currentPodHash) {
      status.abort = undefined;
      status.abortedAt = undefined;
    }
    if (status.promoteFull) {
      pauseConditions = [];
      status.abort = undefined;
      if (steps.length > 0) index = steps.length;
    }
    // Full promotion: at once without a stable ReplicaSet (the first, or one deleted), then after the last step (shouldFullPromote).
    let reason: string | undefined;
    if (!stableRs) reason = 'Initial deploy';
    else if (!status.abort && newRs && newRs.availableReplicas >= replicas) {
      if (status.promoteFull) reason = 'Full promotion requested';
      else if (steps.length === 0 || (old.currentStepIndex ?? 0) === steps.length) reason = `Completed all ${steps.length} canary steps`;
    }
    if (reason && (newRs || reason === 'Initial deploy')) {
      pauseConditions = [];
      controllerPause = undefined;
      status.abort = undefined;
      status.abortedAt = undefined;
      status.promoteFull = undefined;
      index = steps.length > 0 ? steps.length : undefined;
      status.stableRS = hash;
    } else if (status.abort) {
      if (steps.length > 0) index = status.stableRS === hash ? steps.length : 0;
      pauseConditions = [];
      controllerPause = undefined;
      status.abortedAt = old.abortedAt ?? nowIso;
    }
  }

  // Scaling, unless halted by a manual pause or an inconclusive analysis.
  const halted = Boolean(rollout.spec.paused) || pauseConditions.some(p => p.reason === 'InconclusiveAnalysisRun');
  const canarySpec = rollout.spec.strategy!.canary!;
  const routed = Boolean(canarySpec.trafficRouting);
  const view = (): Rollout => ({ ...rollout, status: { ...old, ...status, currentStepIndex: index } });
  const requeue = (ms: number) => {
    decision.requeueAfterMs = Math.min(decision.requeueAfterMs ?? Infinity, Math.max(0, ms) + 1);
  };
  let scaled = false;
  if (!changed && newRs && !halted && routed) {
    scaled = scaleRoutedCanary({ rollout, view: view(), old, replicaSets, newRs, stableRs: replicaSets.find(rs => rs.hash === status.stableRS), hash, now, decision, requeue, status });
  } else if (!changed && newRs && routed) {
    // Halted: nothing scales, but the traffic follows an abort (or a promotion) at once.
    routeCanaryTraffic({ rollout, view: view(), replicaSets, newRs, stableRs: replicaSets.find(rs => rs.hash === status.stableRS), hash, decision, status });
  } else if (!changed && newRs && !halted) {
    const currentStable = replicaSets.find(rs => rs.hash === status.stableRS);
    const weight = currentSetWeight({ ...rollout, status: { ...old, ...status } }, index);
    const counts = basicCanaryCounts(rollout, weight, newRs, currentStable, replicaSets.filter(rs => rs !== newRs && rs !== currentStable));
    if (currentStable && currentStable !== newRs && currentStable.specReplicas !== counts.stable) {
      decision.scale.push({ name: currentStable.name, replicas: counts.stable });
    } else if (newRs.specReplicas !== counts.canary) {
      decision.scale.push({ name: newRs.name, replicas: counts.canary });
    } else {
      // Old ReplicaSets drain, within maxUnavailable.
      const { maxUnavailable } = canaryFenceposts(rollout.spec);
      let budget = sum(replicaSets, rs => rs.availableReplicas) - (replicas - maxUnavailable);
      const stale = replicaSets.filter(rs => rs !== newRs && rs !== currentStable && rs.specReplicas > 0).sort((a, b) => b.revision - a.revision);
      for (const rs of stale) {
        const unhealthy = Math.max(0, rs.specReplicas - rs.availableReplicas);
        let target = rs.specReplicas - unhealthy;
        const cut = Math.max(0, Math.min(budget, target));
        target -= cut;
        budget -= cut;
        if (target !== rs.specReplicas) decision.scale.push({ name: rs.name, replicas: target });
      }
    }
    scaled = decision.scale.length > 0;
    status.canary = { ...status.canary, weights: { canary: { weight, podTemplateHash: hash }, stable: { weight: MAX_WEIGHT - weight, podTemplateHash: status.stableRS } } };
  }

  let abortMessage: string | undefined;
  let stepRun: string | undefined;
  // Steps: at most one completes per reconcile. A manual pause holds the step
  // (completedCurrentCanaryStep, reconcileCanaryPause) but not its analysis run (reconcileStepBasedAnalysisRun).
  const manuallyPaused = Boolean(rollout.spec.paused);
  if (!changed && !status.abort && index !== undefined && index < steps.length) {
    const step = steps[index];
    let completed = false;
    if (step.pause && manuallyPaused) {
      // held: no pause condition is added or ended meanwhile
    } else if (step.pause) {
      const cond = pauseConditions.find(p => p.reason === 'CanaryPauseStep');
      const seconds = pauseDurationSeconds(step.pause.duration);
      if (controllerPause && !cond) {
        completed = true; // promoted: the user cleared the pause conditions
      } else if (cond && seconds !== undefined && now.getTime() > Date.parse(cond.startTime) + seconds * 1000) {
        completed = true;
      } else if (!scaled && !cond && !controllerPause) {
        pauseConditions.push({ reason: 'CanaryPauseStep', startTime: nowIso });
        controllerPause = true;
      }
      if (!completed && seconds !== undefined && seconds >= 0) {
        const start = cond ? Date.parse(cond.startTime) : now.getTime();
        // The sooner of this and what else waits (an old ReplicaSet's scale-down deadline).
        requeue(start + seconds * 1000 - now.getTime());
      }
    } else if ((step.setWeight !== undefined || step.setCanaryScale) && routed) {
      completed = !scaled && atDesiredRoutedCounts(view(), newRs, replicaSets.find(rs => rs.hash === status.stableRS), status.canary?.weights);
    } else if (step.setWeight !== undefined || step.setCanaryScale) {
      const currentStable = replicaSets.find(rs => rs.hash === status.stableRS);
      const weight = currentSetWeight({ ...rollout, status: { ...old, ...status } }, index);
      const counts = basicCanaryCounts(rollout, weight, newRs, currentStable, replicaSets.filter(rs => rs !== newRs && rs !== currentStable));
      completed = !scaled && Boolean(newRs) && counts.canary === newRs!.specReplicas && counts.canary === newRs!.availableReplicas &&
        Boolean(currentStable) && counts.stable === currentStable!.specReplicas && counts.stable === currentStable!.replicas &&
        sum(others.filter(rs => rs !== currentStable), rs => rs.availableReplicas) === 0;
    } else if (step.analysis) {
      // The step's run is the one the status names, if it belongs to this step (reconcileStepBasedAnalysisRun).
      const currentRef = ref(old.canary?.currentStepAnalysisRunStatus);
      const current = currentRef ? runs.get(currentRef.name) : undefined;
      const run = current && current.stepIndex === index ? current : undefined;
      const needsNew = !run || (old.controllerPause && !pauseConditions.some(p => p.reason === PAUSE_REASON.canaryPauseStep)
        ? run.phase === 'Inconclusive'
        : Boolean(old.abortedAt));
      if (pauseConditions.length > 0) {
        if (run) stepRun = run.name;
      } else if (needsNew) {
        stepRun = newAnalysisRunName(rollout, hash, revision, String(index), runs.keys());
        decision.createAnalysis.push({ name: stepRun, kind: 'Step', stepIndex: index });
      } else {
        stepRun = run!.name;
        if (run!.phase === 'Successful') {
          completed = true;
        } else if (run!.phase === 'Failed' || run!.phase === 'Error') {
          abortMessage = `Step-based analysis phase error/failed${run!.message ? `: ${run!.message}` : ''}`;
        } else if (run!.phase === 'Inconclusive' && !pauseConditions.some(p => p.reason === PAUSE_REASON.inconclusiveAnalysis)) {
          // An inconclusive run pauses it until someone promotes or aborts.
          pauseConditions.push({ reason: PAUSE_REASON.inconclusiveAnalysis, startTime: nowIso });
          controllerPause = true;
        }
      }
    }
    if (completed && !manuallyPaused) {
      index++;
      pauseConditions = pauseConditions.filter(p => p.reason !== PAUSE_REASON.canaryPauseStep);
      stepRun = undefined;
    }
  }

  // Background analysis, from startingStep on (reconcileBackgroundAnalysisRun).
  const background = rollout.spec.strategy?.canary?.analysis;
  const fullyPromoted = Boolean(old.stableRS) && old.stableRS === old.currentPodHash;
  let backgroundRun: string | undefined;
  if (!changed && !status.abort && !abortMessage && !status.promoteFull && (background?.templates ?? []).length > 0 &&
    !fullyPromoted && old.stableRS && (background!.startingStep === undefined || index === undefined || index >= background!.startingStep)) {
    const currentRef = ref(old.canary?.currentBackgroundAnalysisRunStatus);
    const run = currentRef ? runs.get(currentRef.name) : undefined;
    const needsNew = !run || (old.controllerPause && !pauseConditions.some(p => p.reason === PAUSE_REASON.canaryPauseStep)
      ? run.phase === 'Inconclusive'
      : Boolean(old.abortedAt));
    if (pauseConditions.some(p => p.reason === PAUSE_REASON.inconclusiveAnalysis)) {
      backgroundRun = run?.name;
    } else if (needsNew) {
      backgroundRun = newAnalysisRunName(rollout, hash, revision, '', runs.keys());
      decision.createAnalysis.push({ name: backgroundRun, kind: 'Background' });
    } else {
      backgroundRun = run!.name;
      if (run!.phase === 'Inconclusive') {
        pauseConditions.push({ reason: PAUSE_REASON.inconclusiveAnalysis, startTime: nowIso });
        controllerPause = true;
      } else if (run!.phase === 'Failed' || run!.phase === 'Error') {
        abortMessage = `Background analysis phase error/failed${run!.message ? `: ${run!.message}` : ''}`;
      }
    }
  }
  if (abortMessage) {
    // A failed run aborts the update, as in Argo.
    status.abort = true;
    status.abortedAt = nowIso;
    index = status.stableRS === hash ? steps.length : 0;
    pauseConditions = [];
    controllerPause = undefined;
  }

  // Runs stay current while the update goes on; everything else is cancelled (reconcileAnalysisRuns).
  if (!status.abort && !status.promoteFull && !fullyPromoted && !changed) {
    const record = (name: string | undefined) => (name ? runStatusRef(name, runs.get(name)) : undefined);
    const stepRef = record(stepRun);
    const backgroundRef = record(backgroundRun);
    status.canary = {
      ...status.canary,
      ...(stepRef ? { currentStepAnalysisRunStatus: stepRef } : {}),
      ...(backgroundRef ? { currentBackgroundAnalysisRunStatus: backgroundRef } : {}),
    };
    decision.keepAnalysis = [stepRun, backgroundRun].filter((n): n is string => Boolean(n));
  }
  status.currentStepIndex = index;
  if (!changed) {
    const rollingBack = Boolean(newRs) && dynamicallyRollingBack(view(), newRs, hash);
    switchCanaryServices(ctx.services ?? {}, replicaSets.find(rs => rs.hash === status.stableRS), newRs, Boolean(status.abort), routed, rollingBack, decision);
  }
  decision.delete = cleanupRevisionHistory(rollout, others.filter(rs => rs !== newRs));

  const pause: PauseDecisions = {
    isAborted: () => Boolean(status.abort),
    abortMessage: abortMessage ?? '',
    abort(message: string) {
      status.abort = true;
      status.abortedAt = old.abortedAt ?? nowIso;
      this.abortMessage = message;
    },
    apply(next: RolloutStatus) {
      // abortedAt lasts as long as the abort (CalculateAbortStatus): after a retry it would make every pass start new runs.
      if (!next.abort) next.abortedAt = undefined;
      const conditions = next.abort ? [] : pauseConditions;
      next.pauseConditions = conditions.length > 0 ? conditions : undefined;
      next.controllerPause = conditions.length > 0 && controllerPause ? true : undefined;
    },
  };
  const current = index !== undefined ? steps[index] : undefined;
  const pausedTrue = (status.conditions ?? []).some(c => c.type === 'Paused' && c.status === 'True');
  const { requeueAfterMs } = finishStatus(status, {
    rollout,
    pause,
    now,
    revision,
    newRsName: newRs?.name ?? decision.create?.name,
    createdRsName: decision.create?.name,
    available: (status.availableReplicas ?? 0) >= replicas,
    indefiniteStep: Boolean(current && (current.pause || current.analysis || current.experiment)) || pausedTrue,
    waitingForScaleDown: waitingForScaleDown(others),
  });
  if (requeueAfterMs !== undefined) decision.requeueAfterMs = Math.min(decision.requeueAfterMs ?? Infinity, requeueAfterMs);
  decision.status = status;
  return decision;
}

/**
 * One reconcile's scaling of a canary with a traffic router (rolloutCanary
 * with trafficRouting): stable and canary to their counts for the weights in
 * force, the canary kept up for abortScaleDownDelaySeconds after an abort,
 * the router's weight once the stable has the pods for its share, and old
 * ReplicaSets down (after scaleDownDelaySeconds once fully promoted).
 * Returns whether anything was scaled.
 */
/**
 * reconcileTrafficRouting: the router's weight for where the Rollout is — the
 * step's, 0 (all to stable) on an abort or once fully promoted. Argo sets it
 * on every pass, a manual pause included: an abort while paused sends the
 * traffic back to stable at once, not when someone resumes.
 */
function routeCanaryTraffic(args: { rollout: Rollout; view: Rollout; replicaSets: ReplicaSetState[]; newRs: ReplicaSetState; stableRs: ReplicaSetState | undefined; hash: string; decision: RolloutDecision; status: RolloutStatus }) {
  const { rollout, view, replicaSets, newRs, stableRs, decision, status } = args;
  const canary = rollout.spec.strategy!.canary!;
  const others = replicaSets.filter(rs => rs !== newRs && rs !== stableRs);
  const routedTo = routedWeight({ rollout: view, newRs, stableRs, others, hash: args.hash });
  if (!routedTo) return;
  decision.trafficWeight = routedTo.weight;
  status.canary = {
    ...status.canary,
    weights: {
      canary: { weight: routedTo.weight, podTemplateHash: routedTo.canaryHash, serviceName: canary.canaryService },
      stable: { weight: MAX_TRAFFIC_WEIGHT - routedTo.weight, podTemplateHash: stableRs?.hash, serviceName: canary.stableService },
    },
  };
}

function scaleRoutedCanary(args: {
  rollout: Rollout;
  view: Rollout;
  old: RolloutStatus;
  replicaSets: ReplicaSetState[];
  newRs: ReplicaSetState;
  stableRs: ReplicaSetState | undefined;
  hash: string;
  now: Date;
  decision: RolloutDecision;
  requeue: (ms: number) => void;
  status: RolloutStatus;
}): boolean {
  const { rollout, view, old, replicaSets, newRs, stableRs, now, decision, requeue, status } = args;
  const canary = rollout.spec.strategy!.canary!;
  const replicas = rollout.spec.replicas ?? 1;
  const counts = routedCanaryCounts(view, newRs, stableRs, old.canary?.weights);
  const before = decision.scale.length;

  // reconcileCanaryStableReplicaSet
  if (stableRs && stableRs !== newRs && stableRs.specReplicas !== counts.stable) decision.scale.push({ name: stableRs.name, replicas: counts.stable });

  // reconcileNewReplicaSet, with the abort delay (shouldDelayScaleDownOnAbort)
  const abortDelay = abortScaleDownDelaySeconds(rollout);
  const explicitDelay = (canary.abortScaleDownDelaySeconds ?? 0) > 0;
  const delayOnAbort = Boolean(status.abort) && Boolean(stableRs) && abortDelay !== undefined && !(canary.dynamicStableScale && !explicitDelay);
  for (const rs of [...(delayOnAbort ? [] : [newRs]), ...(stableRs && stableRs !== newRs ? [stableRs] : [])]) {
    if (rs.scaleDownDeadline) decision.annotate.push({ name: rs.name, scaleDownDeadline: null });
  }
  let newCount: number | undefined = counts.canary;
  if (delayOnAbort && newRs !== stableRs) {
    newCount = abortedReplicas({ newRs, stableRs: stableRs!, replicas, delaySeconds: abortDelay!, now, decision, requeue });
  }
  if (newCount !== undefined && newRs !== stableRs && newRs.specReplicas !== newCount) decision.scale.push({ name: newRs.name, replicas: newCount });
  if (newRs === stableRs && newRs.specReplicas !== replicas) decision.scale.push({ name: newRs.name, replicas });

  routeCanaryTraffic(args);
  const others = replicaSets.filter(rs => rs !== newRs && rs !== stableRs);

  // scaleDownOldReplicaSetsForCanary with a router
  let maxScaleDown = sum(replicaSets, rs => rs.availableReplicas) - (replicas - canaryFenceposts(rollout.spec).maxUnavailable);
  if (maxScaleDown > 0) {
    const fullyPromoted = Boolean(old.stableRS) && old.stableRS === old.currentPodHash;
    const weights = old.canary?.weights;
    const referenced = new Set([old.stableRS, old.currentPodHash, weights?.canary.podTemplateHash, weights?.stable.podTemplateHash]);
    // GetScaleDownRevisionLimit reads the canary's scaleDownDelayRevisionLimit too: old ReplicaSets past it go down at once.
    const delay = new ScaleDownDelay({
      now,
      delaySeconds: canary.scaleDownDelaySeconds ?? DEFAULT_SCALE_DOWN_DELAY_SECONDS,
      revisionLimit: (canary as { scaleDownDelayRevisionLimit?: number }).scaleDownDelayRevisionLimit,
      decision,
      requeue,
    });
    for (const rs of [...others].sort((a, b) => b.revision - a.revision)) {
      if (referenced.has(rs.hash)) continue;
      if (maxScaleDown <= 0) break;
      if (rs.specReplicas === 0) continue;
      let desired = 0;
      if ((fullyPromoted || rs.scaleDownDeadline) && !canary.dynamicStableScale) desired = delay.desiredReplicas(rs, rs.specReplicas);
      if (desired === rs.specReplicas) continue;
      decision.scale.push({ name: rs.name, replicas: desired });
      maxScaleDown -= rs.specReplicas - desired;
    }
  }
  return decision.scale.length > before;
}

/**
 * reconcileStableAndCanaryService: `stableService` selects the stable
 * ReplicaSet, `canaryService` the new one (the stable one after an abort
 * without a router); a Service is only switched to a ReplicaSet with pods
 * available, and one not yet managed only to a fully available one.
 */
function switchCanaryServices(
  services: { stable?: ServiceState; canary?: ServiceState },
  stableRs: ReplicaSetState | undefined,
  newRs: ReplicaSetState | undefined,
  aborted: boolean,
  routed: boolean,
  /** A dynamicStableScale rollback: the canary Service keeps the previous canary until the stable one is full size. */
  rollingBack: boolean,
  decision: RolloutDecision,
) {
  const ensure = (svc: ServiceState | undefined, rs: ReplicaSetState | undefined) => {
    if (!svc || !rs || svc.selectorHash === rs.hash) return;
    if (!svc.managed && rs.availableReplicas < rs.specReplicas) return;
    if (rs.availableReplicas === 0) return;
    decision.switchServices.push({ name: svc.name, hash: rs.hash });
  };
  ensure(services.stable, stableRs);
  // With a router, an aborted canary's traffic is already at zero, so its Service may point back at stable too.
  if (aborted && (!routed || decision.trafficWeight === 0)) ensure(services.canary, stableRs);
  // reconcileStableAndCanaryService: switching it now would send the previous canary's share to a stable version
  // trimmed to part of its size (argo-rollouts#3020).
  else if (!rollingBack) ensure(services.canary, newRs);
}
