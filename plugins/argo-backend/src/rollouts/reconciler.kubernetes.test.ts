import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { argoClients, type KubernetesCluster } from '@quarterdeck/plugin-argo-node';
import { RolloutReconciler } from './reconciler';
import { eventually } from '../__testUtils__/eventually';
import { testCluster } from '../__testUtils__/fixtures';

jest.setTimeout(120_000);

// The Rollout reconciler against the real kube-apiserver (with its
// ReplicaSet controller and kwok's pods) that `npm run test:cluster` starts;
// `npm test` leaves this file out.
describe('RolloutReconciler on kube-apiserver', () => {
  let client: KubernetesCluster;
  let reconciler: RolloutReconciler;
  const namespace = `qd-rollouts-${Date.now().toString(36)}`;

  beforeAll(async () => {
    client = await testCluster(namespace);
    reconciler = new RolloutReconciler(client);
    await reconciler.start();
  });
  afterAll(async () => {
    await reconciler?.stop();
    await client?.delete({ apiVersion: 'v1', kind: 'Namespace', name: namespace }).catch(() => undefined);
  });

  const readyPods = async (image: string) =>
    (await client.list({ apiVersion: 'v1', kind: 'Pod', namespace }, { labelSelector: 'app=payments' })).items
      .filter(p => !p.metadata.deletionTimestamp && (p.spec as any).containers[0].image === image)
      .filter(p => ((p.status as any)?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True')).length;

  it('takes a canary through its pause and promotion with real ReplicaSets and pods', async () => {
    const rollout = (image: string): Rollout => ({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'payments-api', namespace },
      spec: {
        replicas: 4,
        selector: { matchLabels: { app: 'payments' } },
        template: { metadata: { labels: { app: 'payments' } }, spec: { containers: [{ name: 'app', image }] } },
        strategy: { canary: { steps: [{ setWeight: 25 }, { pause: {} }, { setWeight: 75 }, { pause: { duration: 1 } }] } },
      },
    });
    const rollouts = argoClients(client).rollouts;
    const get = () => rollouts.get(namespace, 'payments-api');
    await rollouts.apply(rollout('payments:1'));
    await eventually('the first deploy to be Healthy', async () => (await get())?.status?.phase === 'Healthy' && (await readyPods('payments:1')) === 4, 60_000);

    await rollouts.apply(rollout('payments:2'));
    const paused = await eventually('the pause step', async () => {
      const r = await get();
      return r?.status?.phase === 'Paused' && r.status.currentStepIndex === 1 ? r : undefined;
    }, 60_000);
    expect(paused.status?.pauseConditions?.[0].reason).toBe('CanaryPauseStep');
    expect(await readyPods('payments:2')).toBe(1);

    await client.patch({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace, name: 'payments-api' }, 'merge', { status: { pauseConditions: null } }, { subresource: 'status' });
    const done = await eventually('the update to complete', async () => {
      const r = await get();
      return r?.status?.phase === 'Healthy' && r.status.stableRS === r.status.currentPodHash ? r : undefined;
    }, 60_000);
    expect(done.status?.currentStepIndex).toBe(4);
    await eventually('only new pods', async () => (await readyPods('payments:2')) === 4 && (await readyPods('payments:1')) === 0, 60_000);
  });
});
