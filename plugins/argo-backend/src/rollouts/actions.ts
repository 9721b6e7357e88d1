import type { Rollout } from '@quarterdeck/plugin-argo-common';
import type { KubeObject } from '@quarterdeck/plugin-argo-node';
import { withoutHashLabel } from './objects';
import { resolveWorkloadRef, workloadTemplatePointer } from './workloadRef';

/** The manual actions on a Rollout, named after `kubectl argo rollouts`. */
export const ROLLOUT_ACTIONS = ['promote', 'promote-full', 'abort', 'retry', 'pause', 'resume', 'restart', 'undo'] as const;
export type RolloutAction = (typeof ROLLOUT_ACTIONS)[number];

/** One patch to send: a merge patch or a JSON patch, to the object or its status subresource. */
export interface RolloutPatch {
  /** The object to patch in the Rollout's namespace, when not the Rollout (undo of a workloadRef Rollout patches its workload). */
  target?: { apiVersion: string; kind: string; name: string };
  subresource?: 'status';
  type: 'merge' | 'json';
  body: Record<string, unknown> | Array<Record<string, unknown>>;
}

/**
 * What came of an action's patches, for its audit entry: all applied, some
 * (then one was refused), none, or not known — a patch with no answer (a
 * timeout, a reset connection, the API server's own 5xx) may have been
 * applied all the same, and the trail must not say it was not.
 */
export type ActionOutcome =
  | { outcome: 'applied' }
  | { outcome: 'partly applied'; patchesApplied: number; patches: number; error: string }
  | { outcome: 'failed'; error: string }
  | { outcome: 'unknown'; patchesApplied: number; patches: number; error: string };

/**
 * The outcome of sending `patches` patches of which the first `applied`
 * succeeded, and then `error` if one failed: `refused` when the cluster
 * answered that it did not apply it, otherwise its fate is unknown.
 */
export function actionOutcome(applied: number, patches: number, error?: string, refused = true): ActionOutcome {
  if (error === undefined) return { outcome: 'applied' };
  if (!refused) return { outcome: 'unknown', patchesApplied: applied, patches, error };
  if (applied === 0) return { outcome: 'failed', error };
  return { outcome: 'partly applied', patchesApplied: applied, patches, error };
}

export type ActionPlan =
  | { ok: true; patches: RolloutPatch[]; summary: string }
  | { ok: false; status: 404 | 409; message: string };

/** A ReplicaSet the rollout owns, for undo. */
export interface OwnedReplicaSet {
  metadata: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { template?: { metadata?: { labels?: Record<string, string> } } & Record<string, unknown> };
}

const REVISION = 'rollout.argoproj.io/revision';

export function isPaused(rollout: Rollout): boolean {
  return Boolean(rollout.spec.paused) || (rollout.status?.pauseConditions ?? []).length > 0;
}

function stepCount(rollout: Rollout): number {
  return rollout.spec.strategy?.canary?.steps?.length ?? 0;
}

/**
 * apiequality.Semantic.DeepDerivative over JSON, which kubectl's undo uses
 * to skip a rollback to the template already in force: every field `desired`
 * sets is the same in `live`; null, empty strings, arrays and objects in
 * `desired` count as unset (so the API server's defaults in `live` do not
 * make the Rollout's own template look different).
 */
export function isSemanticDerivative(desired: unknown, live: unknown): boolean {
  if (desired === null || desired === undefined) return true;
  if (live === null || live === undefined) return false;
  if (Array.isArray(desired)) {
    if (!Array.isArray(live)) return false;
    if (desired.length === 0) return true;
    return desired.length <= live.length && desired.every((v, i) => isSemanticDerivative(v, live[i]));
  }
  if (typeof desired === 'object') {
    if (typeof live !== 'object' || Array.isArray(live)) return false;
    const keys = Object.keys(desired);
    if (keys.length === 0) return true;
    if (keys.length > Object.keys(live).length) return false;
    // A field `live` lacks differs, even where `desired` has null there (Go's invalid MapIndex).
    return keys.every(k => k in live && isSemanticDerivative((desired as Record<string, unknown>)[k], (live as Record<string, unknown>)[k]));
  }
  if (typeof desired !== typeof live) return false;
  if (desired === '') return true;
  return desired === live;
}

/**
 * The patches an action sends: exactly those `kubectl argo rollouts` sends,
 * so they work against a real Argo Rollouts controller (observe mode) as
 * against ours. Where kubectl would send nothing, or a patch the controller
 * undoes at once (a step skipped on an aborted canary), this answers 409
 * with the reason instead, and sends nothing.
 */
export function planRolloutAction(
  rollout: Rollout,
  action: RolloutAction,
  options: {
    now?: Date;
    revision?: number;
    replicaSets?: OwnedReplicaSet[];
    /** undo of a Rollout with a workloadRef: the workload it names, or undefined when there is none. */
    workload?: KubeObject;
  } = {},
): ActionPlan {
  const name = rollout.metadata.name;
  const status = rollout.status ?? {};
  const canary = Boolean(rollout.spec.strategy?.canary);
  const fullyPromoted = Boolean(status.stableRS) && status.stableRS === status.currentPodHash;
  switch (action) {
    case 'promote': {
      // kubectl's getPatches (default branch), in its order: status first, then spec.
      const patches: RolloutPatch[] = [];
      const pauseConditions = status.pauseConditions ?? [];
      const steps = stepCount(rollout);
      const nextStep = Math.min((status.currentStepIndex ?? 0) + 1, steps);
      const stepRun = (status.canary?.currentStepAnalysisRunStatus ?? undefined) as { status?: string } | undefined;
      if (canary && stepRun?.status === 'Inconclusive' && pauseConditions.length > 0 && status.controllerPause) {
        patches.push({ subresource: 'status', type: 'merge', body: { status: { pauseConditions: null, controllerPause: false, currentStepIndex: nextStep } } });
      } else if (pauseConditions.length > 0) {
        patches.push({ subresource: 'status', type: 'merge', body: { status: { pauseConditions: null } } });
      } else if (canary && steps > 0) {
        // No pause condition (a running analysis, a setWeight still scaling, a manual pause): kubectl skips the current step.
        if (!isPaused(rollout) && status.abort) {
          return { ok: false, status: 409, message: `Rollout '${name}' is aborted, so there is no step to promote; retry it to start the update again` };
        }
        // Past the last step the patch changes nothing.
        if (isPaused(rollout) || (status.currentStepIndex ?? 0) < steps) {
          patches.push({ subresource: 'status', type: 'merge', body: { status: { pauseConditions: null, currentStepIndex: nextStep } } });
        }
      }
      if (rollout.spec.paused) patches.push({ type: 'merge', body: { spec: { paused: false } } });
      if (patches.length === 0) {
        // kubectl sends nothing (a blue-green Rollout, or a canary without steps, that is not paused), or nothing that changes anything.
        return { ok: false, status: 409, message: `Rollout '${name}' is not paused, so there is nothing to promote; use promote-full to skip all remaining steps` };
      }
      return { ok: true, patches, summary: `rollout '${name}' promoted` };
    }
    case 'promote-full': {
      if (fullyPromoted && !rollout.spec.paused) {
        return { ok: false, status: 409, message: `Rollout '${name}' is already fully promoted` };
      }
      const patches: RolloutPatch[] = [];
      if (status.currentPodHash !== status.stableRS) {
        patches.push({ subresource: 'status', type: 'merge', body: { status: { promoteFull: true } } });
      }
      if (rollout.spec.paused) patches.push({ type: 'merge', body: { spec: { paused: false } } });
      if (patches.length === 0) {
        // Neither a stable nor a current ReplicaSet yet (a Rollout the controller has not reconciled): nothing to promote to.
        return { ok: false, status: 409, message: `Rollout '${name}' has no ReplicaSet yet, so there is nothing to promote; wait for its controller to reconcile it` };
      }
      return { ok: true, patches, summary: `rollout '${name}' fully promoted` };
    }
    case 'abort':
      if (status.abort) return { ok: false, status: 409, message: `Rollout '${name}' is already aborted; retry it to start the update again` };
      // A controller drops an abort of a fully promoted Rollout (newRolloutContext), and one sent before it has seen a new
      // template as it starts the update (resetRolloutStatus): either would answer "aborted" and abort nothing.
      if (fullyPromoted) {
        const seen = status.observedGeneration;
        const ahead = String(rollout.metadata.generation ?? 1) !== seen;
        return {
          ok: false,
          status: 409,
          message: ahead
            ? `Rollout '${name}' has a change its controller has not started yet (generation ${rollout.metadata.generation ?? 1}, it has seen ${seen ?? 'none'}); an abort now would be dropped as the update starts: abort once the update is under way`
            : `Rollout '${name}' is fully promoted: there is no update to abort`,
        };
      }
      return { ok: true, patches: [{ subresource: 'status', type: 'merge', body: { status: { abort: true } } }], summary: `rollout '${name}' aborted` };
    case 'retry':
      if (!status.abort) return { ok: false, status: 409, message: `Rollout '${name}' is not aborted, so there is nothing to retry` };
      return { ok: true, patches: [{ subresource: 'status', type: 'merge', body: { status: { abort: false } } }], summary: `rollout '${name}' retried` };
    case 'pause':
      if (rollout.spec.paused) return { ok: false, status: 409, message: `Rollout '${name}' is already paused` };
      return { ok: true, patches: [{ type: 'merge', body: { spec: { paused: true } } }], summary: `rollout '${name}' paused` };
    case 'resume':
      // kubectl has no resume; this undoes `pause` (spec.paused). Pause steps are left to promote.
      if (!rollout.spec.paused) {
        return { ok: false, status: 409, message: `Rollout '${name}' is not paused by hand; a pause step is passed with promote` };
      }
      return { ok: true, patches: [{ type: 'merge', body: { spec: { paused: false } } }], summary: `rollout '${name}' resumed` };
    case 'restart': {
      const at = (options.now ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
      return { ok: true, patches: [{ type: 'merge', body: { spec: { restartAt: at } } }], summary: `rollout '${name}' restarts in 0s` };
    }
    case 'undo': {
      const replicaSets = [...(options.replicaSets ?? [])]
        .map(rs => ({ rs, revision: Number.parseInt(rs.metadata.annotations?.[REVISION] ?? '', 10) }))
        .filter(x => !Number.isNaN(x.revision))
        .sort((a, b) => b.revision - a.revision);
      if (replicaSets.length === 0) return { ok: false, status: 404, message: `no revision found for rollout "${name}"` };
      const target = options.revision
        ? replicaSets.find(x => x.revision === options.revision)
        : replicaSets[1];
      if (!target) {
        return options.revision
          ? { ok: false, status: 404, message: `unable to find specified revision ${options.revision} in history` }
          : { ok: false, status: 404, message: `no revision found for rollout "${name}"` };
      }
      // kubectl's undo: the ReplicaSet's template (as the API server defaulted it) without the hash label.
      const template = withoutHashLabel(target.rs.spec?.template ?? {});
      const workloadRef = rollout.spec.workloadRef;
      let current = rollout.spec.template;
      let patchTarget: RolloutPatch['target'];
      let path = '/spec/template';
      if (workloadRef) {
        // undoWorkloadRef: the template goes back into the workload, where the Rollout reads it from.
        const pointer = workloadTemplatePointer(workloadRef);
        if (!pointer) return { ok: false, status: 409, message: `failed restoring revision ${options.revision ?? 0}: workload of type ${workloadRef.kind} is not supported` };
        if (!options.workload) return { ok: false, status: 404, message: `${workloadRef.kind} "${workloadRef.name}" not found` };
        current = resolveWorkloadRef(rollout, options.workload).spec.template;
        patchTarget = { apiVersion: workloadRef.apiVersion, kind: workloadRef.kind, name: workloadRef.name };
        path = pointer;
      }
      if (current && isSemanticDerivative(withoutHashLabel(current), template)) {
        return { ok: false, status: 409, message: `skipped rollback (current template already matches revision ${options.revision ?? 0})` };
      }
      return {
        ok: true,
        patches: [{ ...(patchTarget ? { target: patchTarget } : {}), type: 'json', body: [{ op: 'replace', path, value: template }] }],
        summary: `rollout '${name}' undo`,
      };
    }
    default:
      return { ok: false, status: 404, message: `Unknown rollout action '${action as string}'` };
  }
}
