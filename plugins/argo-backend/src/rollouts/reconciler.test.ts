import { TestDatabases } from '@backstage/backend-test-utils';
import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { argoClients, startLocalCluster, type RunningLocalCluster } from '@quarterdeck/plugin-argo-node';
import { RolloutReconciler } from './reconciler';
import { eventually } from '../__testUtils__/eventually';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });


const rollout = (image: string): Rollout => ({
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'payments-api', namespace: 'default' },
  spec: {
    replicas: 4,
    selector: { matchLabels: { app: 'payments' } },
    template: { metadata: { labels: { app: 'payments' } }, spec: { containers: [{ name: 'app', image }] } },
    strategy: { canary: { steps: [{ setWeight: 25 }, { pause: {} }, { setWeight: 75 }, { pause: { duration: 1 } }] } },
  },
});

describe('RolloutReconciler on the local driver', () => {
  let local: RunningLocalCluster;
  let reconciler: RolloutReconciler;
  beforeEach(async () => {
    local = await startLocalCluster({ name: 'r', db: await databases.init('SQLITE_3'), kubelet: { readyDelayMs: 20 } });
    reconciler = new RolloutReconciler(local.cluster);
    await reconciler.start();
  });
  afterEach(async () => {
    await reconciler.stop();
    await local.stop();
  });

  const get = () => argoClients(local.cluster).rollouts.get('default', 'payments-api');
  const pods = async (image: string) =>
    (await local.cluster.list({ apiVersion: 'v1', kind: 'Pod', namespace: 'default' }, { labelSelector: 'app=payments' })).items
      .filter(p => (p.spec as any).containers[0].image === image && (p.status as any)?.phase === 'Running').length;

  it('deploys, pauses an update at the canary step, and completes it after promote', async () => {
    const rollouts = argoClients(local.cluster).rollouts;
    await rollouts.apply(rollout('payments:1'));
    await eventually('the first deploy to be Healthy', async () => (await get())?.status?.phase === 'Healthy' && (await pods('payments:1')) === 4);

    await rollouts.apply(rollout('payments:2'));
    const paused = await eventually('the pause step', async () => {
      const r = await get();
      return r?.status?.phase === 'Paused' && r.status.currentStepIndex === 1 ? r : undefined;
    });
    expect(paused.status?.pauseConditions?.[0].reason).toBe('CanaryPauseStep');
    await eventually('one canary pod beside the stable ones', async () => (await pods('payments:2')) === 1 && (await pods('payments:1')) >= 3);

    // What `kubectl argo rollouts promote` sends.
    await local.cluster.patch(
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'payments-api' },
      'merge',
      { status: { pauseConditions: null } },
      { subresource: 'status' },
    );
    const done = await eventually('the update to complete', async () => {
      const r = await get();
      const observed = r?.status?.observedGeneration === String(r?.metadata.generation);
      return observed && r?.status?.phase === 'Healthy' && r.status.stableRS === r.status.currentPodHash ? r : undefined;
    });
    expect(done.status?.currentStepIndex).toBe(4);
    await eventually('only new pods', async () => (await pods('payments:2')) === 4 && (await pods('payments:1')) === 0);
  });

  it('marks an invalid Rollout Degraded with InvalidSpec naming the field', async () => {
    const bad = rollout('payments:1');
    delete bad.spec.selector;
    await argoClients(local.cluster).rollouts.apply(bad);
    const r = await eventually('InvalidSpec', async () => ((await get())?.status?.phase === 'Degraded' ? get() : undefined));
    expect(r?.status?.message).toBe(
      "InvalidSpec: The Rollout \"payments-api\" is invalid: spec.selector: Required value: Rollout has missing field '.spec.selector'",
    );
    expect((await local.cluster.list({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: 'default' })).items).toHaveLength(0);
  });
});
