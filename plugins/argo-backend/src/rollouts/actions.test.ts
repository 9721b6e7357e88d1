import type { Rollout, RolloutStatus } from '@quarterdeck/plugin-argo-common';
import { apiServerPodTemplateDefaults } from '../__testUtils__/apiServerDefaults';
import { planRolloutAction } from './actions';

function rollout(status: RolloutStatus = {}, spec: Partial<Rollout['spec']> = {}): Rollout {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'payments-api', namespace: 'payments' },
    spec: {
      replicas: 3,
      template: { metadata: { labels: { app: 'payments' } }, spec: { containers: [{ name: 'app', image: 'payments:2' }] } },
      strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: { duration: '1m' } }] } },
      ...spec,
    },
    status: { currentPodHash: 'new', stableRS: 'old', currentStepIndex: 1, ...status },
  };
}
const atPause = { pauseConditions: [{ reason: 'CanaryPauseStep', startTime: '2026-01-01T00:00:00Z' }], controllerPause: true };

describe('planRolloutAction: the patches kubectl argo rollouts sends', () => {
  it('promote at a pause step clears the pause conditions through the status subresource', () => {
    expect(planRolloutAction(rollout(atPause), 'promote')).toEqual({
      ok: true,
      summary: "rollout 'payments-api' promoted",
      patches: [{ subresource: 'status', type: 'merge', body: { status: { pauseConditions: null } } }],
    });
  });

  it('promote after an inconclusive step analysis also moves to the next step', () => {
    const r = rollout({ ...atPause, pauseConditions: [{ reason: 'InconclusiveAnalysisRun', startTime: 'x' }], canary: { currentStepAnalysisRunStatus: { status: 'Inconclusive' } } as any });
    expect(planRolloutAction(r, 'promote')).toMatchObject({
      ok: true,
      patches: [{ subresource: 'status', type: 'merge', body: { status: { pauseConditions: null, controllerPause: false, currentStepIndex: 2 } } }],
    });
  });

  it('promote of a hand-paused canary unpauses it and skips the current step, as kubectl does', () => {
    expect(planRolloutAction(rollout({}, { paused: true }), 'promote')).toMatchObject({
      ok: true,
      patches: [
        { subresource: 'status', type: 'merge', body: { status: { pauseConditions: null, currentStepIndex: 2 } } },
        { type: 'merge', body: { spec: { paused: false } } },
      ],
    });
  });

  it('promote at a step without a pause condition (analysis, setWeight) skips that step, as kubectl does', () => {
    expect(planRolloutAction(rollout({ currentStepIndex: 2 }), 'promote')).toEqual({
      ok: true,
      summary: "rollout 'payments-api' promoted",
      patches: [{ subresource: 'status', type: 'merge', body: { status: { pauseConditions: null, currentStepIndex: 3 } } }],
    });
  });

  it('refuses to promote, with 409 and why, where kubectl would change nothing', () => {
    const notPaused = "Rollout 'payments-api' is not paused, so there is nothing to promote; use promote-full to skip all remaining steps";
    // Past the last step, a canary without steps, a blue-green Rollout not paused.
    expect(planRolloutAction(rollout({ currentStepIndex: 4 }), 'promote')).toEqual({ ok: false, status: 409, message: notPaused });
    expect(planRolloutAction(rollout({}, { strategy: { canary: {} } }), 'promote')).toEqual({ ok: false, status: 409, message: notPaused });
    expect(planRolloutAction(rollout({}, { strategy: { blueGreen: { activeService: 'payments' } } }), 'promote')).toEqual({ ok: false, status: 409, message: notPaused });
    // The controller puts the step back at once on an aborted canary.
    expect(planRolloutAction(rollout({ abort: true, currentStepIndex: 0 }), 'promote')).toEqual({
      ok: false,
      status: 409,
      message: "Rollout 'payments-api' is aborted, so there is no step to promote; retry it to start the update again",
    });
  });

  it('promote-full asks the controller for a full promotion, and unpauses', () => {
    expect(planRolloutAction(rollout({}, { paused: true }), 'promote-full')).toMatchObject({
      ok: true,
      patches: [
        { subresource: 'status', type: 'merge', body: { status: { promoteFull: true } } },
        { type: 'merge', body: { spec: { paused: false } } },
      ],
    });
    expect(planRolloutAction(rollout({ stableRS: 'new' }), 'promote-full')).toMatchObject({ ok: false, status: 409 });
    // Not yet reconciled (no stable or current ReplicaSet) and not paused: nothing to send, and not a "fully promoted" that did nothing.
    const unreconciled = rollout({});
    unreconciled.status = {};
    expect(planRolloutAction(unreconciled, 'promote-full')).toEqual({ ok: false, status: 409,
      message: "Rollout 'payments-api' has no ReplicaSet yet, so there is nothing to promote; wait for its controller to reconcile it" });
  });

  it('abort and retry flip status.abort', () => {
    expect(planRolloutAction(rollout(), 'abort')).toMatchObject({ ok: true, patches: [{ subresource: 'status', type: 'merge', body: { status: { abort: true } } }] });
    expect(planRolloutAction(rollout({ abort: true }), 'abort')).toMatchObject({ ok: false, status: 409 });
    expect(planRolloutAction(rollout({ stableRS: 'new', observedGeneration: '1' }), 'abort')).toMatchObject({ ok: false, status: 409 });
    // A template pushed that the controller has not yet started: the controller would drop the abort as the update starts.
    const justPushed = rollout({ stableRS: 'new', observedGeneration: '1' });
    justPushed.metadata.generation = 2;
    expect(planRolloutAction(justPushed, 'abort')).toEqual({
      ok: false,
      status: 409,
      message: "Rollout 'payments-api' has a change its controller has not started yet (generation 2, it has seen 1); an abort now would be dropped as the update starts: abort once the update is under way",
    });
    expect(planRolloutAction(rollout({ abort: true }), 'retry')).toMatchObject({ ok: true, patches: [{ subresource: 'status', type: 'merge', body: { status: { abort: false } } }] });
    expect(planRolloutAction(rollout(), 'retry')).toMatchObject({ ok: false, status: 409 });
  });

  it('pause and resume set spec.paused; restart sets spec.restartAt', () => {
    expect(planRolloutAction(rollout(), 'pause')).toMatchObject({ ok: true, patches: [{ type: 'merge', body: { spec: { paused: true } } }] });
    expect(planRolloutAction(rollout({}, { paused: true }), 'pause')).toMatchObject({ ok: false, status: 409 });
    expect(planRolloutAction(rollout({}, { paused: true }), 'resume')).toMatchObject({ ok: true, patches: [{ type: 'merge', body: { spec: { paused: false } } }] });
    expect(planRolloutAction(rollout(atPause), 'resume')).toMatchObject({ ok: false, status: 409 });
    expect(planRolloutAction(rollout(), 'restart', { now: new Date('2026-11-22T10:00:00.123Z') })).toMatchObject({
      ok: true,
      patches: [{ type: 'merge', body: { spec: { restartAt: '2026-11-22T10:00:00Z' } } }],
    });
  });

  describe('undo', () => {
    const rs = (revision: number, image: string) => ({
      metadata: { name: `payments-api-${revision}`, annotations: { 'rollout.argoproj.io/revision': String(revision) } },
      spec: { template: { metadata: { labels: { app: 'payments', 'rollouts-pod-template-hash': `h${revision}` } }, spec: { containers: [{ name: 'app', image }] } } },
    });
    const history = [rs(1, 'payments:1'), rs(3, 'payments:2'), rs(2, 'payments:1.5')];

    it('replaces the template with the previous revision by JSON patch, without the hash label', () => {
      expect(planRolloutAction(rollout(), 'undo', { replicaSets: history })).toEqual({
        ok: true,
        summary: "rollout 'payments-api' undo",
        patches: [{ type: 'json', body: [{ op: 'replace', path: '/spec/template', value: { metadata: { labels: { app: 'payments' } }, spec: { containers: [{ name: 'app', image: 'payments:1.5' }] } } }] }],
      });
    });

    it('goes to a named revision, and says when there is none or nothing changes', () => {
      expect(planRolloutAction(rollout(), 'undo', { replicaSets: history, revision: 1 })).toMatchObject({ ok: true });
      expect(planRolloutAction(rollout(), 'undo', { replicaSets: history, revision: 9 })).toEqual({ ok: false, status: 404, message: 'unable to find specified revision 9 in history' });
      expect(planRolloutAction(rollout(), 'undo', { replicaSets: [] })).toEqual({ ok: false, status: 404, message: 'no revision found for rollout "payments-api"' });
      expect(planRolloutAction(rollout(), 'undo', { replicaSets: history, revision: 3 })).toEqual({
        ok: false,
        status: 409,
        message: 'skipped rollback (current template already matches revision 3)',
      });
    });

    it('skips the revision in force though the API server defaulted its ReplicaSet\'s template, as kubectl does', () => {
      const current = { ...rs(3, 'payments:2'), spec: { template: apiServerPodTemplateDefaults(rs(3, 'payments:2').spec.template) } };
      expect(planRolloutAction(rollout(), 'undo', { replicaSets: [rs(2, 'payments:1.5'), current], revision: 3 })).toEqual({
        ok: false,
        status: 409,
        message: 'skipped rollback (current template already matches revision 3)',
      });
      // A field the Rollout sets and the ReplicaSet does not is a difference.
      const withEnv = rollout({}, { template: { metadata: { labels: { app: 'payments' } }, spec: { containers: [{ name: 'app', image: 'payments:2', env: [{ name: 'A', value: '1' }] }] } } });
      expect(planRolloutAction(withEnv, 'undo', { replicaSets: [rs(2, 'payments:1.5'), current], revision: 3 })).toMatchObject({ ok: true });
    });

    describe('of a Rollout with a workloadRef', () => {
      const workloadRollout = (kind: string, apiVersion = 'apps/v1') => rollout({}, { template: undefined, workloadRef: { apiVersion, kind, name: 'payments-web' } });
      const deployment = (image: string) => ({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'payments-web', namespace: 'payments' },
        spec: { template: { metadata: { labels: { app: 'payments' } }, spec: { containers: [{ name: 'app', image }] } } },
      });

      it('patches the workload\'s template, not the Rollout (undoWorkloadRef)', () => {
        expect(planRolloutAction(workloadRollout('Deployment'), 'undo', { replicaSets: history, workload: deployment('payments:2') })).toEqual({
          ok: true,
          summary: "rollout 'payments-api' undo",
          patches: [{
            target: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'payments-web' },
            type: 'json',
            body: [{ op: 'replace', path: '/spec/template', value: { metadata: { labels: { app: 'payments' } }, spec: { containers: [{ name: 'app', image: 'payments:1.5' }] } } }],
          }],
        });
        const podTemplate = { apiVersion: 'v1', kind: 'PodTemplate', metadata: { name: 'payments-web', namespace: 'payments' }, template: deployment('payments:2').spec.template };
        expect(planRolloutAction(workloadRollout('PodTemplate', 'v1'), 'undo', { replicaSets: history, workload: podTemplate })).toMatchObject({
          ok: true,
          patches: [{ target: { apiVersion: 'v1', kind: 'PodTemplate', name: 'payments-web' }, type: 'json', body: [{ op: 'replace', path: '/template' }] }],
        });
      });

      it('compares with the workload\'s template, and says when the workload is missing', () => {
        expect(planRolloutAction(workloadRollout('Deployment'), 'undo', { replicaSets: history, revision: 2, workload: deployment('payments:1.5') })).toEqual({
          ok: false,
          status: 409,
          message: 'skipped rollback (current template already matches revision 2)',
        });
        expect(planRolloutAction(workloadRollout('Deployment'), 'undo', { replicaSets: history })).toEqual({ ok: false, status: 404, message: 'Deployment "payments-web" not found' });
      });
    });
  });
});
