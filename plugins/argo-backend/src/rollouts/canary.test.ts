import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { planRolloutAction } from './actions';
import { reconcileCanary } from './canary';
import { templateHash, type AnalysisRunState, type ReplicaSetState } from './objects';

/**
 * A tiny cluster for the engine: ReplicaSets whose pods are available as
 * soon as they are scaled, and a clock the test moves.
 */
class Sim {
  replicaSets: ReplicaSetState[] = [];
  runs: AnalysisRunState[] = [];
  terminated = new Set<string>();
  /** Whether scaled-up pods become ready and available. */
  podsStart = true;
  now = new Date('2026-11-22T10:00:00Z');
  requeueAfterMs?: number;
  constructor(public rollout: Rollout) {}

  /** Reconciles until nothing changes any more. */
  settle(max = 50) {
    for (let i = 0; i < max; i++) {
      const d = reconcileCanary({ rollout: this.rollout, replicaSets: this.replicaSets, analysisRuns: this.runs, now: this.now });
      this.requeueAfterMs = d.requeueAfterMs;
      let changed = false;
      if (d.create) {
        this.replicaSets.push({ name: d.create.name, hash: d.create.hash, revision: d.create.revision, specReplicas: 0, replicas: 0, availableReplicas: 0, readyReplicas: 0, createdAt: this.now.toISOString() });
        changed = true;
      }
      for (const { name, replicas } of d.scale) {
        const rs = this.replicaSets.find(r => r.name === name)!;
        const up = this.podsStart ? replicas : Math.min(replicas, rs.availableReplicas);
        Object.assign(rs, { specReplicas: replicas, replicas, availableReplicas: up, readyReplicas: up });
        changed = true;
      }
      for (const run of d.createAnalysis) {
        this.runs.push({ name: run.name, kind: run.kind, stepIndex: run.stepIndex, phase: 'Running' });
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

  /** Applies what an action would patch (status and spec merge patches, as the API would). */
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

  advance(seconds: number) {
    this.now = new Date(this.now.getTime() + seconds * 1000);
  }

  image(tag: string) {
    this.rollout = {
      ...this.rollout,
      metadata: { ...this.rollout.metadata, generation: (this.rollout.metadata.generation ?? 1) + 1 },
      spec: { ...this.rollout.spec, template: { metadata: { labels: { app: 'payments' } }, spec: { containers: [{ name: 'app', image: `payments:${tag}` }] } } },
    };
  }

  counts() {
    const hash = templateHash(this.rollout);
    const canary = this.replicaSets.find(r => r.hash === hash)?.specReplicas ?? 0;
    const stable = this.replicaSets.find(r => r.hash === this.rollout.status?.stableRS && r.hash !== hash)?.specReplicas ?? 0;
    return { canary, stable };
  }
}

function paymentsRollout(): Rollout {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'payments-api', namespace: 'payments', generation: 1 },
    spec: {
      replicas: 5,
      selector: { matchLabels: { app: 'payments' } },
      template: { metadata: { labels: { app: 'payments' } }, spec: { containers: [{ name: 'app', image: 'payments:1' }] } },
      strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: { duration: '1m' } }, { setWeight: 100 }] } },
    },
  };
}

describe('canary without a traffic router', () => {
  it('makes the first ReplicaSet stable at once, skipping the steps (initial deploy)', () => {
    const sim = new Sim(paymentsRollout());
    sim.settle();
    expect(sim.replicaSets).toHaveLength(1);
    expect(sim.replicaSets[0].specReplicas).toBe(5);
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', currentStepIndex: 5, stableRS: sim.replicaSets[0].hash, currentPodHash: sim.replicaSets[0].hash });
  });

  it('walks the steps of an update: weight, pause until promoted, weight, timed pause, full promotion', () => {
    const sim = new Sim(paymentsRollout());
    sim.settle();
    const stableHash = sim.rollout.status!.stableRS;
    sim.image('2');
    sim.settle();
    // setWeight 20 of 5 replicas (surge 2): 1 canary beside 4 stable, then paused at step 2 of 5.
    expect(sim.counts()).toEqual({ canary: 1, stable: 4 });
    expect(sim.rollout.status).toMatchObject({
      phase: 'Paused',
      message: 'CanaryPauseStep',
      currentStepIndex: 1,
      controllerPause: true,
      stableRS: stableHash,
      canary: { weights: { canary: { weight: 20 }, stable: { weight: 80 } } },
    });
    expect(sim.rollout.status!.pauseConditions).toEqual([{ reason: 'CanaryPauseStep', startTime: '2026-11-22T10:00:00Z' }]);

    // Nothing moves without a promotion.
    sim.now = new Date('2026-11-22T11:00:00Z');
    sim.settle();
    expect(sim.rollout.status!.currentStepIndex).toBe(1);

    sim.act('promote');
    sim.settle();
    // setWeight 50 (3 canary / 3 stable with surge), then the timed pause.
    expect(sim.counts()).toEqual({ canary: 3, stable: 3 });
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', currentStepIndex: 3 });
    expect(sim.requeueAfterMs).toBe(60_001);

    sim.now = new Date(sim.now.getTime() + 61_000);
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', currentStepIndex: 5, stableRS: templateHash(sim.rollout) });
    expect(sim.counts()).toEqual({ canary: 5, stable: 0 });
    const old = sim.replicaSets.find(r => r.hash === stableHash)!;
    expect(old.specReplicas).toBe(0);
    expect(sim.rollout.status!.conditions!.find(c => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable' });
  });

  it('goes back to stable on abort, shows Degraded, and starts over on retry', () => {
    const sim = new Sim(paymentsRollout());
    sim.settle();
    sim.image('2');
    sim.settle();
    sim.act('abort');
    sim.settle();
    expect(sim.counts()).toEqual({ canary: 0, stable: 5 });
    expect(sim.rollout.status).toMatchObject({ phase: 'Degraded', message: 'RolloutAborted: Rollout aborted update to revision 2', abort: true, currentStepIndex: 0 });
    expect(sim.rollout.status!.pauseConditions).toBeUndefined();

    sim.act('retry');
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
    expect(sim.counts()).toEqual({ canary: 1, stable: 4 });
  });

  it('promote-full skips the remaining steps', () => {
    const sim = new Sim(paymentsRollout());
    sim.settle();
    sim.image('2');
    sim.settle();
    sim.act('promote-full');
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', currentStepIndex: 5 });
    expect(sim.rollout.status!.promoteFull).toBeUndefined();
    expect(sim.counts()).toEqual({ canary: 5, stable: 0 });
  });

  it('holds still while paused by hand, and a new template restarts the steps', () => {
    const sim = new Sim(paymentsRollout());
    sim.settle();
    sim.image('2');
    sim.act('pause');
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', message: 'manually paused' });
    sim.act('resume');
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', message: 'CanaryPauseStep', currentStepIndex: 1 });
    sim.image('3');
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ currentStepIndex: 1, phase: 'Paused' });
    expect(sim.replicaSets).toHaveLength(3);
  });

  it('runs background analysis from startingStep on, and aborts the update when it fails', () => {
    const rollout = paymentsRollout();
    rollout.spec.strategy!.canary!.analysis = { templates: [{ templateName: 'error-rate' }], startingStep: 2 };
    const sim = new Sim(rollout);
    sim.settle();
    expect(sim.runs).toHaveLength(0); // not on the first deploy
    sim.image('2');
    sim.settle();
    expect(sim.rollout.status!.currentStepIndex).toBe(1);
    expect(sim.runs).toHaveLength(0); // before the starting step
    sim.act('promote');
    sim.settle();
    const hash = templateHash(sim.rollout);
    expect(sim.runs).toEqual([{ name: `payments-api-${hash}-2`, kind: 'Background', phase: 'Running' }]);
    expect(sim.rollout.status!.canary).toMatchObject({ currentBackgroundAnalysisRunStatus: { name: `payments-api-${hash}-2`, status: 'Running' } });

    Object.assign(sim.runs[0], { phase: 'Failed', message: 'Metric "errors" assessed Failed due to failed (1) > failureLimit (0)' });
    sim.settle();
    expect(sim.rollout.status).toMatchObject({
      phase: 'Degraded',
      message: 'RolloutAborted: Rollout aborted update to revision 2: Background analysis phase error/failed: Metric "errors" assessed Failed due to failed (1) > failureLimit (0)',
      abort: true,
    });
    expect(sim.counts()).toEqual({ canary: 0, stable: 5 });
  });

  it('stops background analysis once the update is complete', () => {
    const rollout = paymentsRollout();
    rollout.spec.strategy!.canary!.analysis = { templates: [{ templateName: 'error-rate' }] };
    const sim = new Sim(rollout);
    sim.settle();
    sim.image('2');
    sim.settle();
    expect(sim.runs.map(r => r.kind)).toEqual(['Background']);
    sim.act('promote-full');
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy' });
    expect(sim.terminated.has(sim.runs[0].name)).toBe(true);
    expect(sim.rollout.status!.canary?.currentBackgroundAnalysisRunStatus).toBeUndefined();
  });

  it('aborts on the progress deadline when progressDeadlineAbort is set and nothing moves', () => {
    const rollout = paymentsRollout();
    rollout.spec.progressDeadlineSeconds = 60;
    rollout.spec.progressDeadlineAbort = true;
    const sim = new Sim(rollout);
    sim.settle();
    sim.image('2');
    sim.podsStart = false; // the canary's pods never become available
    sim.settle();
    expect(sim.rollout.status!.phase).not.toBe('Degraded');
    sim.advance(61);
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Degraded', abort: true });
    expect(sim.rollout.status!.message).toMatch(/^RolloutAborted: Rollout aborted update to revision 2: ReplicaSet "payments-api-.*" has timed out progressing\.$/);
  });
});
