import type { LoggerService } from '@backstage/backend-plugin-api';
import type { AnalysisArg, AnalysisRun, AnalysisTemplateSpec, DryRunRule, MeasurementRetentionRule, Rollout, RolloutAnalysis, RolloutStatus } from '@quarterdeck/plugin-argo-common';
import {
  argoClients,
  createMergePatch,
  Informer,
  ObjectConflictError,
  ObjectNotFoundError,
  objectKey,
  type WorkQueue,
  type ClusterClient,
  type KubeObject,
} from '@quarterdeck/plugin-argo-node';
import { reconcileBlueGreen } from './bluegreen';
import { reconcileCanary } from './canary';
import {
  MANAGED_BY_ANNOTATION,
  POD_TEMPLATE_HASH_LABEL,
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  ROLLOUT_TYPE_LABEL,
  SCALE_DOWN_DEADLINE_ANNOTATION,
  STEP_INDEX_LABEL,
  currentTemplateHash,
  type AnalysisKind,
  type AnalysisRunState,
  type ReplicaSetState,
  type RolloutDecision,
  type ServiceState,
} from './objects';
import { calculateRolloutPhase } from './phase';
import { checkRolloutFields, mergeArgs, unresolvedArg, withRolloutValues } from './analysis/args';
import { analysisRunsToDelete, DEFAULT_SUCCESSFUL_RUN_HISTORY_LIMIT, DEFAULT_UNSUCCESSFUL_RUN_HISTORY_LIMIT } from './analysisHistory';
import { compileCondition } from './analysis/conditions';
import { duplicateRule, endlessMetric } from './analysis/validation';
import { needsRestart, planRestart, type PodState } from './restart';
import { trafficRoutersFor } from './routers';
import type { QuarterdeckGateway } from '../gateway/client';
import { resolveWorkloadRef, workloadRefProblem, workloadReplicas } from './workloadRef';
import { reconcileQueue } from './retryOnConflict';
import { rolloutSpecProblem } from './validation';

/** A Rollout that refers to something missing, in Argo's InvalidSpec words. */
class InvalidSpecError extends Error {}

const FIELD_MANAGER = 'quarterdeck-rollouts';

type Service = KubeObject & { spec?: { selector?: Record<string, string> } };

type ReplicaSet = KubeObject & {
  spec: { replicas?: number; template?: unknown };
  metadata: { deletionTimestamp?: string };
  status?: { replicas?: number; availableReplicas?: number; readyReplicas?: number };
};

/**
 * The merge patch that turns status `before` into `after`, at every depth: a
 * field the new status no longer has (a finished release's
 * `canary.currentStepAnalysisRunStatus`) is removed, not left for the next
 * release's analysis step to take as its own run.
 */
export function statusPatch(before: RolloutStatus | undefined, after: RolloutStatus): Record<string, unknown> | undefined {
  return createMergePatch(before ?? {}, after) as Record<string, unknown> | undefined;
}

/** How soon a Rollout whose cache has not yet seen this reconciler's last write is looked at again (Argo's StaleCacheRequeueDelay). */
const STALE_CACHE_REQUEUE_MS = 100;

/**
 * Whether the cached copy is older than the last write this reconciler made
 * (Argo's resourceversion.Tracker.IsCacheStale): resourceVersions compared as
 * the integers both drivers make them; anything else is taken as current.
 */
export function cacheIsBehind(cached: string | undefined, written: string | undefined): boolean {
  if (!cached || !written || !/^\d+$/.test(cached) || !/^\d+$/.test(written)) return false;
  return BigInt(cached) < BigInt(written);
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
  private readonly services: Informer<Service>;
  private readonly deployments: Informer<KubeObject>;
  private readonly queue: WorkQueue;
  /**
   * The resourceVersion of this reconciler's last write of each Rollout. A
   * pass started by another object's event (the AnalysisRun it just created)
   * can run before the Rollout's own watch event of that write: from the old
   * status it would make a second run and stop the first, which then ends
   * "Successful, Run Terminated" — a step passed unmeasured. Such a pass waits.
   */
  private readonly lastWritten = new Map<string, string>();

  constructor(
    private readonly client: ClusterClient,
    private readonly options: { logger?: LoggerService; resyncMs?: number; now?: () => Date; gateway?: QuarterdeckGateway } = {},
  ) {
    this.rollouts = argoClients(client).rollouts.informer(undefined, { logger: options.logger, resyncMs: options.resyncMs ?? 15 * 60_000 });
    this.replicaSets = new Informer<ReplicaSet>(client, { apiVersion: 'apps/v1', kind: 'ReplicaSet' }, { logger: options.logger });
    this.analysisRuns = argoClients(client).analysisRuns.informer(undefined, { logger: options.logger });
    this.services = new Informer<Service>(client, { apiVersion: 'v1', kind: 'Service' }, { logger: options.logger });
    this.deployments = new Informer<KubeObject>(client, { apiVersion: 'apps/v1', kind: 'Deployment' }, { logger: options.logger });
    this.queue = reconcileQueue(key => this.reconcile(key), options.logger);
  }

  async start() {
    // Every cache is filled before the first pass (client-go's WaitForCacheSync): a pass over an empty
    // Service or ReplicaSet cache would write a false InvalidSpec, or scale from nothing. Handlers added
    // then are called for what the caches hold, so every Rollout is looked at once.
    await Promise.all([this.rollouts.start(), this.replicaSets.start(), this.analysisRuns.start(), this.services.start(), this.deployments.start()]);
    const enqueue = (o: KubeObject) => this.queue.add(`${o.metadata.namespace}/${o.metadata.name}`);
    this.rollouts.addHandlers({ onAdd: enqueue, onUpdate: (_, o) => enqueue(o) });
    const byOwner = (rs: KubeObject) => {
      const owner = (rs.metadata.ownerReferences ?? []).find(r => r.controller && r.kind === 'Rollout');
      if (owner) this.queue.add(`${rs.metadata.namespace}/${owner.name}`);
    };
    this.replicaSets.addHandlers({ onAdd: byOwner, onUpdate: (_, rs) => byOwner(rs), onDelete: byOwner });
    this.analysisRuns.addHandlers({ onAdd: byOwner, onUpdate: (_, run) => byOwner(run), onDelete: byOwner });
    // A Service a Rollout names: its Rollouts look again (it may have appeared, or been switched by someone else).
    const byService = (svc: KubeObject) => {
      for (const r of this.rollouts.list(o => o.metadata.namespace === svc.metadata.namespace && serviceNames(o).includes(svc.metadata.name!))) enqueue(r);
    };
    this.services.addHandlers({ onAdd: byService, onUpdate: (_, svc) => byService(svc), onDelete: byService });
    // A workloadRef's Deployment: its Rollouts take the new template.
    const byWorkload = (d: KubeObject) => {
      for (const r of this.rollouts.list(o => o.metadata.namespace === d.metadata.namespace && o.spec.workloadRef?.kind === d.kind && o.spec.workloadRef.name === d.metadata.name)) enqueue(r);
    };
    this.deployments.addHandlers({ onAdd: byWorkload, onUpdate: (_, d) => byWorkload(d), onDelete: byWorkload });
  }

  async stop() {
    this.queue.stop();
    await Promise.all([this.rollouts.stop(), this.replicaSets.stop(), this.analysisRuns.stop(), this.services.stop(), this.deployments.stop()]);
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
  private async analysisRunSpec(rollout: Rollout, analysis: RolloutAnalysis, path: string, analysisKind: AnalysisKind): Promise<AnalysisTemplateSpec> {
    const argo = argoClients(this.client);
    const metrics: AnalysisTemplateSpec['metrics'] = [];
    const templateArgs: AnalysisArg[] = [];
    // The Rollout's rules first, then each template's (mergeDryRunMetrics and its measurementRetention twin).
    const dryRun: DryRunRule[] = [...(analysis.dryRun ?? [])];
    const measurementRetention: MeasurementRetentionRule[] = [...(analysis.measurementRetention ?? [])];
    for (const ref of analysis.templates ?? []) {
      const template = ref.clusterScope
        ? await argo.clusterAnalysisTemplates.get(undefined, ref.templateName)
        : await argo.analysisTemplates.get(rollout.metadata.namespace, ref.templateName);
      if (!template) {
        const kind = ref.clusterScope ? 'ClusterAnalysisTemplate' : 'AnalysisTemplate';
        throw new InvalidSpecError(`The Rollout "${rollout.metadata.name}" is invalid: ${path}: Invalid value: "${ref.templateName}": ${kind} '${ref.templateName}' not found`);
      }
      // A condition that does not parse makes the Rollout invalid up front, naming the field.
      for (const [i, metric] of template.spec.metrics.entries()) {
        for (const field of ['successCondition', 'failureCondition'] as const) {
          const source = metric[field];
          if (typeof source !== 'string' || source.trim() === '') continue;
          try {
            compileCondition(source);
          } catch (error) {
            const kind = ref.clusterScope ? 'ClusterAnalysisTemplate' : 'AnalysisTemplate';
            throw new InvalidSpecError(`The Rollout "${rollout.metadata.name}" is invalid: ${path}: Invalid value: "${ref.templateName}": ${kind} '${ref.templateName}' spec.metrics[${i}].${field}: ${(error as Error).message}`);
          }
        }
      }
      // A step's or promotion's analysis must end for the Rollout to go on: a metric with an interval and no count never does.
      const endless = analysisKind !== 'Background' ? endlessMetric(template.spec.metrics) : undefined;
      if (endless) {
        throw new InvalidSpecError(`The Rollout "${rollout.metadata.name}" is invalid: ${path}: Invalid value: "${ref.templateName}": AnalysisTemplate ${ref.templateName} has metric ${endless.name} which runs indefinitely. Invalid value for count: ${endless.count ?? '<nil>'}`);
      }
      metrics.push(...template.spec.metrics);
      templateArgs.push(...(template.spec.args ?? []));
      dryRun.push(...(template.spec.dryRun ?? []));
      measurementRetention.push(...(template.spec.measurementRetention ?? []));
    }
    const templates = (analysis.templates ?? []).map(t => t.templateName).join(',');
    const twice = duplicateRule('dryRun', dryRun) ?? duplicateRule('measurementRetention', measurementRetention);
    if (twice) throw new InvalidSpecError(`The Rollout "${rollout.metadata.name}" is invalid: ${path}: Invalid value: "${templates}": ${twice}`);
    const args = mergeArgs(templateArgs, analysis.args ?? []);
    const missing = unresolvedArg(args);
    if (missing) {
      throw new InvalidSpecError(`The Rollout "${rollout.metadata.name}" is invalid: ${path}: Invalid value: "${templates}": missing analysis arguments in rollout spec: ${missing.name}`);
    }
    try {
      checkRolloutFields(args, rollout);
    } catch (error) {
      throw new InvalidSpecError(`The Rollout "${rollout.metadata.name}" is invalid: ${path}: Invalid value: "${templates}": ${(error as Error).message}`);
    }
    return { metrics, args, ...(dryRun.length ? { dryRun } : {}), ...(measurementRetention.length ? { measurementRetention } : {}) };
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
    // Guarded by the resourceVersion we decided on: the status of a decision made
    // from a stale cache is refused (409) and made again from fresh state. The
    // writes before it (ReplicaSet scales, selectors, weights) are not guarded;
    // each is what the next pass, from fresh state, sets again or undoes.
    this.wrote(await this.client.patch(
      { apiVersion: rollout.apiVersion, kind: 'Rollout', namespace: rollout.metadata.namespace, name: rollout.metadata.name! },
      'merge',
      { metadata: { resourceVersion: rollout.metadata.resourceVersion }, status: patch },
      { subresource: 'status', fieldManager: FIELD_MANAGER },
    ));
  }

  /** Remembers the Rollout as this reconciler's write left it (lastWritten). */
  private wrote(rollout: KubeObject) {
    const rv = rollout.metadata.resourceVersion;
    if (rv) this.lastWritten.set(objectKey(rollout), rv);
  }

  /** The workload a `workloadRef` names, from an informer where there is one. */
  private async workloadOf(rollout: Rollout): Promise<KubeObject | undefined> {
    const ref = rollout.spec.workloadRef!;
    const key = `${rollout.metadata.namespace}/${ref.name}`;
    if (ref.kind === 'Deployment') return this.deployments.get(key);
    if (ref.kind === 'ReplicaSet') return this.replicaSets.get(key);
    return this.client.get({ apiVersion: ref.apiVersion, kind: ref.kind, namespace: rollout.metadata.namespace, name: ref.name });
  }

  /** Every RolloutAnalysis the Rollout names, with the field path InvalidSpec messages use. */
  private analysesOf(rollout: Rollout): Array<{ kind: AnalysisKind; stepIndex?: number; analysis: RolloutAnalysis; path: string }> {
    const { canary, blueGreen } = rollout.spec.strategy ?? {};
    const found: Array<{ kind: AnalysisKind; stepIndex?: number; analysis: RolloutAnalysis; path: string }> = [];
    for (const [i, step] of (canary?.steps ?? []).entries()) {
      if (step.analysis) found.push({ kind: 'Step', stepIndex: i, analysis: step.analysis, path: `spec.strategy.canary.steps[${i}].analysis.templates` });
    }
    if (canary?.analysis) found.push({ kind: 'Background', analysis: canary.analysis, path: 'spec.strategy.canary.analysis.templates' });
    if (blueGreen?.prePromotionAnalysis) found.push({ kind: 'PrePromotion', analysis: blueGreen.prePromotionAnalysis, path: 'spec.strategy.blueGreen.prePromotionAnalysis.templates' });
    if (blueGreen?.postPromotionAnalysis) found.push({ kind: 'PostPromotion', analysis: blueGreen.postPromotionAnalysis, path: 'spec.strategy.blueGreen.postPromotionAnalysis.templates' });
    return found;
  }

  /** The Service a Rollout names, or the InvalidSpec message for a missing or mismatched one (getReferencedService, ValidateService). */
  private service(rollout: Rollout, name: string, path: string): ServiceState {
    const svc = this.services.get(`${rollout.metadata.namespace}/${name}`);
    const invalid = (message: string) => new InvalidSpecError(`The Rollout "${rollout.metadata.name}" is invalid: ${path}: Invalid value: "${name}": ${message}`);
    if (!svc) throw invalid(`services "${name}" not found`);
    const labels = rollout.spec.template?.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(svc.spec?.selector ?? {})) {
      if (k !== POD_TEMPLATE_HASH_LABEL && labels[k] !== v) throw invalid(`Service "${name}" has unmatch label "${k}" in rollout`);
    }
    const manager = svc.metadata.annotations?.[MANAGED_BY_ANNOTATION];
    if (manager && manager !== rollout.metadata.name) {
      throw invalid(`This service "${name}" is already managed by another rollout "${manager}"`);
    }
    return { name, selectorHash: svc.spec?.selector?.[POD_TEMPLATE_HASH_LABEL], managed: Boolean(manager) };
  }

  async reconcile(key: string): Promise<void> {
    const live = this.rollouts.get(key);
    if (!live) this.lastWritten.delete(key);
    if (!live || live.metadata.deletionTimestamp) return;
    if (cacheIsBehind(live.metadata.resourceVersion, this.lastWritten.get(key))) {
      this.queue.addAfter(key, STALE_CACHE_REQUEUE_MS);
      return;
    }
    const invalidRef = workloadRefProblem(live);
    if (invalidRef) {
      await this.writeInvalidSpec(live, `The Rollout "${live.metadata.name}" is invalid: ${invalidRef}`);
      return;
    }
    const workload = live.spec.workloadRef ? await this.workloadOf(live) : undefined;
    if (live.spec.workloadRef && !workload) {
      const ref = live.spec.workloadRef;
      const resource = `${ref.kind.toLowerCase()}s${ref.apiVersion.includes('/') ? `.${ref.apiVersion.split('/')[0]}` : ''}`;
      await this.writeInvalidSpec(live, `The Rollout "${live.metadata.name}" is invalid: spec.workloadRef: Invalid value: ${JSON.stringify(ref)}: ${resource} "${ref.name}" not found`);
      return;
    }
    const rollout = workload ? resolveWorkloadRef(live, workload) : live;

    const problem = rolloutSpecProblem(rollout);
    if (problem) {
      await this.writeInvalidSpec(rollout, problem);
      return;
    }
    // Every analysis must name templates that exist, with all their arguments; every Service must exist.
    const specs = new Map<string, AnalysisTemplateSpec>();
    const specKey = (kind: AnalysisKind, stepIndex?: number) => `${kind}/${stepIndex ?? ''}`;
    const { blueGreen, canary } = rollout.spec.strategy ?? {};
    let services: { active: ServiceState; preview?: ServiceState } | undefined;
    let canaryServices: { stable?: ServiceState; canary?: ServiceState } = {};
    try {
      for (const { kind, stepIndex, analysis, path } of this.analysesOf(rollout)) {
        specs.set(specKey(kind, stepIndex), await this.analysisRunSpec(rollout, analysis, path, kind));
      }
      if (blueGreen) {
        services = {
          active: this.service(rollout, blueGreen.activeService, 'spec.strategy.blueGreen.activeService'),
          ...(blueGreen.previewService ? { preview: this.service(rollout, blueGreen.previewService, 'spec.strategy.blueGreen.previewService') } : {}),
        };
      }
      if (canary) {
        canaryServices = {
          ...(canary.stableService ? { stable: this.service(rollout, canary.stableService, 'spec.strategy.canary.stableService') } : {}),
          ...(canary.canaryService ? { canary: this.service(rollout, canary.canaryService, 'spec.strategy.canary.canaryService') } : {}),
        };
      }
    } catch (error) {
      if (!(error instanceof InvalidSpecError)) throw error;
      await this.writeInvalidSpec(rollout, error.message);
      return;
    }

    const ownedBy = (o: KubeObject) => o.metadata.namespace === rollout.metadata.namespace &&
      (o.metadata.ownerReferences ?? []).some(r => r.controller && r.uid === rollout.metadata.uid);
    const owned = this.replicaSets.list(rs => ownedBy(rs) && !rs.metadata.deletionTimestamp);
    const states: ReplicaSetState[] = owned.map(rs => ({
      name: rs.metadata.name!,
      hash: rs.metadata.labels?.[POD_TEMPLATE_HASH_LABEL] ?? '',
      revision: Number.parseInt(rs.metadata.annotations?.[REVISION_ANNOTATION] ?? '0', 10) || 0,
      specReplicas: rs.spec.replicas ?? 0,
      replicas: rs.status?.replicas ?? 0,
      availableReplicas: rs.status?.availableReplicas ?? 0,
      readyReplicas: rs.status?.readyReplicas ?? 0,
      createdAt: rs.metadata.creationTimestamp ?? '',
      scaleDownDeadline: rs.metadata.annotations?.[SCALE_DOWN_DEADLINE_ANNOTATION],
      template: rs.spec.template,
    }));
    const hash = currentTemplateHash(rollout, states);
    const ownedRuns = this.analysisRuns.list(ownedBy);
    const runStates: AnalysisRunState[] = ownedRuns.map(run => {
      const step = run.metadata.labels?.[STEP_INDEX_LABEL];
      return {
        name: run.metadata.name!,
        kind: run.metadata.labels?.[ROLLOUT_TYPE_LABEL] as AnalysisKind | undefined,
        stepIndex: step === undefined ? undefined : Number(step),
        phase: run.status?.phase,
        message: run.status?.message,
      };
    });
    const restart = await this.restartPods(rollout, owned, hash);
    if (canary && restart.evicted > 0) {
      // rolloutCanary: the ReplicaSets' availability does not count the pods just evicted, so scaling down now could
      // take more pods than maxUnavailable allows; the next pass (their ReplicaSet's update brings it) counts again.
      if (restart.requeueAfterMs !== undefined) this.queue.addAfter(key, restart.requeueAfterMs);
      return;
    }
    const current = restart.done ? { ...rollout, status: { ...rollout.status, restartedAt: rollout.spec.restartAt } } : rollout;
    const decision: RolloutDecision = blueGreen
      ? reconcileBlueGreen({ rollout: current, replicaSets: states, services: services!, analysisRuns: runStates, now: this.now() })
      : reconcileCanary({ rollout: current, replicaSets: states, analysisRuns: runStates, services: canaryServices, now: this.now() });
    await this.carryOut(rollout, hash, decision, ownedRuns, specs, specKey);
    const revision = decision.create?.revision ?? decision.revise?.revision ?? states.find(rs => rs.hash === hash)?.revision ?? 0;
    // Argo's SetRolloutRevision: the Rollout carries the revision of its current template, which
    // `kubectl argo rollouts get` and notifications read. Written after the status (whose write is
    // guarded by the resourceVersion decided on); the change brings one more pass, which finds it set.
    if (revision > 0 && live.metadata.annotations?.[REVISION_ANNOTATION] !== String(revision)) {
      this.wrote(await this.client.patch(
        { apiVersion: live.apiVersion, kind: 'Rollout', namespace: live.metadata.namespace, name: live.metadata.name! },
        'merge',
        { metadata: { annotations: { [REVISION_ANNOTATION]: String(revision) } } },
        { fieldManager: FIELD_MANAGER },
      ));
    }
    if (workload?.kind === 'Deployment') {
      const deploymentReplicas = (workload.spec as { replicas?: number } | undefined)?.replicas ?? 1;
      const target = workloadReplicas(rollout, revision, deploymentReplicas);
      if (target !== undefined) {
        await this.client.patch({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: rollout.metadata.namespace, name: workload.metadata.name! }, 'merge', { spec: { replicas: target } }, { fieldManager: FIELD_MANAGER });
      }
    }
    for (const ms of [decision.requeueAfterMs, restart.requeueAfterMs]) if (ms !== undefined) this.queue.addAfter(key, ms);
  }

  /**
   * `spec.restartAt`: evicts (deletes) pods older than it, a few at a time,
   * and says when all are newer. Lists pods only while a restart is due and
   * the template is unchanged, as Argo's pod restarter does.
   */
  private async restartPods(rollout: Rollout, owned: ReplicaSet[], hash: string): Promise<{ done: boolean; evicted: number; requeueAfterMs?: number }> {
    const now = this.now();
    const restartAt = rollout.spec.restartAt ? Date.parse(rollout.spec.restartAt) : Number.NaN;
    if (restartAt > now.getTime()) return { done: false, evicted: 0, requeueAfterMs: restartAt - now.getTime() + 1 };
    if (!needsRestart(rollout, now) || rollout.status?.currentPodHash !== hash) return { done: false, evicted: 0 };
    const uids = new Set(owned.map(rs => rs.metadata.uid));
    const labelSelector = Object.entries(rollout.spec.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    const { items } = await this.client.list({ apiVersion: 'v1', kind: 'Pod', namespace: rollout.metadata.namespace }, { labelSelector });
    const pods: PodState[] = items
      .filter(pod => (pod.metadata.ownerReferences ?? []).some(r => uids.has(r.uid)))
      .map(pod => ({
        name: pod.metadata.name!,
        createdAt: pod.metadata.creationTimestamp ?? '',
        available: ((pod.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? [])
          .some(c => c.type === 'Ready' && c.status === 'True'),
        deleting: Boolean(pod.metadata.deletionTimestamp),
      }));
    const total = owned.reduce((n, rs) => n + (rs.spec.replicas ?? 0), 0);
    const plan = planRestart(rollout, pods, total);
    for (const name of plan.evict) {
      await this.client.delete({ apiVersion: 'v1', kind: 'Pod', namespace: rollout.metadata.namespace, name }).catch(error => {
        if (!(error instanceof ObjectNotFoundError)) throw error;
      });
    }
    return { done: plan.done, evicted: plan.evict.length, requeueAfterMs: plan.requeueAfterMs };
  }

  /** Acts on a decision, in the order Argo's controller acts within one reconcile. */
  private async carryOut(
    rollout: Rollout,
    /** The current template's ReplicaSet's hash (currentTemplateHash). */
    hash: string,
    decision: RolloutDecision,
    ownedRuns: Array<AnalysisRun & KubeObject>,
    specs: Map<string, AnalysisTemplateSpec>,
    specKey: (kind: AnalysisKind, stepIndex?: number) => string,
  ) {
    const namespace = rollout.metadata.namespace;
    const owner = { apiVersion: rollout.apiVersion, kind: 'Rollout', name: rollout.metadata.name!, uid: rollout.metadata.uid!, controller: true, blockOwnerDeletion: true };
    const ignoreConflict = (error: unknown) => {
      if (!(error instanceof ObjectConflictError)) throw error; // it exists: the informer will show it
    };
    const ignoreMissing = (error: unknown) => {
      if (!(error instanceof ObjectNotFoundError)) throw error;
    };

    const rsRef = (name: string) => ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace, name });
    if (decision.create) {
      const { name, hash: rsHash, revision } = decision.create;
      const labels = { ...(rollout.spec.template?.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: rsHash };
      await this.client.create({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name, namespace, labels, annotations: { [REVISION_ANNOTATION]: String(revision) }, ownerReferences: [owner] },
        spec: {
          replicas: 0,
          minReadySeconds: rollout.spec.minReadySeconds,
          selector: { ...rollout.spec.selector, matchLabels: { ...(rollout.spec.selector?.matchLabels ?? {}), [POD_TEMPLATE_HASH_LABEL]: rsHash } },
          template: { ...(rollout.spec.template ?? {}), metadata: { ...(rollout.spec.template?.metadata ?? {}), labels } },
        },
      }, { fieldManager: FIELD_MANAGER }).catch(async error => {
        if (!(error instanceof ObjectConflictError)) throw error;
        // A ReplicaSet of that name someone else owns (a Deployment's, for the same template):
        // count the collision, which changes the hash, and decide again (getNewReplicaSet).
        const existing = await this.client.get(rsRef(name));
        if (existing && !(existing.metadata.ownerReferences ?? []).some(r => r.uid === rollout.metadata.uid)) {
          const collisionCount = ((rollout.status?.collisionCount as number | undefined) ?? 0) + 1;
          await this.client.patch(
            { apiVersion: rollout.apiVersion, kind: 'Rollout', namespace, name: rollout.metadata.name! },
            'merge',
            { metadata: { resourceVersion: rollout.metadata.resourceVersion }, status: { collisionCount } },
            { subresource: 'status', fieldManager: FIELD_MANAGER },
          );
          throw new ObjectConflictError(`ReplicaSet ${name} belongs to another owner; collisionCount is now ${collisionCount}`);
        }
      });
    }
    if (decision.revise) {
      // syncReplicaSetRevision: the reused ReplicaSet becomes the newest revision (what undo goes back from); its old number goes to the history.
      const { name, revision } = decision.revise;
      const annotations = this.replicaSets.get(`${namespace}/${name}`)?.metadata.annotations ?? {};
      const history = [annotations[REVISION_HISTORY_ANNOTATION], annotations[REVISION_ANNOTATION]].filter(Boolean).join(',');
      await this.client.patch(rsRef(name), 'merge', {
        metadata: { annotations: { [REVISION_ANNOTATION]: String(revision), ...(history ? { [REVISION_HISTORY_ANNOTATION]: history } : {}) } },
      }, { fieldManager: FIELD_MANAGER });
    }
    // Services and traffic before scaling, as rolloutCanary orders them: a router that fails stops the pass before
    // anything is scaled (an aborted canary is not scaled away while the route still sends it traffic).
    for (const { name, hash: to } of decision.switchServices) {
      // switchServiceSelector: the selector, and the managed-by annotation the first time.
      await this.client.patch(
        { apiVersion: 'v1', kind: 'Service', namespace, name },
        'merge',
        { metadata: { annotations: { [MANAGED_BY_ANNOTATION]: rollout.metadata.name } }, spec: { selector: { [POD_TEMPLATE_HASH_LABEL]: to } } },
        { fieldManager: FIELD_MANAGER },
      );
    }
    if (decision.trafficWeight !== undefined) {
      const weights = decision.status.canary?.weights;
      const versions = {
        canaryHash: weights?.canary.podTemplateHash,
        stableHash: weights?.stable.podTemplateHash,
        annotationsOf: (podHash: string) => {
          const rs = this.replicaSets.list(r => r.metadata.namespace === namespace && r.metadata.labels?.[POD_TEMPLATE_HASH_LABEL] === podHash &&
            (r.metadata.ownerReferences ?? []).some(o => o.uid === rollout.metadata.uid))[0] as (ReplicaSet & { spec: { template?: { metadata?: { annotations?: Record<string, string> } } } }) | undefined;
          return rs?.spec.template?.metadata?.annotations ?? (podHash === hash ? rollout.spec.template?.metadata?.annotations : undefined);
        },
      };
      for (const router of trafficRoutersFor(rollout, this.client, this.options.gateway)) await router.setWeight(rollout, decision.trafficWeight, versions);
    }
    for (const { name, scaleDownDeadline } of decision.annotate) {
      await this.client.patch(rsRef(name), 'merge', { metadata: { annotations: { [SCALE_DOWN_DEADLINE_ANNOTATION]: scaleDownDeadline } } }, { fieldManager: FIELD_MANAGER });
    }
    for (const { name, replicas } of decision.scale) {
      await this.client.patch(rsRef(name), 'merge', { spec: { replicas } }, { fieldManager: FIELD_MANAGER });
    }
    // Runs no longer current stop measuring (cancelAnalysisRuns).
    const keep = new Set(decision.keepAnalysis);
    for (const run of ownedRuns) {
      const done = ['Successful', 'Failed', 'Error', 'Inconclusive'].includes(run.status?.phase ?? '');
      if (done || run.spec.terminate || keep.has(run.metadata.name!)) continue;
      await this.client.patch(
        { apiVersion: run.apiVersion, kind: 'AnalysisRun', namespace, name: run.metadata.name! },
        'merge',
        { spec: { terminate: true } },
        { fieldManager: FIELD_MANAGER },
      ).catch(ignoreMissing);
    }
    // Past runs are kept as far as the history limits say, and only while their ReplicaSet is (the one this pass deletes is gone).
    const liveHashes = new Set([hash, ...this.replicaSets
      .list(rs => rs.metadata.namespace === namespace && !rs.metadata.deletionTimestamp && !decision.delete.includes(rs.metadata.name!) &&
        (rs.metadata.ownerReferences ?? []).some(o => o.uid === rollout.metadata.uid))
      .map(rs => rs.metadata.labels?.[POD_TEMPLATE_HASH_LABEL] ?? '')]);
    const old = analysisRunsToDelete(ownedRuns.filter(run => !keep.has(run.metadata.name!) && !run.metadata.deletionTimestamp), liveHashes, {
      successful: rollout.spec.analysis?.successfulRunHistoryLimit ?? DEFAULT_SUCCESSFUL_RUN_HISTORY_LIMIT,
      unsuccessful: rollout.spec.analysis?.unsuccessfulRunHistoryLimit ?? DEFAULT_UNSUCCESSFUL_RUN_HISTORY_LIMIT,
    });
    for (const run of old) {
      await this.client.delete({ apiVersion: run.apiVersion, kind: 'AnalysisRun', namespace, name: run.metadata.name! }).catch(ignoreMissing);
    }
    const revision = decision.create?.revision ?? decision.revise?.revision ?? this.replicaSets.get(`${namespace}/${rollout.metadata.name}-${hash}`)?.metadata.annotations?.[REVISION_ANNOTATION] ?? '1';
    // The pod template hashes an argument asks for: the new ReplicaSet's, and the stable one's as this pass leaves it.
    const hashes = { latest: hash, stable: decision.status.stableRS ?? rollout.status?.stableRS ?? hash };
    const runSpec = (spec: AnalysisTemplateSpec): AnalysisTemplateSpec => ({ ...spec, args: withRolloutValues(spec.args, rollout, hashes) });
    for (const request of decision.createAnalysis) {
      await this.client.create({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'AnalysisRun',
        metadata: {
          name: request.name,
          namespace,
          labels: {
            [POD_TEMPLATE_HASH_LABEL]: hash,
            [ROLLOUT_TYPE_LABEL]: request.kind,
            ...(request.stepIndex !== undefined ? { [STEP_INDEX_LABEL]: String(request.stepIndex) } : {}),
            ...(rollout.spec.selector?.matchLabels ?? {}),
          },
          annotations: { [REVISION_ANNOTATION]: String(revision) },
          ownerReferences: [owner],
        },
        spec: runSpec(specs.get(specKey(request.kind, request.stepIndex))!),
      }, { fieldManager: FIELD_MANAGER }).catch(ignoreConflict);
    }
    for (const name of decision.delete) {
      await this.client.delete(rsRef(name)).catch(ignoreMissing);
    }
    await this.writeStatus(rollout, decision.status);
  }
}

/** The Services a Rollout's strategy names. */
function serviceNames(rollout: Rollout): string[] {
  const { canary, blueGreen } = rollout.spec.strategy ?? {};
  return [blueGreen?.activeService, blueGreen?.previewService, canary?.stableService, canary?.canaryService].filter((n): n is string => Boolean(n));
}
