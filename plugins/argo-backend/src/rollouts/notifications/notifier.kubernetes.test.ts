import { TestDatabases } from '@backstage/backend-test-utils';
import type { NotificationSendOptions } from '@backstage/plugin-notifications-node';
import type { RolloutStatus } from '@quarterdeck/plugin-argo-common';
import { argoClients, type KubernetesCluster } from '@quarterdeck/plugin-argo-node';
import { eventually } from '../../__testUtils__/eventually';
import { paymentsCanary, testCluster } from '../../__testUtils__/fixtures';
import { applyDatabaseMigrations } from '../../database/migrations';
import { RolloutNoticeStore } from '../../database/RolloutNoticeStore';
import { RolloutNotifier } from './notifier';

jest.setTimeout(120_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });

// The notifier on a cluster in `observe` mode, against the real kube-apiserver
// that `npm run test:cluster` starts: no reconciler of ours runs; the statuses
// are written the way a real Argo controller writes them (status subresource,
// Argo's field names, observedGeneration as a string).
describe('RolloutNotifier on kube-apiserver, observing', () => {
  let client: KubernetesCluster;
  let notifier: RolloutNotifier;
  const sent: NotificationSendOptions[] = [];
  const namespace = `qd-notices-${Date.now().toString(36)}`;

  beforeAll(async () => {
    client = await testCluster(namespace);
    const db = await databases.init('SQLITE_3');
    notifier = new RolloutNotifier(client, {
      cluster: 'test',
      store: new RolloutNoticeStore(await applyDatabaseMigrations({ getClient: async () => db })),
      // The notifier watches every namespace; the other suites' Rollouts, on the same cluster at the same time, are no one's here.
      entityOf: async r => (r.metadata.namespace === namespace ? 'component:default/payments-api' : undefined),
      notifications: { send: async notification => { sent.push(notification); } },
    });
    await notifier.start();
  });
  afterAll(async () => {
    await notifier?.stop();
    await client?.delete({ apiVersion: 'v1', kind: 'Namespace', name: namespace }).catch(() => undefined);
  });

  const rollout = (image: string) => paymentsCanary(image, namespace);

  /** What the controller writes, through the status subresource. */
  const controllerWrites = (status: RolloutStatus) =>
    client.patch({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace, name: 'payments-api' }, 'merge', { status }, { subresource: 'status' });
  const generation = async () => String((await argoClients(client).rollouts.get(namespace, 'payments-api'))!.metadata.generation);

  it("tells of the controller's pause and abort, and not of the Rollout it found already healthy", async () => {
    const rollouts = argoClients(client).rollouts;
    await rollouts.apply(rollout('payments:1'));
    await controllerWrites({ observedGeneration: await generation(), phase: 'Healthy', message: '', currentPodHash: 'aaa', stableRS: 'aaa', currentStepIndex: 3, replicas: 2, updatedReplicas: 2, availableReplicas: 2 });
    await rollouts.apply(rollout('payments:2'));
    await controllerWrites({
      observedGeneration: await generation(), phase: 'Paused', message: 'CanaryPauseStep', currentPodHash: 'bbb', stableRS: 'aaa', currentStepIndex: 1,
      pauseConditions: [{ reason: 'CanaryPauseStep', startTime: '2026-12-06T17:00:00Z' }], controllerPause: true,
    });
    await eventually('the notice of the pause', async () => sent.length > 0, 60_000);
    // What `kubectl argo rollouts abort` sends: nothing is told until the controller has acted on it.
    await controllerWrites({ abort: true });
    await controllerWrites({
      phase: 'Degraded', message: 'RolloutAborted: Rollout aborted update to revision 2', abort: true, abortedAt: '2026-12-06T17:01:00Z',
      conditions: [{ type: 'Progressing', status: 'False', reason: 'RolloutAborted', message: 'Rollout aborted update to revision 2' }],
      // An abort ends the pause: Argo writes neither field then.
      pauseConditions: null as never, controllerPause: null as never,
    });
    await eventually('the notice of the abort', async () => sent.length > 1, 60_000);
    await notifier.idle();
    expect(sent.map(n => n.payload.title)).toEqual(['payments-api: waits for promotion at step 2 of 3', 'payments-api: update aborted']);
    expect(sent[1].payload.description).toContain('Rollout aborted update to revision 2.');
    expect(sent.every(n => n.payload.scope === `argo:rollout:test/${namespace}/payments-api`)).toBe(true);
  });
});
