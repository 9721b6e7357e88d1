import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { apiServerPodTemplateDefaults } from '../__testUtils__/apiServerDefaults';
import { RolloutSim } from '../__testUtils__/rolloutSim';
import { templateHash } from './objects';

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
    const sim = new RolloutSim(paymentsRollout());
    sim.settle();
    expect(sim.replicaSets).toHaveLength(1);
    expect(sim.replicaSets[0].specReplicas).toBe(5);
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', currentStepIndex: 5, stableRS: sim.replicaSets[0].hash, currentPodHash: sim.replicaSets[0].hash });
  });

  it('walks the steps of an update: weight, pause until promoted, weight, timed pause, full promotion', () => {
    const sim = new RolloutSim(paymentsRollout());
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

  it('undo back to the stable ReplicaSet reuses it, though the API server defaulted its template, and skips the steps', () => {
    const sim = new RolloutSim(paymentsRollout());
    sim.defaultTemplate = apiServerPodTemplateDefaults;
    sim.settle();
    const v1 = sim.hash;
    sim.image('2');
    sim.settle();
    const v2 = sim.hash;
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1, stableRS: v1 });

    sim.act('undo');
    expect(sim.rollout.spec.template).toMatchObject({ spec: { dnsPolicy: 'ClusterFirst' } });
    sim.settle();
    // No third ReplicaSet: back to v1 at once ("Rollback to stable ReplicaSets"), v1 the newest revision.
    expect(sim.replicaSets.map(r => r.hash)).toEqual([v1, v2]);
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', stableRS: v1, currentPodHash: v1, currentStepIndex: 5 });
    expect(sim.rs(v1)).toMatchObject({ specReplicas: 5, revision: 3 });
    expect(sim.rs(v2)!.specReplicas).toBe(0);

    // And undo to the revision in force is skipped, as kubectl skips it.
    expect(() => sim.act('undo', { revision: 3 })).toThrow('skipped rollback (current template already matches revision 3)');
  });

  it('drops an abort sent to a canary already fully promoted (kubectl argo rollouts abort; the portal refuses it): nothing to abort, it stays Healthy', () => {
    const sim = new RolloutSim(paymentsRollout());
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy' });
    // The status patch kubectl sends.
    sim.rollout.status = { ...sim.rollout.status, abort: true };
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy' });
    expect(sim.rollout.status!.abort).toBeFalsy();
    expect(sim.rollout.status!.abortedAt).toBeUndefined();
  });

  it('goes back to stable on abort, shows Degraded, and starts over on retry', () => {
    const sim = new RolloutSim(paymentsRollout());
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

  it('a retry after an abort at an analysis step starts one new step run and one background run, then keeps them', () => {
    const rollout = paymentsRollout();
    rollout.spec.strategy!.canary = {
      steps: [{ setWeight: 20 }, { analysis: { templates: [{ templateName: 'error-rate' }] } }, { setWeight: 100 }],
      analysis: { templates: [{ templateName: 'error-rate' }] },
    };
    const sim = new RolloutSim(rollout);
    sim.settle();
    sim.image('2');
    sim.settle();
    expect(sim.runs.map(r => r.kind)).toEqual(['Background', 'Step']);
    sim.act('abort');
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Degraded', abort: true });

    sim.act('retry');
    sim.settle(); // settling again and again would not end if every pass made new runs
    sim.settle();
    expect(sim.runs.map(r => r.kind)).toEqual(['Background', 'Step', 'Background', 'Step']);
    const [background, step] = sim.runs.slice(2);
    expect(sim.terminated.has(background.name) || sim.terminated.has(step.name)).toBe(false);
    expect(sim.rollout.status!.abortedAt).toBeUndefined();
    expect(sim.rollout.status!.canary).toMatchObject({
      currentStepAnalysisRunStatus: { name: step.name, status: 'Running' },
      currentBackgroundAnalysisRunStatus: { name: background.name, status: 'Running' },
    });
  });

  it('pausing by hand keeps a step analysis running and judged, but holds the step until resumed', () => {
    const rollout = paymentsRollout();
    rollout.spec.strategy!.canary!.steps = [{ setWeight: 20 }, { analysis: { templates: [{ templateName: 'error-rate' }] } }, { setWeight: 100 }];
    const sim = new RolloutSim(rollout);
    sim.settle();
    sim.image('2');
    sim.settle();
    const [run] = sim.runs;
    sim.act('pause');
    sim.settle();
    expect(sim.terminated.has(run.name)).toBe(false);
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1, canary: { currentStepAnalysisRunStatus: { name: run.name, status: 'Running' } } });

    run.phase = 'Successful';
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1, canary: { currentStepAnalysisRunStatus: { name: run.name, status: 'Successful' } } });
    sim.act('resume');
    sim.settle();
    expect(sim.runs).toHaveLength(1);
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', currentStepIndex: 3 });
  });

  it('promote during a running analysis step skips it, as kubectl does: its run is terminated and the next step runs', () => {
    const rollout = paymentsRollout();
    rollout.spec.strategy!.canary!.steps = [{ setWeight: 20 }, { analysis: { templates: [{ templateName: 'error-rate' }] } }, { setWeight: 40 }, { pause: {} }];
    const sim = new RolloutSim(rollout);
    sim.settle();
    sim.image('2');
    sim.settle();
    const [run] = sim.runs;
    expect(sim.rollout.status).toMatchObject({ phase: 'Progressing', currentStepIndex: 1, canary: { currentStepAnalysisRunStatus: { name: run.name, status: 'Running' } } });

    sim.act('promote');
    sim.settle();
    expect(sim.terminated.has(run.name)).toBe(true);
    expect(sim.runs).toHaveLength(1);
    expect(sim.counts()).toEqual({ canary: 2, stable: 3 });
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', message: 'CanaryPauseStep', currentStepIndex: 3 });
    expect(sim.rollout.status!.canary!.currentStepAnalysisRunStatus).toBeUndefined();
  });

  it('promote during a setWeight step whose pods are not up yet moves on to the next step', () => {
    const sim = new RolloutSim(paymentsRollout());
    sim.settle();
    sim.podsStart = false;
    sim.image('2');
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Progressing', currentStepIndex: 0 });

    sim.act('promote');
    sim.podsStart = true;
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', message: 'CanaryPauseStep', currentStepIndex: 1 });
  });

  it('promotes the current template at once when the stable ReplicaSet is gone (Argo\'s "Initial deploy")', () => {
    const sim = new RolloutSim(paymentsRollout());
    sim.settle();
    const stableHash = sim.rollout.status!.stableRS;
    sim.image('2');
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
    sim.replicaSets = sim.replicaSets.filter(r => r.hash !== stableHash); // deleted by someone
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', stableRS: sim.hash, currentStepIndex: 5 });
    expect(sim.counts()).toEqual({ canary: 5, stable: 0 });
  });

  it('going back to an earlier template makes its ReplicaSet the newest revision, which an abort names', () => {
    const sim = new RolloutSim(paymentsRollout());
    sim.settle();
    const first = sim.hash;
    sim.image('2');
    sim.settle();
    sim.act('promote-full');
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', stableRS: sim.hash });
    sim.image('1'); // what undo sends
    sim.settle();
    expect(sim.hash).toBe(first);
    expect(sim.rs(first)!.revision).toBe(3);
    sim.act('abort');
    sim.settle();
    expect(sim.rollout.status!.message).toBe('RolloutAborted: Rollout aborted update to revision 3');
  });

  it('promote-full skips the remaining steps', () => {
    const sim = new RolloutSim(paymentsRollout());
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
    const sim = new RolloutSim(paymentsRollout());
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
    const sim = new RolloutSim(rollout);
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
    const sim = new RolloutSim(rollout);
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
    const sim = new RolloutSim(rollout);
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

  it('gives a fix pushed after the deadline its own deadline, from its new ReplicaSet (Progressing: NewReplicaSetCreated)', () => {
    const rollout = paymentsRollout();
    rollout.spec.progressDeadlineSeconds = 60;
    rollout.spec.progressDeadlineAbort = true;
    rollout.spec.strategy!.canary!.steps = [];
    const sim = new RolloutSim(rollout);
    sim.settle();
    sim.podsCreate = false; // a ResourceQuota that admits no more pods
    sim.image('2');
    sim.settle();
    sim.advance(61);
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Degraded' });
    // The fix: its ReplicaSet's pods are not up yet on the pass that creates it, nor a minute later.
    sim.image('3');
    sim.settle();
    expect(sim.rollout.status!.abort).toBeFalsy();
    expect(sim.rollout.status!.phase).toBe('Progressing');
    expect(sim.rollout.status!.conditions!.find(c => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: expect.stringMatching(/^(NewReplicaSetCreated|ReplicaSetUpdated)$/) });
    sim.advance(30);
    sim.settle();
    expect(sim.rollout.status!.phase).toBe('Progressing');
  });
});
