import { useState, type ReactElement } from 'react';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { mockApis, renderInTestApp, TestApiProvider } from '@backstage/frontend-test-utils';
import { alertApiRef } from '@backstage/core-plugin-api';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { RolloutDetail, RolloutSummary } from '@quarterdeck/plugin-argo-common';
import { argoApiRef, type ArgoApi } from '../../api/ArgoClient';
import { RolloutsContent } from './RolloutsContent';

const entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name: 'payments-api', namespace: 'default', annotations: { 'backstage.io/kubernetes-id': 'payments-api' } },
  spec: { type: 'service', owner: 'team-payments', lifecycle: 'production' },
};

const summary: RolloutSummary = {
  cluster: 'local',
  namespace: 'payments',
  name: 'payments-api',
  strategy: 'canary',
  phase: 'Paused',
  message: 'CanaryPauseStep',
  paused: false,
  aborted: false,
  pauseConditions: [{ reason: 'CanaryPauseStep', startTime: '2026-11-22T10:00:00Z' }],
  currentStepIndex: 1,
  steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: { duration: '1m' } }, { setWeight: 100 }],
  weights: { canary: { weight: 20 }, stable: { weight: 80 } },
  stableRS: 'old',
  currentPodHash: 'new',
  replicas: 5,
  readyReplicas: 5,
  updatedReplicas: 1,
  availableReplicas: 5,
};
const detail: RolloutDetail = {
  ...summary,
  entityRef: 'component:default/payments-api',
  conditions: [],
  replicaSets: [
    { name: 'payments-api-old', hash: 'old', role: 'stable', revision: 1, replicas: 4, readyReplicas: 4, availableReplicas: 4 },
    { name: 'payments-api-new', hash: 'new', role: 'canary', revision: 2, replicas: 1, readyReplicas: 1, availableReplicas: 1 },
  ],
  analysisRuns: [{ name: 'payments-api-new-2-2', phase: 'Successful', metricResults: [{ name: 'success-rate', phase: 'Successful', measurements: [{ phase: 'Successful', value: '[0.99]' }, { phase: 'Successful', value: '[0.97]' }] }] }],
  audit: [{ id: '1', createdAt: '2026-11-22T09:00:00Z', actor: 'user:default/alice', action: 'promote', reason: 'looks good', details: { stepBefore: 0 } }],
};

const blueGreenSummary: RolloutSummary = {
  cluster: 'local',
  namespace: 'ml',
  name: 'sentiment-model',
  strategy: 'blueGreen',
  phase: 'Paused',
  message: 'BlueGreenPause',
  paused: false,
  aborted: false,
  pauseConditions: [{ reason: 'BlueGreenPause', startTime: '2026-11-22T10:00:00Z' }],
  steps: [],
  stableRS: 'blue1',
  currentPodHash: 'green2',
  replicas: 2,
  readyReplicas: 2,
  updatedReplicas: 2,
  availableReplicas: 2,
  blueGreen: {
    activeService: 'sentiment-model',
    previewService: 'sentiment-model-preview',
    activeSelector: 'blue1',
    previewSelector: 'green2',
    autoPromotionEnabled: false,
    scaleDownDelaySeconds: 30,
    prePromotionAnalysisConfigured: true,
    postPromotionAnalysisConfigured: true,
    prePromotionAnalysis: { name: 'sentiment-model-green2-2-pre', status: 'Successful' },
  },
};
const blueGreenDetail: RolloutDetail = {
  ...blueGreenSummary,
  entityRef: 'component:default/sentiment-model',
  conditions: [],
  replicaSets: [
    { name: 'sentiment-model-blue1', hash: 'blue1', role: 'active', revision: 1, replicas: 2, readyReplicas: 2, availableReplicas: 2 },
    { name: 'sentiment-model-green2', hash: 'green2', role: 'preview', revision: 2, replicas: 2, readyReplicas: 2, availableReplicas: 2 },
    { name: 'sentiment-model-old0', hash: 'old0', role: 'old', revision: 0, replicas: 1, readyReplicas: 1, availableReplicas: 1, scaleDownDeadline: '2026-11-22T10:05:00Z' },
  ],
  analysisRuns: [
    { name: 'sentiment-model-green2-2-pre', type: 'PrePromotion', kind: 'PrePromotion', phase: 'Successful', metricResults: [] },
    { name: 'payments-like-step-run', type: 'Step', kind: 'Step', stepIndex: '2', phase: 'Running', metricResults: [] },
  ],
  audit: [],
};

function api(): jest.Mocked<ArgoApi> {
  return {
    health: jest.fn(),
    listRollouts: jest.fn().mockResolvedValue([summary]),
    getRollout: jest.fn().mockResolvedValue(detail),
    listRolloutAudit: jest.fn(),
    rolloutAction: jest.fn().mockResolvedValue({ summary: "rollout 'payments-api' aborted", audit: detail.audit[0] }),
  };
}

function deferred<T>() {
  let resolve: (value: T) => void = () => {};
  let reject: (error: Error) => void = () => {};
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

type Decision = AuthorizeResult.ALLOW | AuthorizeResult.DENY;
async function render(
  argo: ArgoApi,
  result: Decision | ((request: { resourceRef?: string }) => Decision),
  name: string | ReactElement = 'payments-api',
  { alerts = { post: jest.fn(), alert$: jest.fn() } }: { alerts?: { post: jest.Mock; alert$: jest.Mock } } = {},
) {
  await renderInTestApp(
    <TestApiProvider apis={[
      [argoApiRef, argo],
      [permissionApiRef, mockApis.permission({ authorize: result as Decision })],
      [alertApiRef, alerts as any],
    ]}>
      {typeof name === 'string' ? <EntityProvider entity={{ ...entity, metadata: { ...entity.metadata, name } }}><RolloutsContent /></EntityProvider> : name}
    </TestApiProvider>,
  );
}

/** An entity page whose entity changes without the tab being mounted again, as when following a link to another entity. */
function EntitySwitcher({ names }: { names: [string, string] }) {
  const [name, setName] = useState(names[0]);
  return (
    <>
      <button onClick={() => setName(names[1])}>go to {names[1]}</button>
      <EntityProvider entity={{ ...entity, metadata: { ...entity.metadata, name } }}>
        <RolloutsContent />
      </EntityProvider>
    </>
  );
}

describe('RolloutsContent', () => {
  it('shows the step, the weights, the ReplicaSets, the analysis and the audit trail', async () => {
    await render(api(), AuthorizeResult.ALLOW);
    expect(await screen.findByText('Step 2 of 5')).toBeInTheDocument();
    expect(screen.getByLabelText('canary weight 20%')).toBeInTheDocument();
    expect(screen.getByText(/Paused: CanaryPauseStep/)).toBeInTheDocument();
    expect(await screen.findByText('payments-api-new')).toBeInTheDocument();
    expect(screen.getByText('payments-api-new-2-2')).toBeInTheDocument();
    expect(screen.getByRole('img', { name: 'measurements over time: 2 measurements, the latest [0.97] (Successful)' })).toBeInTheDocument();
    expect(screen.getByText('looks good')).toBeInTheDocument();
    expect(screen.getByText('at step 1')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Promote' })).toBeEnabled();
    expect(screen.getByRole('button', { name: 'Retry' })).toBeDisabled(); // nothing to retry
  });

  it('shows older audit entries on demand, after the newest, without repeating any', async () => {
    const argo = api();
    const entry = (id: number, reason: string) => ({ id: String(id), createdAt: `2026-11-22T09:${String(id).padStart(2, '0')}:00Z`, actor: 'user:default/alice', action: 'pause', reason });
    // A newer entry arrived after the newest page was read: the older page starts where that page ended.
    argo.getRollout.mockResolvedValue({ ...detail, audit: [entry(12, 'newest'), entry(11, 'second')], auditNext: '1763802660000-11' });
    argo.listRolloutAudit
      .mockResolvedValueOnce({ items: [entry(10, 'third'), entry(9, 'fourth')], next: '1763802540000-9' })
      .mockResolvedValueOnce({ items: [entry(8, 'oldest')] });
    await render(argo, AuthorizeResult.ALLOW);
    expect(await screen.findByText('newest')).toBeInTheDocument();
    expect(screen.queryByText('third')).not.toBeInTheDocument();

    fireEvent.click(screen.getByRole('button', { name: 'Show older' }));
    expect(await screen.findByText('fourth')).toBeInTheDocument();
    expect(argo.listRolloutAudit).toHaveBeenCalledWith({ cluster: 'local', namespace: 'payments', name: 'payments-api' }, '1763802660000-11');
    // Someone acts: the newest page (polled) no longer holds "second", which stays shown between it and the older ones.
    argo.getRollout.mockResolvedValue({ ...detail, audit: [entry(13, 'meanwhile'), entry(12, 'newest')], auditNext: '1763802720000-12' });
    expect(await screen.findByText('meanwhile', undefined, { timeout: 5_000 })).toBeInTheDocument();
    expect(screen.getByText('second')).toBeInTheDocument();
    // More arrive than the newest page holds: what it showed before stays too.
    argo.getRollout.mockResolvedValue({ ...detail, audit: [entry(15, 'later still'), entry(14, 'later')], auditNext: '1763802840000-14' });
    expect(await screen.findByText('later still', undefined, { timeout: 5_000 })).toBeInTheDocument();
    expect(screen.getByText('meanwhile')).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Show older' }));
    expect(await screen.findByText('oldest')).toBeInTheDocument();
    expect(argo.listRolloutAudit).toHaveBeenLastCalledWith(expect.anything(), '1763802540000-9');
    const reasons = within(screen.getByRole('table', { name: 'audit trail' })).getAllByRole('row').slice(1).map(row => row.lastElementChild?.textContent);
    expect(reasons).toEqual(['later still', 'later', 'meanwhile', 'newest', 'second', 'third', 'fourth', 'oldest']);
    // The last page has no next: nothing older to show.
    expect(screen.queryByRole('button', { name: 'Show older' })).not.toBeInTheDocument();
  });

  it('puts the focus in the reason, and confirms with Enter there', async () => {
    const argo = api();
    await render(argo, AuthorizeResult.ALLOW);
    const abort = await screen.findByRole('button', { name: 'Abort' });
    await waitFor(() => expect(abort).toBeEnabled());
    fireEvent.click(abort);
    const reason = await screen.findByLabelText(/Reason/);
    await waitFor(() => expect(reason).toHaveFocus());
    fireEvent.change(reason, { target: { value: 'error rate doubled' } });
    fireEvent.submit(reason.closest('form')!);
    await waitFor(() => expect(argo.rolloutAction).toHaveBeenCalledWith(expect.anything(), 'abort', { reason: 'error rate doubled' }));
  });

  it('asks for a reason before aborting, and sends it', async () => {
    const argo = api();
    await render(argo, AuthorizeResult.ALLOW);
    fireEvent.click(await screen.findByRole('button', { name: 'Abort' }));
    const confirm = screen.getByRole('button', { name: 'Confirm' });
    expect(confirm).toBeDisabled();
    fireEvent.change(screen.getByLabelText(/Reason/), { target: { value: 'errors on checkout' } });
    fireEvent.click(confirm);
    await waitFor(() =>
      expect(argo.rolloutAction).toHaveBeenCalledWith({ cluster: 'local', namespace: 'payments', name: 'payments-api' }, 'abort', { reason: 'errors on checkout' }),
    );
  });

  it('disables the actions a user may not take, saying which permission on which entity', async () => {
    // Another entity: permission answers are cached per resource.
    const argo = api();
    argo.getRollout.mockResolvedValue({ ...detail, entityRef: 'component:default/payments-api-locked' });
    await render(argo, AuthorizeResult.DENY, 'payments-api-locked');
    const promote = await screen.findByRole('button', { name: 'Promote' });
    await waitFor(() => expect(promote).toBeDisabled());
    const reason = await screen.findByLabelText('You need argo.rollout.restart on component:default/payments-api-locked');
    // A keyboard reaches the reason: the disabled button cannot take focus, its wrapper can.
    expect(reason).toHaveAttribute('tabindex', '0');
    reason.focus();
    expect(reason).toHaveFocus();
  });

  it('says a permission check that failed is no answer, rather than that the user lacks the permission', async () => {
    const argo = api();
    argo.getRollout.mockResolvedValue({ ...detail, entityRef: 'component:default/payments-api-unchecked' });
    await renderInTestApp(
      <TestApiProvider apis={[
        [argoApiRef, argo],
        [permissionApiRef, { authorize: async () => { throw new Error('the permission backend is unavailable'); } } as any],
        [alertApiRef, { post: jest.fn(), alert$: jest.fn() } as any],
      ]}>
        <EntityProvider entity={{ ...entity, metadata: { ...entity.metadata, name: 'payments-api-unchecked' } }}><RolloutsContent /></EntityProvider>
      </TestApiProvider>,
    );
    const promote = await screen.findByRole('button', { name: 'Promote' });
    await waitFor(() => expect(promote).toBeDisabled());
    expect((await screen.findAllByLabelText('Could not check your permissions (the permission backend is unavailable): try again later.')).length).toBeGreaterThan(0);
    expect(screen.queryByLabelText(/^You need argo\.rollout/)).toBeNull();
  });

  it("gates the actions on the entity that owns the Rollout, which a label selector can make another than the page's", async () => {
    const argo = api();
    // The page is payments-web's; the Rollout is labelled for payments-owner, whose owners may act on it.
    argo.getRollout.mockResolvedValue({ ...detail, entityRef: 'component:default/payments-owner' });
    await render(argo, request => (request.resourceRef === 'component:default/payments-owner' ? AuthorizeResult.ALLOW : AuthorizeResult.DENY), 'payments-web');
    await waitFor(() => expect(screen.getByRole('button', { name: 'Promote' })).toBeEnabled(), { timeout: 5_000 });
  });

  it("keeps the dialog and the reason typed when the backend refuses, and shows the backend's sentence", async () => {
    const argo = api();
    const refusal = Object.assign(new Error('Request failed with 409 Conflict'), {
      statusCode: 409, body: { error: { name: 'ConflictError', message: "Rollout 'payments-api' is already aborted; retry it to start the update again" } },
    });
    argo.rolloutAction.mockRejectedValueOnce(refusal);
    await render(argo, AuthorizeResult.ALLOW);
    fireEvent.click(await screen.findByRole('button', { name: 'Abort' }));
    fireEvent.change(screen.getByLabelText(/Reason/), { target: { value: 'errors on checkout' } });
    fireEvent.click(screen.getByRole('button', { name: 'Confirm' }));
    const dialog = within(screen.getByRole('dialog'));
    expect(await dialog.findByText(/is already aborted; retry it to start the update again/)).toBeInTheDocument();
    expect((dialog.getByLabelText(/Reason/) as HTMLInputElement).value).toBe('errors on checkout');
    // Cancelled, then another action: its reason starts empty, not with the abort's.
    fireEvent.click(dialog.getByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    fireEvent.click(screen.getByRole('button', { name: 'Promote full' }));
    expect((within(screen.getByRole('dialog')).getByLabelText(/Reason/) as HTMLInputElement).value).toBe('');
  });

  it('sends promote-full for the pod template shown when its dialog opened, not one read while the reason was typed', async () => {
    const argo = api();
    await render(argo, AuthorizeResult.ALLOW);
    const promoteFull = await screen.findByRole('button', { name: 'Promote full' });
    await waitFor(() => expect(promoteFull).toBeEnabled());
    fireEvent.click(promoteFull);
    // Someone pushes another template meanwhile; the card reads it while the dialog is open.
    argo.getRollout.mockResolvedValue({ ...detail, currentPodHash: 'pushed-meanwhile' });
    const reads = argo.getRollout.mock.calls.length;
    fireEvent(document, new Event('visibilitychange'));
    await waitFor(() => expect(argo.getRollout.mock.calls.length).toBeGreaterThan(reads));
    fireEvent.change(screen.getByLabelText(/Reason/), { target: { value: 'canary looks right' } });
    fireEvent.click(screen.getByRole('button', { name: 'Confirm' }));
    // The backend refuses it (409) if the Rollout no longer runs what the user decided on.
    await waitFor(() => expect(argo.rolloutAction).toHaveBeenCalledWith(expect.anything(), 'promote-full', { reason: 'canary looks right', expectedPodHash: 'new' }));
  });

  it('sends a dialog confirmed again after a "moved on" refusal for the Rollout read since, not the one it opened on', async () => {
    const argo = api();
    await render(argo, AuthorizeResult.ALLOW);
    const promoteFull = await screen.findByRole('button', { name: 'Promote full' });
    await waitFor(() => expect(promoteFull).toBeEnabled());
    fireEvent.click(promoteFull);
    fireEvent.change(screen.getByLabelText(/Reason/), { target: { value: 'canary looks right' } });
    // Someone pushed another template: refused, and the card reads the Rollout again.
    argo.rolloutAction.mockRejectedValueOnce(new Error('Rollout default/payments-api runs another pod template now (pushed); look at it again'));
    argo.getRollout.mockResolvedValue({ ...detail, currentPodHash: 'pushed' });
    fireEvent.click(screen.getByRole('button', { name: 'Confirm' }));
    expect(await screen.findByText(/runs another pod template now/)).toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole('button', { name: 'Confirm' })).toBeEnabled());
    fireEvent.click(screen.getByRole('button', { name: 'Confirm' }));
    await waitFor(() => expect(argo.rolloutAction).toHaveBeenLastCalledWith(expect.anything(), 'promote-full', { reason: 'canary looks right', expectedPodHash: 'pushed' }));
  });

  it("says an action being sent is being sent, one whose backend stopped may have been applied, and why a metric errs or is only tried", async () => {
    const argo = api();
    const now = new Date().toISOString();
    argo.getRollout.mockResolvedValue({
      ...detail,
      analysisRuns: [{
        name: 'payments-api-new-2-2', phase: 'Running', metricResults: [
          { name: 'error-rate', phase: 'Running', measurements: [{ phase: 'Error', message: 'dial tcp 10.0.0.9:9090: connection refused' }] },
          { name: 'latency', phase: 'Failed', dryRun: true, message: 'Metric assessed Failed due to failed (1) > failureLimit (0)', measurements: [{ phase: 'Failed', value: '[900]' }] },
        ],
      }],
      audit: [
        { id: '11', createdAt: now, actor: 'user:default/bob', action: 'undo', details: { outcome: 'unknown', pending: true, error: 'the backend stopped before it knew the outcome' } },
        { id: '10', createdAt: '2026-11-22T10:00:00Z', actor: 'user:default/alice', action: 'pause', details: { outcome: 'unknown', pending: true, error: 'the backend stopped before it knew the outcome' } },
      ],
    });
    await render(argo, AuthorizeResult.ALLOW);
    expect(await screen.findByText('being sent…')).toBeInTheDocument();
    expect(screen.getByText('no outcome recorded: the backend stopped while sending it, so it may have been applied')).toBeInTheDocument();
    expect(screen.getByText('dial tcp 10.0.0.9:9090: connection refused')).toBeInTheDocument();
    expect(screen.getByText('dry run')).toBeInTheDocument();
    expect(screen.getByText('Metric assessed Failed due to failed (1) > failureLimit (0)')).toBeInTheDocument();
  });

  it("offers Promote at a step that is under way as skipping it, naming the step (kubectl skips it), and shows an attempt that failed on the trail", async () => {
    const argo = api();
    const analysing = {
      ...summary, phase: 'Progressing' as const, pauseConditions: [], currentStepIndex: 3,
      steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { analysis: { templates: [{ templateName: 'success-rate' }] } }, { setWeight: 100 }],
      weights: { canary: { weight: 50 }, stable: { weight: 50 } },
    };
    argo.listRollouts.mockResolvedValue([analysing]);
    argo.getRollout.mockResolvedValue({
      ...detail, ...analysing,
      audit: [{ id: '9', createdAt: '2026-11-22T10:00:00Z', actor: 'user:default/alice', action: 'abort', reason: 'bad', details: { outcome: 'failed', error: 'connection refused' } }],
    });
    await render(argo, AuthorizeResult.ALLOW);
    await waitFor(() => expect(screen.getByRole('button', { name: 'Skip step 4' })).toBeEnabled(), { timeout: 5_000 });
    expect(screen.queryByRole('button', { name: 'Promote' })).not.toBeInTheDocument();
    expect(screen.getByLabelText(
      'No pause to end: promote skips step 4 (analysis: success-rate), as kubectl argo rollouts promote does, and terminates its analysis run',
    )).toBeInTheDocument();
    expect(await screen.findByText('failed: connection refused')).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Skip step 4' }));
    // The step and template the user saw go with it: if another promote moved the canary meanwhile, this one is refused, not a skip of the next step.
    await waitFor(() => expect(argo.rolloutAction).toHaveBeenCalledWith(expect.anything(), 'promote', { expectedStep: 3, expectedPodHash: 'new' }));
  });

  it('offers Undo only when there is a revision to go back to, and shows a promoted canary all stable', async () => {
    const argo = api();
    const promoted = { ...summary, phase: 'Healthy' as const, pauseConditions: [], currentStepIndex: 5, stableRS: 'new', currentPodHash: 'new', weights: { canary: { weight: 100 }, stable: { weight: 0 } } };
    argo.listRollouts.mockResolvedValue([promoted]);
    argo.getRollout.mockResolvedValue({ ...detail, ...promoted, replicaSets: [{ ...detail.replicaSets[1], role: 'stable' }] });
    await render(argo, AuthorizeResult.ALLOW);
    expect(await screen.findByText('payments-api-new')).toBeInTheDocument();
    expect(screen.getByLabelText('canary weight 0%')).toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole('button', { name: 'Restart' })).toBeEnabled());
    expect(screen.getByRole('button', { name: 'Undo' })).toBeDisabled();
  });

  it('shows a blue-green rollout: its Services, its stages, the pause in words, and Promote enabled', async () => {
    const argo = api();
    argo.listRollouts.mockResolvedValue([blueGreenSummary]);
    argo.getRollout.mockResolvedValue(blueGreenDetail);
    argo.rolloutAction.mockResolvedValue({ summary: "rollout 'sentiment-model' promoted", audit: detail.audit[0] });
    await render(argo, AuthorizeResult.ALLOW, 'sentiment-model');
    expect(await screen.findByText(/Waiting for promotion: the new version is up behind the preview Service/)).toBeInTheDocument();
    expect(screen.getByText(/Paused: BlueGreenPause/)).toBeInTheDocument();
    expect(screen.queryByText(/Step \d+ of/)).not.toBeInTheDocument();
    expect(screen.getByText('active: sentiment-model')).toBeInTheDocument();
    expect(screen.getByText('preview: sentiment-model-preview')).toBeInTheDocument();
    // The ReplicaSets' revisions come with the detail.
    expect(await screen.findByLabelText('active service sentiment-model selects rev 1 · blue1')).toBeInTheDocument();
    expect(screen.getByLabelText('preview service sentiment-model-preview selects rev 2 · green2')).toBeInTheDocument();

    const stages = screen.getByLabelText('blue-green stages');
    for (const stage of ['Preview up', 'Pre-promotion analysis', 'Switch active', 'Post-promotion analysis', 'Stable']) {
      expect(within(stages).getByText(stage)).toBeInTheDocument();
    }
    expect(within(stages).getByText('Successful')).toBeInTheDocument();
    expect(within(stages).getByText('Waiting for promotion')).toBeInTheDocument();

    const replicaSets = screen.getByRole('table', { name: 'replica sets' });
    expect(within(replicaSets).getByText('active')).toBeInTheDocument();
    expect(within(replicaSets).getByText('preview')).toBeInTheDocument();
    expect(within(replicaSets).getByText(/^scales down at /)).toBeInTheDocument();
    expect(screen.getByText('Pre-promotion')).toBeInTheDocument();
    expect(screen.getByText('Step 3')).toBeInTheDocument();

    const promote = screen.getByRole('button', { name: 'Promote' });
    await waitFor(() => expect(promote).toBeEnabled());
    fireEvent.click(promote);
    await waitFor(() =>
      expect(argo.rolloutAction).toHaveBeenCalledWith({ cluster: 'local', namespace: 'ml', name: 'sentiment-model' }, 'promote', { expectedPodHash: 'green2' }),
    );
  });

  it('counts down an auto-promotion, and shows a canary\'s background analysis', async () => {
    const argo = api();
    const startTime = new Date(Date.now() - 10_000).toISOString();
    const auto: RolloutSummary = {
      ...blueGreenSummary,
      name: 'sentiment-auto',
      pauseConditions: [{ reason: 'BlueGreenPause', startTime }],
      blueGreen: { ...blueGreenSummary.blueGreen!, autoPromotionEnabled: undefined, autoPromotionSeconds: 60, postPromotionAnalysisConfigured: false },
    };
    const background: RolloutSummary = { ...summary, name: 'payments-bg', backgroundAnalysis: { name: 'payments-api-new-2', status: 'Running' } };
    argo.listRollouts.mockResolvedValue([auto, background]);
    argo.getRollout.mockImplementation(async (_c, _n, name) => (name === 'payments-bg' ? { ...detail, ...background } : { ...blueGreenDetail, ...auto }));
    await render(argo, AuthorizeResult.ALLOW, 'sentiment-auto');
    expect(await screen.findByText(/^Auto-promotion in (4\d|50) s$/)).toBeInTheDocument();
    expect(screen.queryByText('Post-promotion analysis')).not.toBeInTheDocument();
    const backgroundRun = screen.getByLabelText('background analysis');
    expect(within(backgroundRun).getByText('Running')).toBeInTheDocument();
    expect(within(backgroundRun).getByText('payments-api-new-2')).toBeInTheDocument();
  });

  it("shows a rollback's weight on the previous canary, which the router walks back while the stable is already the current version", async () => {
    const argo = api();
    // dynamicStableScale: the template went back to the stable one; the router still sends 40 % to the previous canary.
    const rollingBack = { ...summary, phase: 'Progressing' as const, pauseConditions: [], currentStepIndex: 5, stableRS: 'old', currentPodHash: 'old',
      weights: { canary: { weight: 40, podTemplateHash: 'new' }, stable: { weight: 60, podTemplateHash: 'old' } } };
    argo.listRollouts.mockResolvedValue([rollingBack]);
    argo.getRollout.mockResolvedValue({ ...detail, ...rollingBack });
    await render(argo, AuthorizeResult.ALLOW);
    expect(await screen.findByText('payments-api-new', undefined, { timeout: 5_000 })).toBeInTheDocument();
    expect(screen.getByLabelText('canary weight 40%')).toBeInTheDocument();
  });

  it("shows another entity's Rollouts, not the previous entity's, once the page is another entity's; and its error if they cannot be read", async () => {
    const argo = api();
    const orders = deferred<RolloutSummary[]>();
    argo.listRollouts.mockImplementation(async ref => (ref === 'component:default/orders-api' ? orders.promise : [summary]));
    await render(argo, AuthorizeResult.ALLOW, <EntitySwitcher names={['payments-api', 'orders-api']} />);
    expect(await screen.findByRole('group', { name: 'rollout actions' }, { timeout: 5_000 })).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'go to orders-api' }));
    // While orders-api's list loads: none of payments-api's Rollouts, nor its buttons.
    expect(screen.queryByRole('group', { name: 'rollout actions' })).not.toBeInTheDocument();
    expect(screen.queryByText('Step 2 of 5')).not.toBeInTheDocument();
    orders.reject(new Error('cluster orders unreachable'));
    expect((await screen.findAllByText(/cluster orders unreachable/, undefined, { timeout: 5_000 })).length).toBeGreaterThan(0);
    expect(screen.queryByRole('group', { name: 'rollout actions' })).not.toBeInTheDocument();
  });

  it('keeps the Rollouts as last read when the list cannot be read again, saying so', async () => {
    const argo = api();
    argo.listRollouts.mockResolvedValueOnce([summary]).mockRejectedValue(new Error('catalog unreachable'));
    await render(argo, AuthorizeResult.ALLOW);
    expect(await screen.findByText('Step 2 of 5')).toBeInTheDocument();
    const warning = await screen.findByText(/Could not refresh the list of this entity's Rollouts/, undefined, { timeout: 5_000 });
    expect(warning).toHaveTextContent('catalog unreachable');
    expect(screen.getByText('Step 2 of 5')).toBeInTheDocument();
  });

  it("keeps the reason dialog open while its action is sent, so that a refusal is seen there", async () => {
    const argo = api();
    const answer = deferred<never>();
    argo.rolloutAction.mockReturnValueOnce(answer.promise);
    await render(argo, AuthorizeResult.ALLOW);
    fireEvent.click(await screen.findByRole('button', { name: 'Abort' }));
    fireEvent.change(screen.getByLabelText(/Reason/), { target: { value: 'errors on checkout' } });
    fireEvent.click(screen.getByRole('button', { name: 'Confirm' }));
    const dialog = within(screen.getByRole('dialog'));
    await waitFor(() => expect(dialog.getByRole('button', { name: 'Cancel' })).toBeDisabled());
    fireEvent.keyDown(screen.getByRole('dialog'), { key: 'Escape' });
    expect(screen.getByRole('dialog')).toBeInTheDocument();
    answer.reject(Object.assign(new Error('Request failed with 409 Conflict'), {
      statusCode: 409, body: { error: { name: 'ConflictError', message: "Rollout 'payments-api' is fully promoted: there is no update to abort" } },
    }));
    expect(await dialog.findByText(/is fully promoted: there is no update to abort/, undefined, { timeout: 5_000 })).toBeInTheDocument();
    await waitFor(() => expect(dialog.getByRole('button', { name: 'Cancel' })).toBeEnabled(), { timeout: 5_000 });
  });

  it("disables the actions of a Rollout that no single entity owns when the backend allows none without one, saying why", async () => {
    const argo = api();
    // The page's entity the user owns; the Rollout's label names no entity (or several claim it): the backend asks without one.
    argo.getRollout.mockResolvedValue({ ...detail, entityRef: undefined, unownedActionsAllowed: [] });
    await render(argo, AuthorizeResult.ALLOW);
    expect(await screen.findByText('payments-api-new', undefined, { timeout: 5_000 })).toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole('button', { name: 'Promote' })).toBeDisabled(), { timeout: 5_000 });
    expect(screen.getByRole('button', { name: 'Restart' })).toBeDisabled();
    expect(screen.getAllByLabelText(/^No single catalog entity owns this Rollout, and without one the permission policy does not let you act on it/).length).toBeGreaterThan(0);
  });

  it('offers on a Rollout that no single entity owns the actions the backend says the user may take', async () => {
    const argo = api();
    argo.getRollout.mockResolvedValue({ ...detail, entityRef: undefined, unownedActionsAllowed: ['promote', 'abort'] });
    await render(argo, AuthorizeResult.DENY, 'payments-api-unowned');
    expect(await screen.findByText('payments-api-new', undefined, { timeout: 5_000 })).toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole('button', { name: 'Promote' })).toBeEnabled(), { timeout: 5_000 });
    expect(screen.getByRole('button', { name: 'Restart' })).toBeDisabled();
  });

  it('offers the actions again only once the Rollout has been read after an action, and reads it at once after one that failed', async () => {
    const argo = api();
    await render(argo, AuthorizeResult.ALLOW);
    await waitFor(() => expect(screen.getByRole('button', { name: 'Abort' })).toBeEnabled(), { timeout: 5_000 });
    const reread = deferred<RolloutDetail>();
    argo.getRollout.mockImplementation(() => reread.promise);
    fireEvent.click(screen.getByRole('button', { name: 'Abort' }));
    fireEvent.change(screen.getByLabelText(/Reason/), { target: { value: 'errors on checkout' } });
    fireEvent.click(screen.getByRole('button', { name: 'Confirm' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    // Aborted, but not yet read again: no button offers what the Rollout was before.
    expect(screen.getByRole('button', { name: 'Abort' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Pause' })).toBeDisabled();
    reread.resolve({ ...detail, aborted: true, phase: 'Degraded', pauseConditions: [] });
    await waitFor(() => expect(screen.getByRole('button', { name: 'Retry' })).toBeEnabled(), { timeout: 5_000 });
    expect(screen.getByRole('button', { name: 'Abort' })).toBeDisabled();

    // A poll that never answers: the page reads the Rollout again only if the action asks it to.
    const polls = argo.getRollout.mock.calls.length;
    argo.getRollout.mockImplementation(() => new Promise(() => {}));
    await waitFor(() => expect(argo.getRollout.mock.calls.length).toBeGreaterThan(polls), { timeout: 5_000 });
    // A retry that fails after its first patch (partly applied): what it left shows, without waiting for a poll.
    argo.getRollout.mockResolvedValue({ ...detail, phase: 'Progressing', pauseConditions: [], currentStepIndex: 2 });
    argo.rolloutAction.mockRejectedValueOnce(new Error('spec patch refused'));
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    expect(await screen.findByText('Step 3 of 5', undefined, { timeout: 5_000 })).toBeInTheDocument();
  });

  it('says so when an entity has no Rollouts', async () => {
    const argo = api();
    argo.listRollouts.mockResolvedValue([]);
    await render(argo, AuthorizeResult.ALLOW);
    expect(await screen.findByText('No Rollouts for this entity')).toBeInTheDocument();
  });
});
