import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { planRolloutAction } from '../rollouts/actions';
import { reconcileBlueGreen } from '../rollouts/bluegreen';
import { reconcileCanary } from '../rollouts/canary';
import { currentTemplateHash, POD_TEMPLATE_HASH_LABEL, type AnalysisRunState, type ReplicaSetState, type RolloutDecision } from '../rollouts/objects';

/**
 * A tiny cluster for the strategy engines: ReplicaSets whose pods become
 * available as soon as they are scaled (unless `podsStart` is off),
 * Services, AnalysisRuns whose phase the test sets, the router's weight, and
 * a clock the test moves. `settle` reconciles until nothing changes.
 */
export class RolloutSim {
  replicaSets: ReplicaSetState[] = [];
  /** Service name → the pod-template hash its selector names. */
  services: Record<string, string | undefined> = {};
  runs: AnalysisRunState[] = [];
  terminated = new Set<string>();
  /** The weight the traffic routers were last told to send to the canary. */
  routerWeight?: number;
  podsStart = true;
  /** Whether a ReplicaSet gets the pods it asks for at all (off: they are never made, as under a full ResourceQuota). */
  podsCreate = true;
  now = new Date('2026-11-22T10:00:00Z');
  requeueAfterMs?: number;
  /** What the API server adds to a new ReplicaSet's pod template (its defaults); nothing unless set. */
  defaultTemplate: (template: Record<string, any>) => Record<string, any> = t => t;

  constructor(public rollout: Rollout) {}

  private decide(): RolloutDecision {
    const { canary, blueGreen } = this.rollout.spec.strategy ?? {};
    const service = (name: string | undefined) =>
      name ? { name, selectorHash: this.services[name], managed: this.services[name] !== undefined } : undefined;
    if (blueGreen) {
      return reconcileBlueGreen({
        rollout: this.rollout,
        replicaSets: this.replicaSets,
        services: { active: service(blueGreen.activeService)!, ...(blueGreen.previewService ? { preview: service(blueGreen.previewService) } : {}) },
        analysisRuns: this.runs,
        now: this.now,
      });
    }
    return reconcileCanary({
      rollout: this.rollout,
      replicaSets: this.replicaSets,
      analysisRuns: this.runs,
      services: { stable: service(canary?.stableService), canary: service(canary?.canaryService) },
      now: this.now,
    });
  }

  settle(max = 60) {
    for (let i = 0; i < max; i++) {
      const d = this.decide();
      this.requeueAfterMs = d.requeueAfterMs;
      let changed = false;
      if (d.create) {
        const template = this.defaultTemplate(structuredClone(this.rollout.spec.template ?? {}));
        template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [POD_TEMPLATE_HASH_LABEL]: d.create.hash } };
        this.replicaSets.push({ name: d.create.name, hash: d.create.hash, revision: d.create.revision, specReplicas: 0, replicas: 0, availableReplicas: 0, readyReplicas: 0, createdAt: this.now.toISOString(), template });
        changed = true;
      }
      if (d.revise) {
        this.replicaSets.find(r => r.name === d.revise!.name)!.revision = d.revise.revision;
        changed = true;
      }
      for (const { name, scaleDownDeadline } of d.annotate) {
        this.replicaSets.find(r => r.name === name)!.scaleDownDeadline = scaleDownDeadline ?? undefined;
        changed = true;
      }
      for (const { name, replicas } of d.scale) {
        const rs = this.replicaSets.find(r => r.name === name)!;
        // No pods made at all (a ResourceQuota, a missing ServiceAccount) keeps the ReplicaSet at 0 whatever it asks for.
        const made = this.podsCreate ? replicas : Math.min(replicas, rs.replicas);
        const up = this.podsStart ? made : Math.min(made, rs.availableReplicas);
        Object.assign(rs, { specReplicas: replicas, replicas: made, availableReplicas: up, readyReplicas: up });
        changed = true;
      }
      for (const { name, hash } of d.switchServices) {
        this.services[name] = hash;
        changed = true;
      }
      if (d.trafficWeight !== undefined && d.trafficWeight !== this.routerWeight) {
        this.routerWeight = d.trafficWeight;
        changed = true;
      }
      for (const run of d.createAnalysis) {
        this.runs.push({ name: run.name, kind: run.kind, ...(run.stepIndex !== undefined ? { stepIndex: run.stepIndex } : {}), phase: 'Running' });
        changed = true;
      }
      for (const run of this.runs) {
        if (run.phase === 'Running' && !d.keepAnalysis.includes(run.name)) this.terminated.add(run.name);
      }
      if (JSON.stringify(d.status) !== JSON.stringify(this.rollout.status)) changed = true;
      this.rollout = { ...this.rollout, status: d.status };
      if (!changed) return;
    }
    throw new Error('did not settle');
  }

  /** Applies what an action would patch (status and spec merge patches, undo's template replace, as the API would). */
  act(action: Parameters<typeof planRolloutAction>[1], options: { revision?: number } = {}) {
    const replicaSets = this.replicaSets.map(rs => ({
      metadata: { name: rs.name, labels: { [POD_TEMPLATE_HASH_LABEL]: rs.hash }, annotations: { 'rollout.argoproj.io/revision': String(rs.revision) } },
      spec: { template: rs.template as Record<string, unknown> },
    }));
    const plan = planRolloutAction(this.rollout, action, { now: this.now, replicaSets, ...options });
    if (!plan.ok) throw new Error(plan.message);
    for (const p of plan.patches) {
      if (p.type === 'json') {
        const [op] = p.body as Array<{ op: string; path: string; value: unknown }>;
        if (op.op !== 'replace' || op.path !== '/spec/template') throw new Error(`the sim does not apply ${JSON.stringify(op)}`);
        this.bump({ ...this.rollout.spec, template: structuredClone(op.value) as Rollout['spec']['template'] });
        continue;
      }
      const body = p.body as { spec?: object; status?: Record<string, unknown> };
      if (body.spec) this.bump({ ...this.rollout.spec, ...body.spec });
      if (body.status) {
        const status: Record<string, unknown> = { ...this.rollout.status };
        for (const [k, v] of Object.entries(body.status)) {
          if (v === null) delete status[k];
          else status[k] = v;
        }
        this.rollout = { ...this.rollout, status };
      }
    }
  }

  /** A spec change, as the API server records it (generation + 1). */
  bump(spec: Rollout['spec']) {
    this.rollout = { ...this.rollout, metadata: { ...this.rollout.metadata, generation: (this.rollout.metadata.generation ?? 1) + 1 }, spec };
  }

  /** A new image for the template's one container. */
  image(tag: string) {
    const template = structuredClone(this.rollout.spec.template!) as { spec: { containers: Array<{ image: string }> } };
    template.spec.containers[0].image = template.spec.containers[0].image.replace(/:[^:]*$/, `:${tag}`);
    this.bump({ ...this.rollout.spec, template: template as Rollout['spec']['template'] });
  }

  advance(seconds: number) {
    this.now = new Date(this.now.getTime() + seconds * 1000);
  }

  /** The hash of the current template's ReplicaSet. */
  get hash() {
    return currentTemplateHash(this.rollout, this.replicaSets);
  }

  rs(hash: string | undefined) {
    return this.replicaSets.find(r => r.hash === hash);
  }

  /** Desired pods of the current template's ReplicaSet and of the stable one (when they differ). */
  counts() {
    const canary = this.rs(this.hash)?.specReplicas ?? 0;
    const stableRs = this.rollout.status?.stableRS === this.hash ? undefined : this.rs(this.rollout.status?.stableRS);
    return { canary, stable: stableRs?.specReplicas ?? 0 };
  }
}
