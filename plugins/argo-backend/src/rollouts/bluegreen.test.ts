import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { apiServerPodTemplateDefaults } from '../__testUtils__/apiServerDefaults';
import { RolloutSim } from '../__testUtils__/rolloutSim';

type BlueGreen = NonNullable<NonNullable<Rollout['spec']['strategy']>['blueGreen']>;

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
    const sim = new RolloutSim(sentimentRollout());
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

  it('undo during the pause reuses the active ReplicaSet, though the API server defaulted its template', () => {
    const sim = new RolloutSim(sentimentRollout());
    sim.defaultTemplate = apiServerPodTemplateDefaults;
    sim.settle();
    const blue = sim.hash;
    sim.image('2');
    sim.settle();
    const green = sim.hash;
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', stableRS: blue });

    sim.act('undo');
    sim.settle();
    expect(sim.replicaSets.map(r => r.hash)).toEqual([blue, green]);
    expect(sim.services).toEqual({ 'sentiment-active': blue, 'sentiment-preview': blue });
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', stableRS: blue, currentPodHash: blue });
  });

  it('brings an update up behind the preview Service, pauses, switches on promote and keeps the old one for the scale-down delay', () => {
    const sim = new RolloutSim(sentimentRollout());
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
    const sim = new RolloutSim(sentimentRollout({ previewReplicaCount: 1 }));
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
    const sim = new RolloutSim(sentimentRollout({ autoPromotionEnabled: undefined, autoPromotionSeconds: 60 }));
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
    const sim = new RolloutSim(sentimentRollout({ autoPromotionEnabled: undefined }));
    sim.settle();
    sim.image('2');
    sim.settle();
    expect(sim.services['sentiment-active']).toBe(sim.hash);
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', stableRS: sim.hash });
  });

  describe('pre-promotion analysis', () => {
    const withPre = () => sentimentRollout({ prePromotionAnalysis: { templates: [{ templateName: 'accuracy' }] } });

    it('runs against the preview once it is up, and pauses only after it succeeds', () => {
      const sim = new RolloutSim(withPre());
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
      const sim = new RolloutSim(withPre());
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
      const sim = new RolloutSim(withPre());
      sim.settle();
      sim.image('2');
      sim.settle();
      sim.runs[0].phase = 'Inconclusive';
      sim.settle();
      expect(sim.rollout.status).toMatchObject({ phase: 'Paused', message: 'InconclusiveAnalysisRun', controllerPause: true });
    });
  });

  it('makes the new ReplicaSet stable only after post-promotion analysis succeeds, holding the old one up meanwhile', () => {
    const sim = new RolloutSim(sentimentRollout({ autoPromotionEnabled: undefined, postPromotionAnalysis: { templates: [{ templateName: 'errors' }] } }));
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
    const sim = new RolloutSim(sentimentRollout());
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
