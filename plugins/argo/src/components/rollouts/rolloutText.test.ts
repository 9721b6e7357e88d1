import type { RolloutSummary } from '@quarterdeck/plugin-argo-common';
import { pauseReasonText } from './BlueGreenFlow';
import { auditWhere } from './RolloutAuditTrail';
import { stepLabel } from './RolloutCard';

const canary = (currentStepIndex: number): RolloutSummary => ({
  cluster: 'local', namespace: 'payments', name: 'payments-api', strategy: 'canary', phase: 'Paused', message: 'CanaryPauseStep',
  paused: false, aborted: false,
  pauseConditions: [{ reason: 'CanaryPauseStep', startTime: '2026-11-22T10:00:00Z' }],
  currentStepIndex,
  steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: { duration: '1m30s' } }, { pause: { duration: 45 } }],
  replicas: 5, readyReplicas: 5, updatedReplicas: 1, availableReplicas: 5,
});
const T = Date.parse('2026-11-22T10:00:00Z');

describe('pauseReasonText', () => {
  it('asks for a promotion at a pause without a duration, and says when a timed pause goes on by itself', () => {
    expect(pauseReasonText('CanaryPauseStep', canary(1), T + 30_000)).toBe('Waiting at a pause step: promote to go on to the next step');
    // Argo's durations: a Go duration, or a number of seconds.
    expect(pauseReasonText('CanaryPauseStep', canary(3), T + 30_000)).toBe('Pausing at step 4: goes on by itself in 60 s, or promote to go on now');
    expect(pauseReasonText('CanaryPauseStep', canary(4), T + 44_500)).toBe('Pausing at step 5: goes on by itself in 1 s, or promote to go on now');
    expect(pauseReasonText('CanaryPauseStep', canary(4), T + 50_000)).toBe('Pausing at step 5: goes on by itself in 0 s, or promote to go on now');
  });
});

describe('auditWhere', () => {
  it('names the step an action was taken at, and a canary past its last one as such', () => {
    expect(auditWhere({ stepBefore: 1, stepCount: 6 })).toBe('at step 2');
    expect(auditWhere({ stepBefore: 6, stepCount: 6 })).toBe('after the last step');
    // Entries from before stepCount was recorded.
    expect(auditWhere({ stepBefore: 6 })).toBe('at step 7');
    expect(auditWhere({ phaseBefore: 'Paused' })).toBe('while Paused');
  });
});

describe('stepLabel', () => {
  it('names steps as kubectl argo rollouts does, a pause of a bare number in seconds', () => {
    expect(stepLabel({ setWeight: 20 })).toBe('setWeight: 20');
    expect(stepLabel({ pause: {} })).toBe('pause');
    expect(stepLabel({ pause: { duration: 30 } })).toBe('pause: 30s');
    expect(stepLabel({ pause: { duration: '45' } })).toBe('pause: 45s');
    expect(stepLabel({ pause: { duration: '1m30s' } })).toBe('pause: 1m30s');
  });
});
