import type { CanaryStep, Condition, Rollout, RolloutStatus } from '@quarterdeck/plugin-argo-common';
import { computePodTemplateHash } from '@quarterdeck/plugin-argo-node';
import { calculateRolloutPhase } from './phase';
import { canaryFenceposts, pauseDurationSeconds, weightedCanaryStableCounts } from './replicas';

/**
 * The canary strategy without a traffic router, as Argo Rollouts runs it
 * (rollout/canary.go, rollout/sync.go): a pure decision per reconcile —
 * given the Rollout, its ReplicaSets and the time, what to create, what to
 * scale, and the status to write. One group of ReplicaSets changes per
 * reconcile and at most one step completes, as in Argo.
 */

export const POD_TEMPLATE_HASH_LABEL = 'rollouts-pod-template-hash';
export const REVISION_ANNOTATION = 'rollout.argoproj.io/revision';
const MAX_WEIGHT = 100;

export interface ReplicaSetState {
  name: string;
  hash: string;
  revision: number;
  specReplicas: number;
  /** status.replicas */
  replicas: number;
  availableReplicas: number;
  readyReplicas: number;
  createdAt: string;
}

/** The AnalysisRun of the current analysis step, as the reconciler found it. */
export interface StepAnalysis {
  name: string;
  phase?: string;
  message?: string;
}

export interface CanaryDecision {
  /** Create the AnalysisRun of this analysis step. */
  createStepAnalysis?: { stepIndex: number };
  /** Create the ReplicaSet for the current template (with 0 replicas). */
  create?: { name: string; hash: string; revision: number };
  /** Scale these ReplicaSets. */
  scale: Array<{ name: string; replicas: number }>;
  /** The status to write (the whole status, as Argo recomputes it). */
  status: RolloutStatus;
  /** Come back after this long (a timed pause). */
  requeueAfterMs?: number;
}

export function stepHash(rollout: Rollout): string {
  return computePodTemplateHash(rollout.spec.strategy?.canary?.steps ?? []);
}

export function templateHash(rollout: Rollout): string {
  return computePodTemplateHash(rollout.spec.template ?? {}, (rollout.status as { collisionCount?: number } | undefined)?.collisionCount);
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

function setCondition(conditions: Condition[], next: Condition, now: string): Condition[] {
  const existing = conditions.find(c => c.type === next.type);
  if (existing && existing.status === next.status && existing.reason === next.reason) return conditions;
  const kept = conditions.filter(c => c.type !== next.type);
  return [...kept, {
    ...next,
    lastUpdateTime: now,
    lastTransitionTime: existing && existing.status === next.status ? existing.lastTransitionTime : now,
  }];
}

export interface CanaryContext {
  rollout: Rollout;
  replicaSets: ReplicaSetState[];
  now: Date;
  /** The current analysis step's AnalysisRun, once it exists. */
  stepAnalysis?: StepAnalysis;
}

/** One reconcile of a canary Rollout without a traffic router. */
export function reconcileCanary(ctx: CanaryContext): CanaryDecision {
  const { rollout, replicaSets, now } = ctx;
  const nowIso = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const old = rollout.status ?? {};
  const steps: CanaryStep[] = rollout.spec.strategy?.canary?.steps ?? [];
  const replicas = rollout.spec.replicas ?? 1;
  const hash = templateHash(rollout);
  const stepsHash = stepHash(rollout);
  const newRs = replicaSets.find(rs => rs.hash === hash);
  const decision: CanaryDecision = { scale: [], status: {} };

  if (!newRs) {
    const revision = Math.max(0, ...replicaSets.map(rs => rs.revision)) + 1;
    decision.create = { name: `${rollout.metadata.name}-${hash}`, hash, revision };
  }
  const stableRs = replicaSets.find(rs => rs.hash === old.stableRS) ?? (old.stableRS === hash ? newRs : undefined);
  const others = replicaSets.filter(rs => rs !== newRs && rs !== stableRs);

  // Base status, recomputed every reconcile.
  const status: RolloutStatus = {
    ...(old.restartedAt ? { restartedAt: old.restartedAt } : {}),
    currentPodHash: hash,
    currentStepHash: stepsHash,
    replicas: sum(replicaSets, rs => rs.replicas),
    updatedReplicas: newRs?.replicas ?? 0,
    readyReplicas: sum(replicaSets, rs => rs.readyReplicas),
    availableReplicas: sum(replicaSets, rs => rs.availableReplicas),
    HPAReplicas: sum(replicaSets, rs => rs.replicas),
    stableRS: old.stableRS,
    promoteFull: old.promoteFull,
    abort: old.abort,
    abortedAt: old.abortedAt,
    conditions: old.conditions ?? [],
    canary: { ...(old.canary?.weights ? { weights: old.canary.weights } : {}) },
  };
  let pauseConditions = [...(old.pauseConditions ?? [])];
  let controllerPause = old.controllerPause;
  let index: number | undefined = steps.length > 0 ? old.currentStepIndex ?? 0 : undefined;

  const changed = !old.currentStepHash || old.currentStepHash !== stepsHash || (old.currentPodHash && old.currentPodHash !== hash);
  if (changed) {
    // A new template or new steps: start the steps again (resetRolloutStatus).
    pauseConditions = [];
    controllerPause = undefined;
    status.abort = undefined;
    status.abortedAt = undefined;
    status.promoteFull = undefined;
    index = steps.length > 0 ? 0 : undefined;
    if (steps.length > 0 && old.stableRS === hash) index = steps.length; // rollback to stable skips the steps
  } else {
    if (status.promoteFull) {
      pauseConditions = [];
      status.abort = undefined;
      if (steps.length > 0) index = steps.length;
    }
    // Full promotion: the first ReplicaSet at once, then after the last step.
    let reason: string | undefined;
    if (!stableRs && !old.stableRS) reason = 'Initial deploy';
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
  let scaled = false;
  if (!changed && newRs && !halted) {
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
  // Steps: at most one completes per reconcile.
  if (!changed && !status.abort && index !== undefined && index < steps.length && !rollout.spec.paused) {
    const step = steps[index];
    let completed = false;
    if (step.pause) {
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
        decision.requeueAfterMs = Math.max(0, start + seconds * 1000 - now.getTime()) + 1;
      }
    } else if (step.setWeight !== undefined || step.setCanaryScale) {
      const currentStable = replicaSets.find(rs => rs.hash === status.stableRS);
      const weight = currentSetWeight({ ...rollout, status: { ...old, ...status } }, index);
      const counts = basicCanaryCounts(rollout, weight, newRs, currentStable, replicaSets.filter(rs => rs !== newRs && rs !== currentStable));
      completed = !scaled && Boolean(newRs) && counts.canary === newRs!.specReplicas && counts.canary === newRs!.availableReplicas &&
        Boolean(currentStable) && counts.stable === currentStable!.specReplicas && counts.stable === currentStable!.replicas &&
        sum(others.filter(rs => rs !== currentStable), rs => rs.availableReplicas) === 0;
    } else if (step.analysis) {
      const run = ctx.stepAnalysis;
      if (!run) {
        decision.createStepAnalysis = { stepIndex: index };
      } else {
        status.canary = { ...status.canary, currentStepAnalysisRunStatus: { name: run.name, status: run.phase ?? 'Pending', ...(run.message ? { message: run.message } : {}) } };
        if (run.phase === 'Successful') {
          completed = true;
        } else if (run.phase === 'Failed' || run.phase === 'Error') {
          // A failed run aborts the update, as in Argo.
          status.abort = true;
          status.abortedAt = nowIso;
          abortMessage = `Step-based analysis phase ${run.phase === 'Error' ? 'error' : 'failed'}${run.message ? `: ${run.message}` : ''}`;
          index = status.stableRS === hash ? steps.length : 0;
          pauseConditions = [];
          controllerPause = undefined;
        } else if (run.phase === 'Inconclusive' && !pauseConditions.some(p => p.reason === 'InconclusiveAnalysisRun')) {
          // An inconclusive run pauses it until someone promotes or aborts.
          pauseConditions.push({ reason: 'InconclusiveAnalysisRun', startTime: nowIso });
          controllerPause = true;
        }
      }
    }
    if (completed) {
      index++;
      pauseConditions = pauseConditions.filter(p => p.reason !== 'CanaryPauseStep');
      if (status.canary?.currentStepAnalysisRunStatus) {
        const { currentStepAnalysisRunStatus: _done, ...rest } = status.canary;
        status.canary = rest;
      }
    }
  }

  if (pauseConditions.length === 0) controllerPause = undefined;
  status.pauseConditions = pauseConditions.length > 0 ? pauseConditions : undefined;
  status.controllerPause = controllerPause;
  status.currentStepIndex = index;
  status.observedGeneration = String(rollout.metadata.generation ?? 1);

  // Conditions.
  let conditions = status.conditions!.filter(c => c.type !== 'InvalidSpec');
  const revision = newRs?.revision ?? decision.create?.revision ?? 0;
  if (status.abort) {
    conditions = setCondition(conditions, {
      type: 'Progressing',
      status: 'False',
      reason: 'RolloutAborted',
      message: `Rollout aborted update to revision ${revision}${abortMessage ? `: ${abortMessage}` : ''}`,
    }, nowIso);
  } else if (status.stableRS === hash && (status.updatedReplicas ?? 0) === replicas && (status.availableReplicas ?? 0) >= replicas) {
    conditions = setCondition(conditions, { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${rollout.metadata.name}-${hash}" has successfully progressed.` }, nowIso);
  } else {
    conditions = setCondition(conditions, { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "${rollout.metadata.name}-${hash}" is progressing.` }, nowIso);
  }
  const available = (status.availableReplicas ?? 0) >= replicas;
  conditions = setCondition(conditions, {
    type: 'Available',
    status: available ? 'True' : 'False',
    reason: 'AvailableReason',
    message: available ? 'Rollout has minimum availability' : 'Rollout does not have minimum availability',
  }, nowIso);
  const paused = Boolean(rollout.spec.paused) || pauseConditions.length > 0;
  conditions = setCondition(conditions, { type: 'Paused', status: paused ? 'True' : 'False', reason: 'RolloutPaused', message: 'Rollout is paused' }, nowIso);
  status.conditions = conditions;

  const { phase, message } = calculateRolloutPhase(rollout.spec, status);
  status.phase = phase;
  status.message = message;
  for (const key of Object.keys(status) as Array<keyof RolloutStatus>) if (status[key] === undefined) delete status[key];
  decision.status = status;
  return decision;
}
