import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { argoClients, type KubernetesCluster } from '@quarterdeck/plugin-argo-node';
import { planRolloutAction } from './actions';
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

  it('undo during a pause goes back to the stable ReplicaSet the API server defaulted: no new ReplicaSet, no steps again', async () => {
    const name = 'orders-api';
    const rollout = (image: string): Rollout => ({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name, namespace },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'orders' } },
        template: { metadata: { labels: { app: 'orders' } }, spec: { containers: [{ name: 'app', image }] } },
        strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }, { setWeight: 100 }, { pause: {} }] } },
      },
    });
    const rollouts = argoClients(client).rollouts;
    const get = () => rollouts.get(namespace, name);
    const owned = async () => {
      const uid = (await get())!.metadata.uid;
      return (await client.list({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace })).items
        .filter(rs => !rs.metadata.deletionTimestamp && (rs.metadata.ownerReferences ?? []).some(r => r.uid === uid));
    };
    // What the router does for undo: plan from the live Rollout and ReplicaSets, then send the patches.
    const undo = async (revision?: number) => {
      const plan = planRolloutAction((await get())!, 'undo', { replicaSets: await owned(), revision });
      if (!plan.ok) return plan;
      for (const p of plan.patches) await client.patch({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace, name }, p.type, p.body as never);
      return plan;
    };

    await rollouts.apply(rollout('orders:1'));
    const v1 = await eventually('the first deploy', async () => {
      const r = await get();
      return r?.status?.phase === 'Healthy' ? r.status.stableRS : undefined;
    }, 60_000);
    // The API server defaulted the ReplicaSet's template: that is what undo copies back.
    const stored = (await owned())[0].spec as { template: { spec: { dnsPolicy?: string; containers: Array<{ terminationMessagePath?: string }> } } };
    expect(stored.template.spec.dnsPolicy).toBe('ClusterFirst');
    expect(stored.template.spec.containers[0].terminationMessagePath).toBe('/dev/termination-log');
    // Which is no reason to roll back to the revision in force.
    expect(await undo(1)).toEqual({ ok: false, status: 409, message: 'skipped rollback (current template already matches revision 1)' });

    await rollouts.apply(rollout('orders:2'));
    const v2 = await eventually('the pause step', async () => {
      const r = await get();
      return r?.status?.phase === 'Paused' && r.status.currentStepIndex === 1 ? r.status.currentPodHash : undefined;
    }, 60_000);

    expect(await undo()).toMatchObject({ ok: true });
    const back = await eventually('back on v1', async () => {
      const r = await get();
      const observed = r?.status?.observedGeneration === String(r?.metadata.generation);
      return observed && r?.status?.phase === 'Healthy' && r.status.currentPodHash === v1 ? r : undefined;
    }, 60_000);
    // Rollback to the stable ReplicaSet: it is reused, and the steps are skipped.
    expect(back.status).toMatchObject({ stableRS: v1, currentStepIndex: 4 });
    expect(back.status?.pauseConditions).toBeUndefined();
    expect((await owned()).map(rs => rs.metadata.labels?.['rollouts-pod-template-hash']).sort()).toEqual([v1, v2].sort());
    await eventually('only v1 pods', async () => {
      const pods = (await client.list({ apiVersion: 'v1', kind: 'Pod', namespace }, { labelSelector: 'app=orders' })).items.filter(p => !p.metadata.deletionTimestamp);
      return pods.length === 2 && pods.every(p => p.metadata.labels?.['rollouts-pod-template-hash'] === v1);
    }, 60_000);

    // v1 is now the newest revision; undo to it is skipped, as kubectl skips it.
    await eventually('v1 raised to revision 3', async () => (await owned()).some(rs => rs.metadata.labels?.['rollouts-pod-template-hash'] === v1 && rs.metadata.annotations?.['rollout.argoproj.io/revision'] === '3'));
    expect(await undo(3)).toEqual({ ok: false, status: 409, message: 'skipped rollback (current template already matches revision 3)' });
  });
});
