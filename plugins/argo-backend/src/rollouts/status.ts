import type { Condition, Rollout, RolloutStatus } from '@quarterdeck/plugin-argo-common';
import { calculateRolloutPhase } from './phase';
import type { ReplicaSetState } from './objects';

/**
 * What both strategies share when they write a Rollout's status, as Argo's
 * rollout/sync.go and rollout/pause.go do it: the pause context (pause
 * conditions and abort, decided during a reconcile and applied at the end),
 * the conditions (Progressing with the progress deadline, Available,
 * Healthy, Completed, Paused) and the phase.
 */

export const PAUSE_REASON = {
  canaryPauseStep: 'CanaryPauseStep',
  blueGreenPause: 'BlueGreenPause',
  inconclusiveAnalysis: 'InconclusiveAnalysisRun',
} as const;

/** Argo's DefaultProgressDeadlineSeconds. */
export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;

export const formatTime = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** SetRolloutCondition: unchanged when status and reason match; keeps lastTransitionTime while the status holds. */
export function setCondition(conditions: Condition[], next: Condition, now: string): Condition[] {
  const existing = conditions.find(c => c.type === next.type);
  if (existing && existing.status === next.status && existing.reason === next.reason) return conditions;
  return [...conditions.filter(c => c.type !== next.type), {
    ...next,
    lastUpdateTime: next.lastUpdateTime ?? now,
    lastTransitionTime: existing && existing.status === next.status ? existing.lastTransitionTime : now,
  }];
}

const condition = (conditions: Condition[] | undefined, type: string) => (conditions ?? []).find(c => c.type === type);

/**
 * Argo's pauseContext: the engine records what it wants (add or remove a
 * pause reason, clear them all, abort or un-abort) and `apply` turns that
 * into pauseConditions, controllerPause, abort and abortedAt.
 */
export class PauseContext {
  private readonly add: string[] = [];
  private readonly remove = new Set<string>();
  private cleared = false;
  private addedAbort = false;
  private removedAbort = false;
  abortMessage = '';

  constructor(private readonly old: RolloutStatus) {}

  addPause(reason: string) {
    this.add.push(reason);
  }
  removePause(reason: string) {
    this.remove.add(reason);
  }
  clear() {
    this.cleared = true;
  }
  abort(message: string) {
    this.addedAbort = true;
    this.abortMessage = message;
  }
  removeAbort() {
    this.removedAbort = true;
  }
  hasAddedPause() {
    return this.add.length > 0;
  }
  isAborted() {
    if (this.removedAbort) return false;
    return this.addedAbort || Boolean(this.old.abort);
  }
  /** The pause condition of this reason in the status the reconcile started from. */
  pauseCondition(reason: string) {
    return (this.old.pauseConditions ?? []).find(p => p.reason === reason);
  }

  /** CalculatePauseStatus. */
  apply(status: RolloutStatus, now: string) {
    status.pauseConditions = undefined;
    status.controllerPause = undefined;
    if (this.addedAbort || (!this.removedAbort && this.old.abort)) {
      status.abort = true;
      status.abortedAt = this.old.abortedAt ?? now;
      return;
    }
    status.abort = undefined;
    status.abortedAt = undefined;
    if (this.cleared) return;
    let controllerPause = Boolean(this.old.controllerPause);
    const existing = new Set<string>();
    const next: Array<{ reason: string; startTime: string }> = [];
    for (const cond of this.old.pauseConditions ?? []) {
      if (!this.remove.has(cond.reason)) next.push(cond);
      existing.add(cond.reason);
    }
    for (const reason of this.add) {
      if (existing.has(reason)) continue;
      existing.add(reason);
      next.push({ reason, startTime: now });
      controllerPause = true;
    }
    if (next.length === 0) return;
    status.pauseConditions = next;
    status.controllerPause = controllerPause || undefined;
  }
}

/**
 * checkPausedConditions: before the strategy runs, Argo records a pause, a
 * resume or a retry in the conditions, so the progress deadline does not
 * count time spent paused.
 */
export function pausedConditions(rollout: Rollout, now: string): Condition[] {
  let conditions = rollout.status?.conditions ?? [];
  const status = rollout.status ?? {};
  if (String(rollout.metadata.generation ?? 1) !== status.observedGeneration) return conditions;
  const progressing = condition(conditions, 'Progressing');
  const progressingPaused = progressing?.reason === 'RolloutPaused';
  const paused = (status.pauseConditions ?? []).length > 0 || Boolean(rollout.spec.paused);
  const abortCondition = progressing?.reason === 'RolloutAborted';
  const completed = Boolean(status.stableRS) && status.stableRS === status.currentPodHash;
  if (paused !== progressingPaused && !abortCondition && !completed) {
    conditions = setCondition(conditions, paused
      ? { type: 'Progressing', status: 'Unknown', reason: 'RolloutPaused', message: 'Rollout is paused' }
      : { type: 'Progressing', status: 'Unknown', reason: 'RolloutResumed', message: 'Rollout is resumed' }, now);
  }
  if (!status.abort && abortCondition) {
    conditions = setCondition(conditions, { type: 'Progressing', status: 'Unknown', reason: 'RolloutRetry', message: 'Retrying Rollout after abort' }, now);
  }
  const pausedTrue = condition(conditions, 'Paused')?.status === 'True';
  if (paused !== pausedTrue && !abortCondition) {
    conditions = setCondition(conditions, { type: 'Paused', status: paused ? 'True' : 'False', reason: 'RolloutPaused', message: 'Rollout is paused' }, now);
  }
  return conditions;
}

/** RolloutProgressing: did this reconcile move anything forward? */
function madeProgress(rollout: Rollout, next: RolloutStatus): boolean {
  const old = rollout.status ?? {};
  let strategy = false;
  if (rollout.spec.strategy?.blueGreen) {
    strategy = old.blueGreen?.activeSelector !== next.blueGreen?.activeSelector || old.blueGreen?.previewSelector !== next.blueGreen?.previewSelector;
  }
  if (rollout.spec.strategy?.canary) {
    const stepMoved = next.currentStepIndex !== undefined && old.currentStepIndex !== undefined && next.currentStepIndex !== old.currentStepIndex;
    strategy = next.stableRS !== old.stableRS || stepMoved || next.currentStepHash !== old.currentStepHash;
  }
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (next.replicas ?? 0) - (next.updatedReplicas ?? 0);
  return (next.updatedReplicas ?? 0) !== (old.updatedReplicas ?? 0) || newOld < oldOld ||
    (next.readyReplicas ?? 0) > (old.readyReplicas ?? 0) || (next.availableReplicas ?? 0) > (old.availableReplicas ?? 0) || strategy;
}

/** RolloutHealthy: everything updated, available and serving, nothing old left. */
function isHealthy(rollout: Rollout, next: RolloutStatus): boolean {
  const replicas = rollout.spec.replicas ?? 1;
  let completed = true;
  const { blueGreen, canary } = rollout.spec.strategy ?? {};
  if (blueGreen) {
    completed = next.blueGreen?.activeSelector === next.currentPodHash &&
      (!blueGreen.previewService || next.blueGreen?.previewSelector === next.currentPodHash);
  }
  if (canary) {
    const steps = canary.steps?.length ?? 0;
    const allSteps = steps === 0 || next.currentStepIndex === undefined || next.currentStepIndex === steps;
    completed = allSteps && Boolean(next.stableRS) && next.stableRS === next.currentPodHash && (next.replicas ?? 0) === replicas;
  }
  return (next.updatedReplicas ?? 0) === replicas && (next.availableReplicas ?? 0) === replicas &&
    rollout.status?.observedGeneration === String(rollout.metadata.generation ?? 1) && completed;
}

/** RolloutTimedOut, measured from the Progressing condition's last update. */
function timedOut(rollout: Rollout, conditions: Condition[], now: Date): boolean {
  const progressing = condition(conditions, 'Progressing');
  if (!progressing || progressing.reason === 'RolloutAborted' || progressing.reason === 'RolloutPaused') return false;
  if (progressing.reason === 'ProgressDeadlineExceeded') return true;
  const from = Date.parse(progressing.lastUpdateTime ?? '');
  if (Number.isNaN(from)) return false;
  return from + (rollout.spec.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS) * 1000 < now.getTime();
}

/** What finishStatus needs of the pause decisions: PauseContext, or the canary engine's own record of them. */
export interface PauseDecisions {
  isAborted(): boolean;
  abortMessage: string;
  abort(message: string): void;
  /** Writes pauseConditions, controllerPause, abort and abortedAt into the status. */
  apply(status: RolloutStatus, now: string): void;
}

export interface StatusContext {
  rollout: Rollout;
  pause: PauseDecisions;
  now: Date;
  /** The revision of the desired ReplicaSet. */
  revision: number;
  /** The desired ReplicaSet's name, once it exists. */
  newRsName?: string;
  /** The ReplicaSet this pass creates, if it creates one. */
  createdRsName?: string;
  /** Strategy-specific availability (the active ReplicaSet saturated; enough available pods). */
  available: boolean;
  /** The current step waits without a deadline (pause, analysis), or the Rollout is paused. */
  indefiniteStep: boolean;
  /** Old ReplicaSets still wait for their scale-down deadline. */
  waitingForScaleDown: boolean;
}

/**
 * persistRolloutStatus: progress-deadline abort, pause status, conditions,
 * observedGeneration and phase. Also answers when to come back to check the
 * progress deadline.
 */
export function finishStatus(status: RolloutStatus, ctx: StatusContext): { requeueAfterMs?: number } {
  const { rollout, pause, now } = ctx;
  const nowText = formatTime(now);
  const timeoutMessage = ctx.newRsName ? `ReplicaSet "${ctx.newRsName}" has timed out progressing.` : `Rollout "${rollout.metadata.name}" has timed out progressing.`;
  const completed = (s: RolloutStatus) => Boolean(s.stableRS) && s.stableRS === s.currentPodHash;

  // createDesiredReplicaSet: a new ReplicaSet is progress, and the deadline counts from it (before, a fix pushed to a
  // Rollout past its deadline was aborted, or shown Degraded, on the pass that created its ReplicaSet).
  let conditionsBefore = rollout.status?.conditions ?? [];
  if (ctx.createdRsName) {
    const previous = condition(status.conditions, 'Progressing');
    status.conditions = [...(status.conditions ?? []).filter(c => c.type !== 'Progressing'), {
      type: 'Progressing', status: 'True', reason: 'NewReplicaSetCreated', message: `Created new replica set "${ctx.createdRsName}"`,
      lastUpdateTime: nowText, lastTransitionTime: previous?.status === 'True' ? previous.lastTransitionTime : nowText,
    }];
    conditionsBefore = status.conditions;
  }

  // evaluateProgressDeadlineAbort
  if (rollout.spec.progressDeadlineAbort && !pause.isAborted() && !completed(status) && !madeProgress(rollout, status) &&
    !ctx.indefiniteStep && !ctx.waitingForScaleDown && timedOut(rollout, conditionsBefore, now)) {
    pause.abort(timeoutMessage);
  }
  pause.apply(status, nowText);

  // calculateRolloutConditions
  let conditions = status.conditions ?? [];
  const paused = (status.pauseConditions ?? []).length > 0 || Boolean(rollout.spec.paused);
  const aborted = pause.isAborted();
  let becameUnhealthy = false;
  const healthy = isHealthy(rollout, status);
  if (!paused && healthy) {
    conditions = setCondition(conditions, { type: 'Healthy', status: 'True', reason: 'RolloutHealthy', message: 'Rollout is healthy' }, nowText);
  } else if (condition(rollout.status?.conditions, 'Healthy')) {
    const before = conditions;
    conditions = setCondition(conditions, { type: 'Healthy', status: 'False', reason: 'RolloutHealthy', message: 'Rollout is not healthy' }, nowText);
    becameUnhealthy = before !== conditions;
  }
  if (aborted) {
    const message = `Rollout aborted update to revision ${ctx.revision}${pause.abortMessage ? `: ${pause.abortMessage}` : ''}`;
    conditions = setCondition(conditions, { type: 'Progressing', status: 'False', reason: 'RolloutAborted', message }, nowText);
  }
  const current = condition(conditionsBefore, 'Progressing');
  let requeueAfterMs: number | undefined;
  if (!aborted) {
    if (healthy) {
      conditions = setCondition(conditions, { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${ctx.newRsName ?? ''}" has successfully progressed.` }, nowText);
    } else if (madeProgress(rollout, status) || becameUnhealthy) {
      // Progress refreshes lastUpdateTime, even with the same reason: the deadline counts from here.
      const notAvailable = completed(status) && becameUnhealthy;
      const next: Condition = notAvailable
        ? { type: 'Progressing', status: 'True', reason: 'ReplicaSetNotAvailable', message: 'Rollout does not have minimum availability' }
        : { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: ctx.newRsName ? `ReplicaSet "${ctx.newRsName}" is progressing.` : `Rollout "${rollout.metadata.name}" is progressing.` };
      const transition = current?.status === 'True' ? current.lastTransitionTime : nowText;
      conditions = [...conditions.filter(c => c.type !== 'Progressing'), { ...next, lastUpdateTime: nowText, lastTransitionTime: transition }];
    } else if (!ctx.indefiniteStep && !ctx.waitingForScaleDown && timedOut(rollout, conditions, now)) {
      conditions = setCondition(conditions, { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: timeoutMessage }, nowText);
    }
    const progressing = condition(conditions, 'Progressing');
    if (!paused && !completed(status) && progressing?.status !== 'False' && progressing?.lastUpdateTime) {
      const deadline = Date.parse(progressing.lastUpdateTime) + (rollout.spec.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS) * 1000;
      requeueAfterMs = Math.max(0, deadline - now.getTime()) + 1000;
    }
  }
  conditions = setCondition(conditions, ctx.available
    ? { type: 'Available', status: 'True', reason: 'AvailableReason', message: 'Rollout has minimum availability' }
    : { type: 'Available', status: 'False', reason: 'AvailableReason', message: 'Rollout does not have minimum availability' }, nowText);
  conditions = setCondition(conditions, { type: 'Completed', status: completed(status) ? 'True' : 'False', reason: 'RolloutCompleted', message: 'RolloutCompleted' }, nowText);
  status.conditions = conditions.filter(c => c.type !== 'InvalidSpec');
  status.observedGeneration = String(rollout.metadata.generation ?? 1);

  const { phase, message } = calculateRolloutPhase(rollout.spec, status);
  status.phase = phase;
  status.message = message;
  for (const key of Object.keys(status) as Array<keyof RolloutStatus>) if (status[key] === undefined) delete status[key];
  return { requeueAfterMs };
}

/** metav1.FormatLabelSelector for matchLabels: `a=b,c=d`, sorted. */
export function formatSelector(labels: Record<string, string>): string {
  return Object.keys(labels).sort().map(k => `${k}=${labels[k]}`).join(',');
}

const total = (xs: ReplicaSetState[], f: (rs: ReplicaSetState) => number) => xs.reduce((n, rs) => n + f(rs), 0);

/** calculateBaseStatus: counts over all ReplicaSets, the carried-over fields, conditions as checkPausedConditions left them. */
export function baseStatus(rollout: Rollout, all: ReplicaSetState[], newRs: ReplicaSetState | undefined, hash: string, conditions: Condition[]): RolloutStatus {
  const old = rollout.status ?? {};
  return {
    ...(old.restartedAt ? { restartedAt: old.restartedAt } : {}),
    currentPodHash: hash,
    replicas: total(all, rs => rs.replicas),
    updatedReplicas: newRs?.replicas ?? 0,
    readyReplicas: total(all, rs => rs.readyReplicas),
    availableReplicas: total(all, rs => rs.availableReplicas),
    HPAReplicas: total(all, rs => rs.replicas),
    selector: formatSelector(rollout.spec.selector?.matchLabels ?? {}),
    stableRS: old.stableRS,
    promoteFull: hash !== old.stableRS && old.promoteFull ? true : undefined,
    ...(old.collisionCount !== undefined ? { collisionCount: old.collisionCount } : {}),
    conditions,
  };
}
