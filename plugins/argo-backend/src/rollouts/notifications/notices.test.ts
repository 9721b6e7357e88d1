import type { Rollout, RolloutSpec, RolloutStatus } from '@quarterdeck/plugin-argo-common';
import type { KubeObject } from '@quarterdeck/plugin-argo-node';
import { rolloutNotice } from './notices';

const canarySteps = [{ setWeight: 25 }, { pause: {} }, { setWeight: 50 }, { pause: { duration: '30s' } }, { setWeight: 100 }];

function rollout(status: RolloutStatus, spec: Partial<RolloutSpec> = {}): Rollout & KubeObject {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'payments-api', namespace: 'payments', generation: 2 },
    spec: { replicas: 4, strategy: { canary: { steps: canarySteps } }, ...spec },
    status: { observedGeneration: '2', currentPodHash: 'new', stableRS: 'old', ...status },
  } as Rollout & KubeObject;
}

const paused = (reason: string, startTime = '2026-12-06T17:00:00Z') => ({ pauseConditions: [{ reason, startTime }], controllerPause: true });
const blueGreen = (extra: object = {}) => ({ strategy: { blueGreen: { activeService: 'sentiment-model', previewService: 'sentiment-model-preview', autoPromotionEnabled: false, ...extra } } });

describe('rolloutNotice', () => {
  it('tells a team its canary waits at an indefinite pause step, naming the step', () => {
    const notice = rolloutNotice(rollout({ phase: 'Paused', message: 'CanaryPauseStep', currentStepIndex: 1, ...paused('CanaryPauseStep') }));
    expect(notice).toMatchObject({
      kind: 'awaiting-promotion',
      key: 'awaiting-promotion:new:1:CanaryPauseStep:2026-12-06T17:00:00Z',
      title: 'payments-api: waits for promotion at step 2 of 5',
      severity: 'normal',
    });
    expect(notice!.description).toContain('Rollout payments/payments-api');
  });

  it('says nothing of a timed pause step, which resumes by itself, or a pause someone made by hand', () => {
    expect(rolloutNotice(rollout({ phase: 'Paused', message: 'CanaryPauseStep', currentStepIndex: 3, ...paused('CanaryPauseStep') }))).toBeUndefined();
    expect(rolloutNotice(rollout({ phase: 'Paused', message: 'manually paused', currentStepIndex: 2 }, { paused: true }))).toBeUndefined();
  });

  it('tells of a blue-green Rollout waiting for promotion, unless autoPromotionSeconds will promote it', () => {
    const waiting = rollout({ phase: 'Paused', message: 'BlueGreenPause', ...paused('BlueGreenPause') }, blueGreen());
    expect(rolloutNotice(waiting)).toMatchObject({ key: 'awaiting-promotion:new::BlueGreenPause:2026-12-06T17:00:00Z', title: 'payments-api: waits for promotion' });
    expect(rolloutNotice(waiting)!.description).toContain('is up behind sentiment-model-preview; sentiment-model still serves the stable one');
    const timed = rollout({ phase: 'Paused', message: 'BlueGreenPause', ...paused('BlueGreenPause') }, blueGreen({ autoPromotionEnabled: true, autoPromotionSeconds: 60 }));
    expect(rolloutNotice(timed)).toBeUndefined();
    const timedByDefault = rollout({ phase: 'Paused', message: 'BlueGreenPause', ...paused('BlueGreenPause') }, blueGreen({ autoPromotionEnabled: undefined, autoPromotionSeconds: 60 }));
    expect(rolloutNotice(timedByDefault)).toBeUndefined();
    // With auto-promotion off, autoPromotionSeconds is ignored (Argo's docs): only a person ends the pause.
    for (const autoPromotionSeconds of [0, 30]) {
      const manual = rollout({ phase: 'Paused', message: 'BlueGreenPause', ...paused('BlueGreenPause') }, blueGreen({ autoPromotionSeconds }));
      expect(rolloutNotice(manual)).toMatchObject({ kind: 'awaiting-promotion', title: 'payments-api: waits for promotion' });
    }
  });

  it('names the cluster, so the same service on two clusters is told of apart', () => {
    const waiting = rollout({ phase: 'Paused', message: 'CanaryPauseStep', currentStepIndex: 1, ...paused('CanaryPauseStep') });
    expect(rolloutNotice(waiting, 'staging')!.description).toContain('Rollout payments/payments-api on cluster staging reached');
    expect(rolloutNotice(waiting, 'prod')!.key).toBe(rolloutNotice(waiting, 'staging')!.key);
  });

  it('asks a person to decide after an inconclusive analysis', () => {
    expect(rolloutNotice(rollout({ phase: 'Paused', message: 'InconclusiveAnalysisRun', currentStepIndex: 3, ...paused('InconclusiveAnalysisRun') }))).toMatchObject({
      key: 'awaiting-promotion:new:3:InconclusiveAnalysisRun:2026-12-06T17:00:00Z',
      title: 'payments-api: analysis inconclusive',
    });
    // Promoted, a new run at the same step is inconclusive too: news again.
    const again = rolloutNotice(rollout({ phase: 'Paused', message: 'InconclusiveAnalysisRun', currentStepIndex: 3, ...paused('InconclusiveAnalysisRun', '2026-12-06T17:30:00Z') }));
    expect(again!.key).toBe('awaiting-promotion:new:3:InconclusiveAnalysisRun:2026-12-06T17:30:00Z');
  });

  const abortedBy = (reason: string) => ({
    type: 'Progressing', status: 'False' as const, reason: 'RolloutAborted', message: `Rollout aborted update to revision 2${reason}`,
  });

  it('tells of an abort with Argo\'s reason, as urgent, once the controller has acted on it', () => {
    const failed = ': Metric "health" assessed Failed due to failed (1) > failureLimit (0)';
    // The abort action only sets `abort`; the status still describes the pause.
    expect(rolloutNotice(rollout({ phase: 'Paused', message: 'CanaryPauseStep', abort: true, currentStepIndex: 1, ...paused('CanaryPauseStep') }))).toBeUndefined();
    const notice = rolloutNotice(rollout({
      phase: 'Degraded', message: `RolloutAborted: Rollout aborted update to revision 2${failed}`, abort: true, abortedAt: '2026-12-06T17:01:00Z', currentStepIndex: 0,
      conditions: [abortedBy(failed)],
    }));
    expect(notice).toMatchObject({ kind: 'aborted', key: 'aborted:new:2026-12-06T17:01:00Z', title: 'payments-api: update aborted', severity: 'high' });
    expect(notice!.description).toContain('Rollout aborted update to revision 2: Metric "health" assessed Failed due to failed (1) > failureLimit (0). Retry it');
  });

  it('says nothing of a retry under way, and tells of a second abort of the same revision again', () => {
    // Retry clears `abort`; until the controller acts, the phase is still the abort's.
    expect(rolloutNotice(rollout({ phase: 'Degraded', message: 'RolloutAborted: Rollout aborted update to revision 2', currentStepIndex: 0, conditions: [abortedBy('')] }))).toBeUndefined();
    const again = rolloutNotice(rollout({ phase: 'Degraded', message: 'RolloutAborted: Rollout aborted update to revision 2', abort: true, abortedAt: '2026-12-06T17:20:00Z', conditions: [abortedBy('')] }));
    expect(again!.key).toBe('aborted:new:2026-12-06T17:20:00Z');
  });

  it('tells of an update that stopped progressing, each distinct reason once', () => {
    const notice = rolloutNotice(rollout({ phase: 'Degraded', message: 'ProgressDeadlineExceeded: ReplicaSet "payments-api-new" has timed out progressing.' }));
    expect(notice).toMatchObject({ kind: 'degraded', title: 'payments-api: update stopped', severity: 'high' });
    expect(notice!.key).toMatch(/^degraded:new:[0-9a-f]{32}$/);
    // Another reason is another notice; a message of any length keeps the key short (the column holds 1,024 characters).
    const other = rolloutNotice(rollout({ phase: 'Degraded', message: `InvalidSpec: ${'x'.repeat(5000)}` }));
    expect(other!.key).not.toBe(notice!.key);
    expect(other!.key.length).toBeLessThan(100);
  });

  it('tells of a completed update once the new version is stable, naming its revision rather than calling it new', () => {
    const complete = rollout({ phase: 'Healthy', message: '', stableRS: 'new' });
    expect(rolloutNotice(complete)).toMatchObject({
      kind: 'completed', key: 'completed:new', title: 'payments-api: update complete', severity: 'low',
    });
    // Also after a revert to the stable template, as Argo's on-rollout-completed: nothing new shipped then.
    expect(rolloutNotice(complete)!.description).toBe('Rollout payments/payments-api is fully promoted: the version its spec names is stable and serves all traffic.');
    complete.metadata.annotations = { 'rollout.argoproj.io/revision': '4' };
    expect(rolloutNotice(complete)!.description).toContain('revision 4, the version its spec names, is stable');
  });

  it('says nothing while an update simply progresses, or before the controller has seen the spec', () => {
    expect(rolloutNotice(rollout({ phase: 'Progressing', message: 'more replicas need to be updated', currentStepIndex: 2 }))).toBeUndefined();
    // A new spec (generation 3) over the status of the last one: that paused state is stale.
    const stale = rollout({ phase: 'Paused', message: 'CanaryPauseStep', currentStepIndex: 1, ...paused('CanaryPauseStep') });
    stale.metadata.generation = 3;
    expect(rolloutNotice(stale)).toBeUndefined();
    expect(rolloutNotice(rollout({ currentPodHash: undefined }))).toBeUndefined();
  });
});
