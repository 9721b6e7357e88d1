import type { RolloutSpec, RolloutStatus } from '@quarterdeck/plugin-argo-common';
import { calculateRolloutPhase, displayedRolloutPhase } from './phase';

const canary: RolloutSpec = { replicas: 3, strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } } };
const blueGreen: RolloutSpec = { replicas: 3, strategy: { blueGreen: { activeService: 'a', previewService: 'p', postPromotionAnalysis: { templates: [{ templateName: 't' }] } } } };
const done: RolloutStatus = { replicas: 3, updatedReplicas: 3, availableReplicas: 3, currentPodHash: 'h2', stableRS: 'h2' };

describe('calculateRolloutPhase', () => {
  it.each<[string, RolloutSpec, RolloutStatus, string, string]>([
    ['a healthy canary', canary, done, 'Healthy', ''],
    ['an invalid spec', canary, { ...done, conditions: [{ type: 'InvalidSpec', status: 'True', reason: 'InvalidSpec', message: 'The Rollout "r" is invalid: spec.selector: Required value' }] },
      'Degraded', 'InvalidSpec: The Rollout "r" is invalid: spec.selector: Required value'],
    ['an aborted update', canary, { ...done, conditions: [{ type: 'Progressing', status: 'False', reason: 'RolloutAborted', message: 'Rollout aborted update to revision 2' }] },
      'Degraded', 'RolloutAborted: Rollout aborted update to revision 2'],
    ['a missed progress deadline', canary, { ...done, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "r-h2" has timed out progressing.' }] },
      'Degraded', 'ProgressDeadlineExceeded: ReplicaSet "r-h2" has timed out progressing.'],
    ['a manual pause', { ...canary, paused: true }, done, 'Paused', 'manually paused'],
    ['a pause step', canary, { ...done, pauseConditions: [{ reason: 'CanaryPauseStep', startTime: '2026-01-01T00:00:00Z' }] }, 'Paused', 'CanaryPauseStep'],
    ['a restart not yet done', { ...canary, restartAt: '2026-01-01T00:00:00Z' }, done, 'Progressing', 'rollout is restarting'],
    ['a restart done', { ...canary, restartAt: '2026-01-01T00:00:00Z' }, { ...done, restartedAt: '2026-01-01T00:00:00Z' }, 'Healthy', ''],
    ['replicas to update', canary, { ...done, updatedReplicas: 1 }, 'Progressing', 'more replicas need to be updated'],
    ['updated replicas not yet available', canary, { ...done, availableReplicas: 2 }, 'Progressing', 'updated replicas are still becoming available'],
    ['old replicas still running', canary, { ...done, replicas: 4 }, 'Progressing', 'old replicas are pending termination'],
    ['steps not done', canary, { ...done, stableRS: 'h1' }, 'Progressing', 'waiting for all steps to complete'],
    ['blue-green before the switch', blueGreen, { ...done, blueGreen: { activeSelector: 'h1' } }, 'Progressing', 'active service cutover pending'],
    ['blue-green during post-promotion analysis', blueGreen, { ...done, stableRS: 'h1', blueGreen: { activeSelector: 'h2', postPromotionAnalysisRunStatus: { status: 'Running' } } },
      'Progressing', 'waiting for analysis to complete'],
    ['blue-green after the switch', blueGreen, { ...done, blueGreen: { activeSelector: 'h2' } }, 'Healthy', ''],
  ])('%s', (_name, spec, status, phase, message) => {
    expect(calculateRolloutPhase(spec, status)).toEqual({ phase, message });
  });
});

describe('displayedRolloutPhase', () => {
  it('waits for the controller to observe a new generation (a string in Rollouts)', () => {
    expect(displayedRolloutPhase({ metadata: { generation: 3 }, spec: canary, status: { ...done, observedGeneration: '2', phase: 'Healthy' } }))
      .toEqual({ phase: 'Progressing', message: 'waiting for rollout spec update to be observed' });
    expect(displayedRolloutPhase({ metadata: { generation: 3 }, spec: canary, status: { ...done, observedGeneration: '3', phase: 'Healthy', message: '' } }))
      .toEqual({ phase: 'Healthy', message: '' });
  });

  it('shows a resume the controller has not acted on yet', () => {
    expect(displayedRolloutPhase({ metadata: { generation: 1 }, spec: canary, status: { ...done, observedGeneration: '1', controllerPause: true, phase: 'Paused' } }))
      .toEqual({ phase: 'Progressing', message: 'waiting for rollout to unpause' });
  });
});
