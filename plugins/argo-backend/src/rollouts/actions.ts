import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { canonicalJson } from '@quarterdeck/plugin-argo-node';

/** The manual actions on a Rollout, named after `kubectl argo rollouts`. */
export const ROLLOUT_ACTIONS = ['promote', 'promote-full', 'abort', 'retry', 'pause', 'resume', 'restart', 'undo'] as const;
export type RolloutAction = (typeof ROLLOUT_ACTIONS)[number];

/** One patch to send: a merge patch or a JSON patch, to the object or its status subresource. */
export interface RolloutPatch {
  subresource?: 'status';
  type: 'merge' | 'json';
  body: Record<string, unknown> | Array<Record<string, unknown>>;
}

export type ActionPlan =
  | { ok: true; patches: RolloutPatch[]; summary: string }
  | { ok: false; status: 404 | 409; message: string };

/** A ReplicaSet the rollout owns, for undo. */
export interface OwnedReplicaSet {
  metadata: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { template?: { metadata?: { labels?: Record<string, string> } } & Record<string, unknown> };
}

const HASH_LABEL = 'rollouts-pod-template-hash';
const REVISION = 'rollout.argoproj.io/revision';

export function isPaused(rollout: Rollout): boolean {
  return Boolean(rollout.spec.paused) || (rollout.status?.pauseConditions ?? []).length > 0;
}

function stepCount(rollout: Rollout): number {
  return rollout.spec.strategy?.canary?.steps?.length ?? 0;
}

/** The template of a ReplicaSet without the label the controller added. */
function templateOf(rs: OwnedReplicaSet): Record<string, unknown> {
  const template = structuredClone(rs.spec?.template ?? {}) as { metadata?: { labels?: Record<string, string> } };
  if (template.metadata?.labels) delete template.metadata.labels[HASH_LABEL];
  return template as Record<string, unknown>;
}

/**
 * The patches an action sends: exactly those `kubectl argo rollouts` sends,
 * so they work against a real Argo Rollouts controller (observe mode) as
 * against ours. Where kubectl would silently do something surprising
 * (promote on a rollout that is not paused skips a step), this answers 409
 * with the reason instead, and sends nothing.
 */
export function planRolloutAction(
  rollout: Rollout,
  action: RolloutAction,
  options: { now?: Date; revision?: number; replicaSets?: OwnedReplicaSet[] } = {},
): ActionPlan {
  const name = rollout.metadata.name;
  const status = rollout.status ?? {};
  const canary = Boolean(rollout.spec.strategy?.canary);
  const fullyPromoted = Boolean(status.stableRS) && status.stableRS === status.currentPodHash;
  switch (action) {
    case 'promote': {
      if (!isPaused(rollout)) {
        return { ok: false, status: 409, message: `Rollout '${name}' is not paused, so there is nothing to promote; use promote-full to skip all remaining steps` };
      }
      const patches: RolloutPatch[] = [];
      const pauseConditions = status.pauseConditions ?? [];
      const stepRun = (status.canary?.currentStepAnalysisRunStatus ?? undefined) as { status?: string } | undefined;
      if (canary && stepRun?.status === 'Inconclusive' && pauseConditions.length > 0 && status.controllerPause) {
        const index = Math.min((status.currentStepIndex ?? 0) + 1, stepCount(rollout));
        patches.push({ subresource: 'status', type: 'merge', body: { status: { pauseConditions: null, controllerPause: false, currentStepIndex: index } } });
      } else if (pauseConditions.length > 0) {
        patches.push({ subresource: 'status', type: 'merge', body: { status: { pauseConditions: null } } });
      } else if (canary && stepCount(rollout) > 0) {
        // Manually paused with no pause condition: kubectl also skips the current step.
        const index = Math.min((status.currentStepIndex ?? 0) + 1, stepCount(rollout));
        patches.push({ subresource: 'status', type: 'merge', body: { status: { pauseConditions: null, currentStepIndex: index } } });
      }
      if (rollout.spec.paused) patches.push({ type: 'merge', body: { spec: { paused: false } } });
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
      return { ok: true, patches, summary: `rollout '${name}' fully promoted` };
    }
    case 'abort':
      if (status.abort) return { ok: false, status: 409, message: `Rollout '${name}' is already aborted; retry it to start the update again` };
      if (fullyPromoted) return { ok: false, status: 409, message: `Rollout '${name}' is fully promoted: there is no update to abort` };
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
      const template = templateOf(target.rs);
      if (canonicalJson(template) === canonicalJson(rollout.spec.template ?? {})) {
        return { ok: false, status: 409, message: `skipped rollback (current template already matches revision ${options.revision ?? 0})` };
      }
      return {
        ok: true,
        patches: [{ type: 'json', body: [{ op: 'replace', path: '/spec/template', value: template }] }],
        summary: `rollout '${name}' undo`,
      };
    }
    default:
      return { ok: false, status: 404, message: `Unknown rollout action '${action as string}'` };
  }
}
