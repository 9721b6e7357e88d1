import type { Rollout, RolloutStatus } from '@quarterdeck/plugin-argo-common';
import { canonicalJson, computePodTemplateHash } from '@quarterdeck/plugin-argo-node';

/**
 * What the strategy engines decide from: the Rollout's ReplicaSets, Services
 * and AnalysisRuns as the reconciler observed them, reduced to the fields
 * Argo's controller looks at.
 */

export const POD_TEMPLATE_HASH_LABEL = 'rollouts-pod-template-hash';
export const REVISION_ANNOTATION = 'rollout.argoproj.io/revision';
/** A reused ReplicaSet's earlier revisions, comma-separated. */
export const REVISION_HISTORY_ANNOTATION = 'rollout.argoproj.io/revision-history';
/** Set on an old ReplicaSet: when it may be scaled to zero (RFC 3339). */
export const SCALE_DOWN_DEADLINE_ANNOTATION = 'scale-down-deadline';
/** Set on a Service the first time a Rollout switches its selector. */
export const MANAGED_BY_ANNOTATION = 'argo-rollouts.argoproj.io/managed-by-rollouts';
export const ROLLOUT_TYPE_LABEL = 'rollout-type';
export const STEP_INDEX_LABEL = 'step-index';

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
  scaleDownDeadline?: string;
  /** spec.template, as the API server returned it (defaulted, with the hash label). */
  template?: unknown;
}

export interface ServiceState {
  name: string;
  /** The `rollouts-pod-template-hash` in its selector, if any. */
  selectorHash?: string;
  /** It carries the managed-by-rollouts annotation (the Rollout switched it before). */
  managed?: boolean;
}

export type AnalysisKind = 'Step' | 'Background' | 'PrePromotion' | 'PostPromotion';

export interface AnalysisRunState {
  name: string;
  kind?: AnalysisKind;
  stepIndex?: number;
  phase?: string;
  message?: string;
}

/** An AnalysisRun the engine wants created, under the name it recorded in status. */
export interface AnalysisRequest {
  name: string;
  kind: AnalysisKind;
  stepIndex?: number;
}

/** A run's entry in the Rollout's status (RolloutAnalysisRunStatus). */
export interface RunStatusRef {
  name: string;
  status: string;
  message?: string;
}

export function templateHash(rollout: Rollout): string {
  return computePodTemplateHash(rollout.spec.template ?? {}, (rollout.status as { collisionCount?: number } | undefined)?.collisionCount);
}

/**
 * A JSON value without its null fields (`creationTimestamp: null`): our CRD keeps
 * them in a template, but a schema that prunes nulls, or a client that leaves
 * them out when it copies a template back, would not, and they mean "unset" alike.
 */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
}

/** A pod template without the `rollouts-pod-template-hash` label. */
export function withoutHashLabel<T>(template: T): T {
  const copy = structuredClone(template ?? {}) as { metadata?: { labels?: Record<string, string> } };
  if (copy.metadata?.labels) delete copy.metadata.labels[POD_TEMPLATE_HASH_LABEL];
  return copy as T;
}

/**
 * PodTemplateEqualIgnoreHash, without Kubernetes' defaulting: the same
 * template apart from the hash label and null fields. Exact otherwise, so a
 * template that merely leaves out a field the ReplicaSet has is a new one.
 */
export function podTemplateEqualIgnoreHash(live: unknown, desired: unknown): boolean {
  return canonicalJson(withoutNulls(withoutHashLabel(live))) === canonicalJson(withoutNulls(withoutHashLabel(desired)));
}

/**
 * The hash of the ReplicaSet that runs the Rollout's template (FindNewReplicaSet,
 * and what currentPodHash becomes): the template's own hash, or, when no
 * ReplicaSet has it, that of the oldest ReplicaSet with the same template.
 * Undo copies a ReplicaSet's template back as the API server defaulted it,
 * so its hash differs from the ReplicaSet's, which is still the one to use.
 */
export function currentTemplateHash(rollout: Rollout, replicaSets: ReplicaSetState[]): string {
  const hash = templateHash(rollout);
  if (replicaSets.some(rs => rs.hash === hash)) return hash;
  const same = replicaSets
    .filter(rs => rs.hash && rs.template !== undefined && podTemplateEqualIgnoreHash(rs.template, rollout.spec.template ?? {}))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
  return same[0]?.hash ?? hash;
}

/**
 * The revision of the current template's ReplicaSet (syncReplicaSetRevision):
 * always the newest, so one reused by going back to an earlier template
 * (undo) is raised above the others, and a new one takes the next number.
 */
export function newRevision(replicaSets: ReplicaSetState[], newRs: ReplicaSetState | undefined): number {
  const maxOld = Math.max(0, ...replicaSets.filter(rs => rs !== newRs).map(rs => rs.revision));
  return Math.max(newRs?.revision ?? 0, maxOld + 1);
}

export const COMPLETED_ANALYSIS = new Set(['Successful', 'Failed', 'Error', 'Inconclusive']);

/**
 * The name Argo gives a new run: `<rollout>-<hash>-<revision>[-<infix>]`,
 * with `.1`, `.2`… when that name is taken (CreateWithCollisionCounter).
 */
export function newAnalysisRunName(rollout: Rollout, hash: string, revision: number, infix: string, taken: Iterable<string>): string {
  const base = [rollout.metadata.name, hash, String(revision), ...(infix ? [infix] : [])].join('-');
  const names = new Set(taken);
  if (!names.has(base)) return base;
  let n = 1;
  while (names.has(`${base}.${n}`)) n++;
  return `${base}.${n}`;
}

/** The status entry for a run: its name, phase ('' before its first reconcile) and message. */
export function runStatusRef(name: string, run: AnalysisRunState | undefined): RunStatusRef {
  return { name, status: run?.phase ?? '', ...(run?.message ? { message: run.message } : {}) };
}

/** What one reconcile of either strategy decided; the reconciler carries it out in this order. */
export interface RolloutDecision {
  /** Create the ReplicaSet for the current template (with 0 replicas). */
  create?: { name: string; hash: string; revision: number };
  /** Raise the current template's existing ReplicaSet to this revision (it was reused: see newRevision). */
  revise?: { name: string; revision: number };
  scale: Array<{ name: string; replicas: number }>;
  /** Set (or, with null, remove) an old ReplicaSet's scale-down deadline. */
  annotate: Array<{ name: string; scaleDownDeadline: string | null }>;
  /** Point a Service's `rollouts-pod-template-hash` selector at this hash. */
  switchServices: Array<{ name: string; hash: string }>;
  createAnalysis: AnalysisRequest[];
  /** The weight the traffic routers should send to the canary Service (a routed canary). */
  trafficWeight?: number;
  /** The runs still current: every other unfinished run the Rollout owns is terminated. */
  keepAnalysis: string[];
  /** Old ReplicaSets beyond revisionHistoryLimit. */
  delete: string[];
  /** The whole status, as Argo recomputes it. */
  status: RolloutStatus;
  /** Come back after this long (a timed pause, a deadline). */
  requeueAfterMs?: number;
}
