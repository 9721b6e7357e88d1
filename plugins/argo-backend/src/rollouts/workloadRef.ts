import type { Rollout } from '@quarterdeck/plugin-argo-common';
import type { KubeObject } from '@quarterdeck/plugin-argo-node';

/**
 * `spec.workloadRef` (rollout/templateref.go): the Rollout takes its pod
 * template — and its selector, if it has none — from an existing workload,
 * so a Deployment can be migrated to a Rollout without copying its spec.
 * `scaleDown` then says what happens to the Deployment: `never` (default),
 * `onsuccess` (to zero once the first Rollout revision is Healthy) or
 * `progressively` (down as the Rollout's pods become ready).
 */

/** Where the kinds Argo supports keep their template and selector (infoByGroupKind). */
const WORKLOADS: Record<string, { template: string[]; selector?: string[] }> = {
  'apps/Deployment': { template: ['spec', 'template'], selector: ['spec', 'selector'] },
  'apps/ReplicaSet': { template: ['spec', 'template'], selector: ['spec', 'selector'] },
  '/PodTemplate': { template: ['template'] },
};

const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0] : '');
const at = (o: unknown, path: string[]) => path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);

/**
 * Where the referenced workload keeps its pod template, as a JSON pointer
 * (`/spec/template`, or `/template` for a PodTemplate), or undefined for a
 * kind Argo does not support. Undo patches the template there.
 */
export function workloadTemplatePointer(ref: NonNullable<Rollout['spec']['workloadRef']>): string | undefined {
  const info = WORKLOADS[`${groupOf(ref.apiVersion)}/${ref.kind}`];
  return info && `/${info.template.join('/')}`;
}

/** The InvalidSpec problem of a workloadRef before its workload is looked up, or undefined. */
export function workloadRefProblem(rollout: Rollout): string | undefined {
  const ref = rollout.spec.workloadRef;
  if (!ref) return undefined;
  const template = rollout.spec.template as { metadata?: object; spec?: { containers?: unknown[] } } | undefined;
  const empty = !template || ((template.spec?.containers ?? []).length === 0 && Object.keys(template.metadata ?? {}).length === 0);
  if (!empty) return 'spec.template: Internal error: template must be empty for workload reference rollout';
  if (!WORKLOADS[`${groupOf(ref.apiVersion)}/${ref.kind}`]) {
    return `spec.workloadRef: Invalid value: ${JSON.stringify(ref)}: workload of type ${groupOf(ref.apiVersion)}/${ref.kind} is not supported`;
  }
  return undefined;
}

/** The Rollout with its template (and selector) resolved from the workload (Resolve). */
export function resolveWorkloadRef(rollout: Rollout, workload: KubeObject): Rollout {
  const ref = rollout.spec.workloadRef!;
  const info = WORKLOADS[`${groupOf(ref.apiVersion)}/${ref.kind}`];
  const template = at(workload, info.template) as Rollout['spec']['template'];
  const selector = info.selector && !rollout.spec.selector ? (at(workload, info.selector) as Rollout['spec']['selector']) : rollout.spec.selector;
  return { ...rollout, spec: { ...rollout.spec, template: structuredClone(template), selector } };
}

/**
 * The Deployment's replicas after this reconcile under `scaleDown`, or
 * undefined to leave it. Only the Rollout's first revision migrates, as in
 * Argo (reconcileNewReplicaSet, promoteStable).
 */
export function workloadReplicas(rollout: Rollout, newRevision: number, current: number): number | undefined {
  const ref = rollout.spec.workloadRef;
  if (!ref || ref.kind !== 'Deployment' || newRevision !== 1) return undefined;
  const healthy = rollout.status?.phase === 'Healthy';
  const mode = (ref.scaleDown ?? 'never').toLowerCase();
  if (mode === 'onsuccess') return healthy && current !== 0 ? 0 : undefined;
  if (mode !== 'progressively') return undefined;
  if (healthy) return current !== 0 ? 0 : undefined;
  const ready = rollout.status?.readyReplicas ?? 0;
  if (rollout.spec.replicas === undefined || ready === 0) return undefined;
  const target = Math.max(0, rollout.spec.replicas - ready);
  return target !== current ? target : undefined;
}
