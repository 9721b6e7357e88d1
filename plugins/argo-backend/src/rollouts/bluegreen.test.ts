import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { planRolloutAction } from './actions';
import { reconcileBlueGreen } from './bluegreen';
import { templateHash, type AnalysisRunState, type ReplicaSetState } from './objects';

type BlueGreen = NonNullable<NonNullable<Rollout['spec']['strategy']>['blueGreen']>;

/**
 * A tiny cluster for the blue-green engine: ReplicaSets whose pods are
 * available as soon as they are scaled, two Services, AnalysisRuns whose
 * phase the test sets, and a clock the test moves.
 */
class Sim {
  replicaSets: ReplicaSetState[] = [];
  services: Record<string, string | undefined> = { 'sentiment-active': undefined, 'sentiment-preview': undefined };
  runs: AnalysisRunState[] = [];
  now = new Date('2026-11-22T10:00:00Z');
  requeueAfterMs?: number;
  constructor(public rollout: Rollout) {}

  settle(max = 50) {
    for (let i = 0; i < max; i++) {
      const bg = this.rollout.spec.strategy!.blueGreen!;
      const d = reconcileBlueGreen({
        rollout: this.rollout,
        replicaSets: this.replicaSets,
        services: {
          active: { name: bg.activeService, selectorHash: this.services[bg.activeService] },
          ...(bg.previewService ? { preview: { name: bg.previewService, selectorHash: this.services[bg.previewService] } } : {}),
        },
        analysisRuns: this.runs,
        now: this.now,
      });
      this.requeueAfterMs = d.requeueAfterMs;
      let changed = false;
      if (d.create) {
        this.replicaSets.push({ name: d.create.name, hash: d.create.hash, revision: d.create.revision, specReplicas: 0, replicas: 0, availableReplicas: 0, readyReplicas: 0, createdAt: this.now.toISOString() });
        changed = true;
      }
      for (const { name, scaleDownDeadline } of d.annotate) {
        this.replicaSets.find(r => r.name === name)!.scaleDownDeadline = scaleDownDeadline ?? undefined;
        changed = true;
      }
      for (const { name, replicas } of d.scale) {
        Object.assign(this.replicaSets.find(r => r.name === name)!, { specReplicas: replicas, replicas, availableReplicas: replicas, readyReplicas: replicas });
        changed = true;
      }
      for (const { name, hash } of d.switchServices) {
        this.services[name] = hash;
        changed = true;
      }
      for (const run of d.createAnalysis) {
        this.runs.push({ name: run.name, kind: run.kind, phase: 'Running' });
        changed = true;
      }
      if (JSON.stringify(d.status) !== JSON.stringify(this.rollout.status)) changed = true;
      this.rollout = { ...this.rollout, status: d.status };
      if (!changed) return;
    }
    throw new Error('did not settle');
  }

  act(action: Parameters<typeof planRolloutAction>[1]) {
    const plan = planRolloutAction(this.rollout, action, { now: this.now });
    if (!plan.ok) throw new Error(plan.message);
    for (const p of plan.patches) {
      const body = p.body as { spec?: object; status?: Record<string, unknown> };
      if (body.spec) this.rollout = { ...this.rollout, spec: { ...this.rollout.spec, ...body.spec }, metadata: { ...this.rollout.metadata, generation: (this.rollout.metadata.generation ?? 1) + 1 } };
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

  image(tag: string) {
    this.rollout = {
      ...this.rollout,
      metadata: { ...this.rollout.metadata, generation: (this.rollout.metadata.generation ?? 1) + 1 },
      spec: { ...this.rollout.spec, template: { metadata: { labels: { app: 'sentiment' } }, spec: { containers: [{ name: 'model', image: `sentiment:${tag}` }] } } },
    };
  }

  rs(hash: string | undefined) {
    return this.replicaSets.find(r => r.hash === hash);
  }
  get hash() {
    return templateHash(this.rollout);
  }
  advance(seconds: number) {
    this.now = new Date(this.now.getTime() + seconds * 1000);
  }
}

function sentimentRollout(blueGreen: Partial<BlueGreen> = {}): Rollout {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'sentiment-model', namespace: 'ml', generation: 1 },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'sentiment' } },
      template: { metadata: { labels: { app: 'sentiment' } }, spec: { containers: [{ name: 'model', image: 'sentiment:1' }] } },
      strategy: { blueGreen: { activeService: 'sentiment-active', previewService: 'sentiment-preview', autoPromotionEnabled: false, ...blueGreen } },
    },
  };
}

describe('blue-green', () => {
  it('deploys the first ReplicaSet straight to the active and preview Services', () => {
    const sim = new Sim(sentimentRollout());
    sim.settle();
    expect(sim.replicaSets).toHaveLength(1);
    expect(sim.replicaSets[0].specReplicas).toBe(3);
    expect(sim.services).toEqual({ 'sentiment-active': sim.hash, 'sentiment-preview': sim.hash });
    expect(sim.rollout.status).toMatchObject({
      phase: 'Healthy',
      stableRS: sim.hash,
      blueGreen: { activeSelector: sim.hash, previewSelector: sim.hash },
      availableReplicas: 3,
    });
  });

  it('brings an update up behind the preview Service, pauses, switches on promote and keeps the old one for the scale-down delay', () => {
    const sim = new Sim(sentimentRollout());
    sim.settle();
    const blue = sim.hash;
    sim.image('2');
    sim.settle();
    const green = sim.hash;
    expect(sim.rs(green)!.specReplicas).toBe(3);
    expect(sim.services).toEqual({ 'sentiment-active': blue, 'sentiment-preview': green });
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', message: 'BlueGreenPause', controllerPause: true, stableRS: blue });
    expect(sim.rollout.status!.pauseConditions).toEqual([{ reason: 'BlueGreenPause', startTime: '2026-11-22T10:00:00Z' }]);

    // Nothing switches while paused, however long.
    sim.advance(3600);
    sim.settle();
    expect(sim.services['sentiment-active']).toBe(blue);

    sim.act('promote');
    sim.settle();
    expect(sim.services['sentiment-active']).toBe(green);
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', stableRS: green, blueGreen: { activeSelector: green } });
    // The old ReplicaSet stays at full size for 30 s (a rollback within the delay is instant).
    expect(sim.rs(blue)).toMatchObject({ specReplicas: 3, scaleDownDeadline: '2026-11-22T11:00:30Z' });
    expect(sim.requeueAfterMs).toBe(30_001);
    sim.advance(31);
    sim.settle();
    expect(sim.rs(blue)!.specReplicas).toBe(0);
  });

  it('keeps the preview at previewReplicaCount until promoted, then scales it up before switching', () => {
    const sim = new Sim(sentimentRollout({ previewReplicaCount: 1 }));
    sim.settle();
    const blue = sim.hash;
    sim.image('2');
    sim.settle();
    expect(sim.rs(sim.hash)!.specReplicas).toBe(1);
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused' });
    sim.act('promote');
    sim.settle();
    expect(sim.rs(sim.hash)!.specReplicas).toBe(3);
    expect(sim.services['sentiment-active']).toBe(sim.hash);
    expect(sim.rs(blue)!.specReplicas).toBe(3);
  });

  it('promotes by itself after autoPromotionSeconds', () => {
    const sim = new Sim(sentimentRollout({ autoPromotionEnabled: undefined, autoPromotionSeconds: 60 }));
    sim.settle();
    const blue = sim.hash;
    sim.image('2');
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', message: 'BlueGreenPause' });
    expect(sim.requeueAfterMs).toBe(60_001);
    sim.advance(30);
    sim.settle();
    expect(sim.services['sentiment-active']).toBe(blue);
    sim.advance(31);
    sim.settle();
    expect(sim.services['sentiment-active']).toBe(sim.hash);
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', stableRS: sim.hash });
  });

  it('switches at once without a pause when auto-promotion is on (the default)', () => {
    const sim = new Sim(sentimentRollout({ autoPromotionEnabled: undefined }));
    sim.settle();
    sim.image('2');
    sim.settle();
    expect(sim.services['sentiment-active']).toBe(sim.hash);
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', stableRS: sim.hash });
  });

  describe('pre-promotion analysis', () => {
    const withPre = () => sentimentRollout({ prePromotionAnalysis: { templates: [{ templateName: 'accuracy' }] } });

    it('runs against the preview once it is up, and pauses only after it succeeds', () => {
      const sim = new Sim(withPre());
      sim.settle();
      expect(sim.runs).toHaveLength(0); // not on the first deploy
      sim.image('2');
      sim.settle();
      const green = sim.hash;
      expect(sim.runs).toEqual([{ name: `sentiment-model-${green}-2-pre`, kind: 'PrePromotion', phase: 'Running' }]);
      expect(sim.rollout.status!.pauseConditions).toBeUndefined();
      expect(sim.rollout.status).toMatchObject({ phase: 'Progressing', blueGreen: { prePromotionAnalysisRunStatus: { name: `sentiment-model-${green}-2-pre`, status: 'Running' } } });

      sim.runs[0].phase = 'Successful';
      sim.settle();
      expect(sim.rollout.status).toMatchObject({ phase: 'Paused', message: 'BlueGreenPause' });
      sim.act('promote');
      sim.settle();
      expect(sim.services['sentiment-active']).toBe(green);
      expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', stableRS: green, blueGreen: { prePromotionAnalysisRunStatus: { status: 'Successful' } } });
    });

    it('aborts when it fails: the active Service stays on blue and the preview goes down after the abort delay', () => {
      const sim = new Sim(withPre());
      sim.settle();
      const blue = sim.hash;
      sim.image('2');
      sim.settle();
      Object.assign(sim.runs[0], { phase: 'Failed', message: 'Metric "accuracy" assessed Failed due to failed (1) > failureLimit (0)' });
      sim.settle();
      expect(sim.services['sentiment-active']).toBe(blue);
      expect(sim.rollout.status).toMatchObject({
        phase: 'Degraded',
        message: 'RolloutAborted: Rollout aborted update to revision 2: Blue/green pre-promotion analysis phase error/failed: Metric "accuracy" assessed Failed due to failed (1) > failureLimit (0)',
        abort: true,
        stableRS: blue,
      });
      expect(sim.rs(sim.hash)).toMatchObject({ specReplicas: 3, scaleDownDeadline: '2026-11-22T10:00:30Z' });
      sim.advance(31);
      sim.settle();
      expect(sim.rs(sim.hash)!.specReplicas).toBe(0);
      expect(sim.rs(blue)!.specReplicas).toBe(3);

      // Retry starts a new run.
      sim.act('retry');
      sim.settle();
      expect(sim.runs.map(r => r.name)).toEqual([`sentiment-model-${sim.hash}-2-pre`, `sentiment-model-${sim.hash}-2-pre.1`]);
      expect(sim.rs(sim.hash)!.specReplicas).toBe(3);
    });

    it('pauses on an inconclusive run until someone decides', () => {
      const sim = new Sim(withPre());
      sim.settle();
      sim.image('2');
      sim.settle();
      sim.runs[0].phase = 'Inconclusive';
      sim.settle();
      expect(sim.rollout.status).toMatchObject({ phase: 'Paused', message: 'InconclusiveAnalysisRun', controllerPause: true });
    });
  });

  it('makes the new ReplicaSet stable only after post-promotion analysis succeeds, holding the old one up meanwhile', () => {
    const sim = new Sim(sentimentRollout({ autoPromotionEnabled: undefined, postPromotionAnalysis: { templates: [{ templateName: 'errors' }] } }));
    sim.settle();
    const blue = sim.hash;
    sim.image('2');
    sim.settle();
    const green = sim.hash;
    expect(sim.services['sentiment-active']).toBe(green);
    expect(sim.runs.map(r => r.kind)).toEqual(['PostPromotion']);
    expect(sim.rollout.status).toMatchObject({ phase: 'Progressing', message: 'waiting for analysis to complete', stableRS: blue });
    expect(sim.rs(blue)!.specReplicas).toBe(3);
    sim.runs[0].phase = 'Successful';
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', stableRS: green });
  });

  it('rolls back instantly to a ReplicaSet still within its scale-down delay', () => {
    const sim = new Sim(sentimentRollout());
    sim.settle();
    const blue = sim.hash;
    sim.advance(1);
    sim.image('2');
    sim.settle();
    sim.act('promote');
    sim.settle();
    sim.advance(5);
    sim.image('1');
    sim.settle();
    expect(sim.hash).toBe(blue);
    expect(sim.services['sentiment-active']).toBe(blue);
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', stableRS: blue });
    expect(sim.rs(blue)!.scaleDownDeadline).toBeUndefined();
  });
});
