import type { LoggerService } from '@backstage/backend-plugin-api';
import type { AnalysisRun, AnalysisTemplateSpec, Rollout, RolloutAnalysis, RolloutStatus } from '@quarterdeck/plugin-argo-common';
import {
  argoClients,
  Informer,
  ObjectConflictError,
  type WorkQueue,
  type ClusterClient,
  type KubeObject,
} from '@quarterdeck/plugin-argo-node';
import { POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, reconcileCanary, templateHash, type ReplicaSetState } from './canary';

/** A Rollout that refers to something missing, in Argo's InvalidSpec words. */
class InvalidSpecError extends Error {}
import { calculateRolloutPhase } from './phase';
import { reconcileQueue } from './retryOnConflict';
import { rolloutSpecProblem } from './validation';

const FIELD_MANAGER = 'quarterdeck-rollouts';

type ReplicaSet = KubeObject & {
  spec: { replicas?: number };
  status?: { replicas?: number; availableReplicas?: number; readyReplicas?: number };
};

/** A merge patch that turns `before` into `after` at the top level of status (removed fields become null). */
export function statusPatch(before: RolloutStatus | undefined, after: RolloutStatus): Record<string, unknown> | undefined {
  const patch: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(after)) {
    if (JSON.stringify(v) !== JSON.stringify((before as Record<string, unknown> | undefined)?.[k])) patch[k] = v;
  }
  for (const k of Object.keys(before ?? {})) if (!(k in after)) patch[k] = null;
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/**
 * Reconciles the Rollouts of one cluster in `reconcile` mode: reads them and
 * their ReplicaSets from informers, asks the engine what to do, and acts
 * through the cluster layer. Level-triggered: a crash between two actions is
 * repaired by the next pass, which reads everything again.
 */
export class RolloutReconciler {
  private readonly rollouts: Informer<Rollout & KubeObject>;
  private readonly replicaSets: Informer<ReplicaSet>;
  private readonly analysisRuns: Informer<AnalysisRun & KubeObject>;
  private readonly queue: WorkQueue;

  constructor(
    private readonly client: ClusterClient,
    private readonly options: { logger?: LoggerService; resyncMs?: number; now?: () => Date } = {},
  ) {
    this.rollouts = argoClients(client).rollouts.informer(undefined, { logger: options.logger, resyncMs: options.resyncMs ?? 15 * 60_000 });
    this.replicaSets = new Informer<ReplicaSet>(client, { apiVersion: 'apps/v1', kind: 'ReplicaSet' }, { logger: options.logger });
    this.analysisRuns = argoClients(client).analysisRuns.informer(undefined, { logger: options.logger });
    this.queue = reconcileQueue(key => this.reconcile(key), options.logger);
  }

  async start() {
    const enqueue = (o: KubeObject) => this.queue.add(`${o.metadata.namespace}/${o.metadata.name}`);
    this.rollouts.addHandlers({ onAdd: enqueue, onUpdate: (_, o) => enqueue(o) });
    const byOwner = (rs: KubeObject) => {
      const owner = (rs.metadata.ownerReferences ?? []).find(r => r.controller && r.kind === 'Rollout');
      if (owner) this.queue.add(`${rs.metadata.namespace}/${owner.name}`);
    };
    this.replicaSets.addHandlers({ onAdd: byOwner, onUpdate: (_, rs) => byOwner(rs), onDelete: byOwner });
    this.analysisRuns.addHandlers({ onAdd: byOwner, onUpdate: (_, run) => byOwner(run), onDelete: byOwner });
    await Promise.all([this.rollouts.start(), this.replicaSets.start(), this.analysisRuns.start()]);
  }

  async stop() {
    this.queue.stop();
    await Promise.all([this.rollouts.stop(), this.replicaSets.stop(), this.analysisRuns.stop()]);
  }

  /** Resolves when no reconcile is queued or running (for tests). */
  idle() {
    return this.queue.idle();
  }

  private now() {
    return this.options.now?.() ?? new Date();
  }

  /**
   * The AnalysisRun spec of an analysis step: the templates' metrics, with
   * the step's arguments over the templates' (Argo's newAnalysisRunFromRollout).
   * Throws the InvalidSpec message for a missing template or argument.
   */
  private async analysisRunSpec(rollout: Rollout, analysis: RolloutAnalysis, path: string): Promise<AnalysisTemplateSpec> {
    const argo = argoClients(this.client);
    const metrics: AnalysisTemplateSpec['metrics'] = [];
    const args = new Map<string, { name: string; value?: string }>();
    for (const ref of analysis.templates ?? []) {
      const template = ref.clusterScope
        ? await argo.clusterAnalysisTemplates.get(undefined, ref.templateName)
        : await argo.analysisTemplates.get(rollout.metadata.namespace, ref.templateName);
      if (!template) {
        const kind = ref.clusterScope ? 'ClusterAnalysisTemplate' : 'AnalysisTemplate';
        throw new InvalidSpecError(`The Rollout "${rollout.metadata.name}" is invalid: ${path}: Invalid value: "${ref.templateName}": ${kind} '${ref.templateName}' not found`);
      }
      metrics.push(...template.spec.metrics);
      for (const arg of template.spec.args ?? []) if (!args.has(arg.name)) args.set(arg.name, { name: arg.name, value: arg.value });
    }
    for (const arg of analysis.args ?? []) args.set(arg.name, { name: arg.name, value: arg.value });
    const missing = [...args.values()].find(a => a.value === undefined);
    if (missing) {
      throw new InvalidSpecError(`The Rollout "${rollout.metadata.name}" is invalid: ${path}: Invalid value: "${(analysis.templates ?? []).map(t => t.templateName).join(',')}": missing analysis arguments in rollout spec: ${missing.name}`);
    }
    return { metrics, args: [...args.values()], ...(analysis.dryRun ? { dryRun: analysis.dryRun } : {}) };
  }

  private async writeInvalidSpec(rollout: Rollout, problem: string) {
    const now = this.now().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const conditions = (rollout.status?.conditions ?? []).filter(c => c.type !== 'InvalidSpec');
    const previous = rollout.status?.conditions?.find(c => c.type === 'InvalidSpec');
    conditions.push({
      type: 'InvalidSpec',
      status: 'True',
      reason: 'InvalidSpec',
      message: problem,
      lastUpdateTime: previous?.message === problem ? previous.lastUpdateTime : now,
      lastTransitionTime: previous?.lastTransitionTime ?? now,
    });
    const status = { ...(rollout.status ?? {}), conditions, observedGeneration: String(rollout.metadata.generation ?? 1) };
    const { phase, message } = calculateRolloutPhase(rollout.spec, status);
    await this.writeStatus(rollout, { ...status, phase, message });
  }

  private async writeStatus(rollout: Rollout, status: RolloutStatus) {
    const patch = statusPatch(rollout.status, status);
    if (!patch) return;
    // Guarded by the resourceVersion we decided on: a decision made from a
    // stale cache is refused (409) and made again from fresh state.
    await this.client.patch(
      { apiVersion: rollout.apiVersion, kind: 'Rollout', namespace: rollout.metadata.namespace, name: rollout.metadata.name! },
      'merge',
      { metadata: { resourceVersion: rollout.metadata.resourceVersion }, status: patch },
      { subresource: 'status', fieldManager: FIELD_MANAGER },
    );
  }

  async reconcile(key: string): Promise<void> {
    const rollout = this.rollouts.get(key);
    if (!rollout || rollout.metadata.deletionTimestamp) return;

    const problem = rolloutSpecProblem(rollout);
    if (problem) {
      await this.writeInvalidSpec(rollout, problem);
      return;
    }
    // Every analysis step must name templates that exist, with all their arguments.
    const steps = rollout.spec.strategy?.canary?.steps ?? [];
    const stepSpecs = new Map<number, AnalysisTemplateSpec>();
    try {
      for (const [i, step] of steps.entries()) {
        if (step.analysis) stepSpecs.set(i, await this.analysisRunSpec(rollout, step.analysis, `spec.strategy.canary.steps[${i}].analysis.templates`));
      }
    } catch (error) {
      if (!(error instanceof InvalidSpecError)) throw error;
      await this.writeInvalidSpec(rollout, error.message);
      return;
    }
    if (!rollout.spec.strategy?.canary) {
      // The blue-green engine is not there yet: leave such Rollouts alone.
      return;
    }

    const owned = this.replicaSets.list(
      rs => rs.metadata.namespace === rollout.metadata.namespace &&
        (rs.metadata.ownerReferences ?? []).some(r => r.controller && r.uid === rollout.metadata.uid),
    );
    const states: ReplicaSetState[] = owned.map(rs => ({
      name: rs.metadata.name!,
      hash: rs.metadata.labels?.[POD_TEMPLATE_HASH_LABEL] ?? '',
      revision: Number.parseInt(rs.metadata.annotations?.[REVISION_ANNOTATION] ?? '0', 10) || 0,
      specReplicas: rs.spec.replicas ?? 0,
      replicas: rs.status?.replicas ?? 0,
      availableReplicas: rs.status?.availableReplicas ?? 0,
      readyReplicas: rs.status?.readyReplicas ?? 0,
      createdAt: rs.metadata.creationTimestamp ?? '',
    }));
    const hashOf = (o: KubeObject) => o.metadata.labels?.[POD_TEMPLATE_HASH_LABEL];
    const ownedRuns = this.analysisRuns.list(
      run => run.metadata.namespace === rollout.metadata.namespace &&
        (run.metadata.ownerReferences ?? []).some(r => r.controller && r.uid === rollout.metadata.uid),
    );
    const index = rollout.status?.currentStepIndex ?? 0;
    const currentHash = templateHash(rollout);
    const stepRun = ownedRuns.find(run =>
      run.metadata.labels?.['rollout-type'] === 'Step' &&
      run.metadata.labels?.['step-index'] === String(index) &&
      hashOf(run) === currentHash &&
      (!rollout.status?.abortedAt || (run.metadata.creationTimestamp ?? '') >= rollout.status.abortedAt));
    const decision = reconcileCanary({
      rollout,
      replicaSets: states,
      now: this.now(),
      stepAnalysis: stepRun ? { name: stepRun.metadata.name!, phase: stepRun.status?.phase, message: stepRun.status?.message } : undefined,
    });

    // Runs that no longer concern the current step stop measuring.
    for (const run of ownedRuns) {
      const done = ['Successful', 'Failed', 'Error', 'Inconclusive'].includes(run.status?.phase ?? '');
      if (done || run.spec.terminate || run === stepRun) continue;
      await this.client.patch(
        { apiVersion: run.apiVersion, kind: 'AnalysisRun', namespace: run.metadata.namespace, name: run.metadata.name! },
        'merge',
        { spec: { terminate: true } },
        { fieldManager: FIELD_MANAGER },
      );
    }
    if (decision.createStepAnalysis) {
      const i = decision.createStepAnalysis.stepIndex;
      const revision = states.find(rs => rs.hash === currentHash)?.revision ?? decision.create?.revision ?? 1;
      const attempt = ownedRuns.filter(run => run.metadata.labels?.['step-index'] === String(i) && hashOf(run) === currentHash).length;
      const base = `${rollout.metadata.name}-${currentHash}-${revision}-${i}`;
      await this.client.create({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'AnalysisRun',
        metadata: {
          name: attempt > 0 ? `${base}.${attempt}` : base,
          namespace: rollout.metadata.namespace,
          labels: {
            [POD_TEMPLATE_HASH_LABEL]: currentHash,
            'rollout-type': 'Step',
            'step-index': String(i),
            ...(rollout.spec.selector?.matchLabels ?? {}),
          },
          annotations: { [REVISION_ANNOTATION]: String(revision) },
          ownerReferences: [{ apiVersion: rollout.apiVersion, kind: 'Rollout', name: rollout.metadata.name!, uid: rollout.metadata.uid!, controller: true, blockOwnerDeletion: true }],
        },
        spec: stepSpecs.get(i)!,
      }, { fieldManager: FIELD_MANAGER }).catch(error => {
        if (!(error instanceof ObjectConflictError)) throw error;
      });
    }

    if (decision.create) {
      const { name, hash, revision } = decision.create;
      const labels = { ...(rollout.spec.template?.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
      try {
        await this.client.create({
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: {
            name,
            namespace: rollout.metadata.namespace,
            labels,
            annotations: { [REVISION_ANNOTATION]: String(revision) },
            ownerReferences: [{ apiVersion: rollout.apiVersion, kind: 'Rollout', name: rollout.metadata.name!, uid: rollout.metadata.uid!, controller: true, blockOwnerDeletion: true }],
          },
          spec: {
            replicas: 0,
            minReadySeconds: rollout.spec.minReadySeconds,
            selector: { ...rollout.spec.selector, matchLabels: { ...(rollout.spec.selector?.matchLabels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash } },
            template: { ...(rollout.spec.template ?? {}), metadata: { ...(rollout.spec.template?.metadata ?? {}), labels } },
          },
        }, { fieldManager: FIELD_MANAGER });
      } catch (error) {
        if (!(error instanceof ObjectConflictError)) throw error; // it exists: the informer will show it
      }
    }
    for (const { name, replicas } of decision.scale) {
      await this.client.patch(
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: rollout.metadata.namespace, name },
        'merge',
        { spec: { replicas } },
        { fieldManager: FIELD_MANAGER },
      );
    }
    await this.writeStatus(rollout, decision.status);
    if (decision.requeueAfterMs !== undefined) this.queue.addAfter(key, decision.requeueAfterMs);
  }
}
