import { TestDatabases } from '@backstage/backend-test-utils';
import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { argoClients, startLocalCluster, type RunningLocalCluster } from '@quarterdeck/plugin-argo-node';
import { planRolloutAction, type OwnedReplicaSet } from './actions';
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
    // The Rollout carries its current revision, as Argo's controller writes it.
    await eventually('revision 1 on the Rollout', async () => (await get())?.metadata.annotations?.['rollout.argoproj.io/revision'] === '1');

    await rollouts.apply(rollout('payments:2'));
    await eventually('revision 2 on the Rollout', async () => (await get())?.metadata.annotations?.['rollout.argoproj.io/revision'] === '2');
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

  it('restarts every pod on restartAt, a few at a time, then records restartedAt', async () => {
    const rollouts = argoClients(local.cluster).rollouts;
    await rollouts.apply(rollout('payments:1'));
    await eventually('the first deploy to be Healthy', async () => (await get())?.status?.phase === 'Healthy' && (await pods('payments:1')) === 4);
    const before = (await local.cluster.list({ apiVersion: 'v1', kind: 'Pod', namespace: 'default' })).items.map(p => p.metadata.name);
    await new Promise(resolve => setTimeout(resolve, 1100));
    // What `kubectl argo rollouts restart` sends.
    const restartAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    await local.cluster.patch({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'payments-api' }, 'merge', { spec: { restartAt } });
    const done = await eventually('the restart to be recorded', async () => {
      const r = await get();
      return r?.status?.restartedAt === restartAt && r.status.phase === 'Healthy' ? r : undefined;
    }, 30_000);
    expect(done.status?.restartedAt).toBe(restartAt);
    await eventually('four new pods', async () => {
      const now = (await local.cluster.list({ apiVersion: 'v1', kind: 'Pod', namespace: 'default' }, { labelSelector: 'app=payments' })).items
        .filter(p => !p.metadata.deletionTimestamp && (p.status as any)?.phase === 'Running');
      return now.length === 4 && now.every(p => !before.includes(p.metadata.name) && p.metadata.creationTimestamp! >= restartAt);
    });
  });

  it('undo makes the revision gone back to the newest, so a second undo returns to the template undone from', async () => {
    const rollouts = argoClients(local.cluster).rollouts;
    const noSteps = (image: string): Rollout => {
      const r = rollout(image);
      r.spec.strategy!.canary!.steps = [];
      return r;
    };
    const running = (image: string) => eventually(`${image} Healthy`, async () => {
      const r = await get();
      return r?.status?.phase === 'Healthy' && r.status.observedGeneration === String(r.metadata.generation) &&
        (r.spec.template?.spec as any).containers[0].image === image && r.status.stableRS === r.status.currentPodHash ? r : undefined;
    });
    const undo = async () => {
      const r = (await get())!;
      const replicaSets = (await local.cluster.list({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: 'default' }, { labelSelector: 'app=payments' })).items;
      const plan = planRolloutAction(r, 'undo', { replicaSets: replicaSets as OwnedReplicaSet[] });
      if (!plan.ok) throw new Error(plan.message);
      for (const patch of plan.patches) {
        await local.cluster.patch({ apiVersion: r.apiVersion, kind: 'Rollout', namespace: 'default', name: 'payments-api' }, patch.type, patch.body as never);
      }
    };
    const annotationsOf = async (hash: string) =>
      (await local.cluster.get({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: 'default', name: `payments-api-${hash}` }))?.metadata.annotations ?? {};

    await rollouts.apply(noSteps('payments:1'));
    const first = (await running('payments:1')).status!.stableRS!;
    await rollouts.apply(noSteps('payments:2'));
    await running('payments:2');

    await undo();
    await running('payments:1');
    await eventually('the reused ReplicaSet to be revision 3', async () => (await annotationsOf(first))['rollout.argoproj.io/revision'] === '3');
    expect((await annotationsOf(first))['rollout.argoproj.io/revision-history']).toBe('1');
    await undo();
    await running('payments:2');
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

  describe('blue-green', () => {
    const service = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector: { app: 'sentiment' }, ports: [{ port: 80 }] } });
    const blueGreen = (image: string): Rollout => ({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'sentiment', namespace: 'default' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'sentiment' } },
        template: { metadata: { labels: { app: 'sentiment' } }, spec: { containers: [{ name: 'model', image }] } },
        strategy: { blueGreen: { activeService: 'sentiment', previewService: 'sentiment-preview', autoPromotionEnabled: false, scaleDownDelaySeconds: 1 } },
      },
    });
    const selectorOf = async (name: string) =>
      ((await local.cluster.get({ apiVersion: 'v1', kind: 'Service', namespace: 'default', name }))?.spec as any)?.selector?.['rollouts-pod-template-hash'];
    const getBg = () => argoClients(local.cluster).rollouts.get('default', 'sentiment');

    it('switches the preview Service at once and the active one on promote, then scales the old pods down after the delay', async () => {
      await local.cluster.apply(service('sentiment'));
      await local.cluster.apply(service('sentiment-preview'));
      const rollouts = argoClients(local.cluster).rollouts;
      await rollouts.apply(blueGreen('sentiment:1'));
      const first = await eventually('the first deploy', async () => {
        const r = await getBg();
        return r?.status?.phase === 'Healthy' ? r : undefined;
      });
      const blue = first.status!.stableRS!;
      expect(await selectorOf('sentiment')).toBe(blue);
      const managed = await local.cluster.get({ apiVersion: 'v1', kind: 'Service', namespace: 'default', name: 'sentiment' });
      expect(managed?.metadata.annotations?.['argo-rollouts.argoproj.io/managed-by-rollouts']).toBe('sentiment');

      await rollouts.apply(blueGreen('sentiment:2'));
      const paused = await eventually('the blue-green pause', async () => {
        const r = await getBg();
        return r?.status?.phase === 'Paused' ? r : undefined;
      });
      const green = paused.status!.currentPodHash!;
      expect(paused.status?.message).toBe('BlueGreenPause');
      expect(await selectorOf('sentiment-preview')).toBe(green);
      expect(await selectorOf('sentiment')).toBe(blue);

      await local.cluster.patch(
        { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'sentiment' },
        'merge',
        { status: { pauseConditions: null } },
        { subresource: 'status' },
      );
      await eventually('the switch', async () => (await getBg())?.status?.stableRS === green && (await selectorOf('sentiment')) === green);
      await eventually('the old pods to go after the scale-down delay', async () => {
        const rs = await local.cluster.get({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: 'default', name: `sentiment-${blue}` });
        return (rs?.spec as any)?.replicas === 0;
      });
    });

    it('starts again without a false InvalidSpec: its first pass waits for the Services it reads', async () => {
      await local.cluster.apply(service('sentiment'));
      await local.cluster.apply(service('sentiment-preview'));
      await argoClients(local.cluster).rollouts.apply(blueGreen('sentiment:1'));
      await eventually('the first deploy', async () => (await getBg())?.status?.phase === 'Healthy');
      await reconciler.stop();

      // Every status the Rollout is given from here on.
      const kind = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: 'default' };
      const list = await local.cluster.list(kind);
      const abort = new AbortController();
      const phases: string[] = [];
      const watching = (async () => {
        for await (const event of local.cluster.watch(kind, { resourceVersion: list.resourceVersion, signal: abort.signal })) {
          phases.push(`${(event.object as any).status?.phase}: ${(event.object as any).status?.message ?? ''}`);
        }
      })().catch(() => undefined);

      reconciler = new RolloutReconciler(local.cluster, { resyncMs: 50 });
      await reconciler.start();
      await reconciler.idle();
      await new Promise(resolve => setTimeout(resolve, 200));
      await reconciler.idle();
      abort.abort();
      await watching;
      expect(phases.filter(p => p.startsWith('Degraded'))).toEqual([]);
      expect((await getBg())?.status?.phase).toBe('Healthy');
    });

    it('marks a Rollout whose active Service is missing Degraded with InvalidSpec', async () => {
      await argoClients(local.cluster).rollouts.apply(blueGreen('sentiment:1'));
      const r = await eventually('InvalidSpec', async () => ((await getBg())?.status?.phase === 'Degraded' ? getBg() : undefined));
      expect(r?.status?.message).toBe(
        'InvalidSpec: The Rollout "sentiment" is invalid: spec.strategy.blueGreen.activeService: Invalid value: "sentiment": services "sentiment" not found',
      );
    });
  });

  it('drives a Gateway API HTTPRoute: backend weights follow the canary steps', async () => {
    const svc = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector: { app: 'checkout' }, ports: [{ port: 80 }] } });
    await local.cluster.apply(svc('checkout-stable'));
    await local.cluster.apply(svc('checkout-canary'));
    const routeRef = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', namespace: 'default', name: 'checkout' };
    for (const name of ['checkout', 'checkout-internal']) {
      await local.cluster.apply({
        apiVersion: routeRef.apiVersion,
        kind: routeRef.kind,
        metadata: { name, namespace: 'default' },
        spec: { parentRefs: [{ name: 'edge' }], rules: [{ backendRefs: [{ name: 'checkout-stable', port: 80, weight: 100 }, { name: 'checkout-canary', port: 80, weight: 0 }] }] },
      });
    }
    const routed = (image: string): Rollout => ({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'checkout', namespace: 'default' },
      spec: {
        replicas: 4,
        selector: { matchLabels: { app: 'checkout' } },
        template: { metadata: { labels: { app: 'checkout' } }, spec: { containers: [{ name: 'app', image }] } },
        strategy: {
          canary: {
            stableService: 'checkout-stable',
            canaryService: 'checkout-canary',
            // Both fields, as the plugin merges them.
            trafficRouting: { plugins: { 'argoproj-labs/gatewayAPI': { httpRoute: 'checkout', httpRoutes: [{ name: 'checkout-internal' }] } } },
            steps: [{ setWeight: 25 }, { pause: {} }],
          },
        },
      },
    });
    const rollouts = argoClients(local.cluster).rollouts;
    const getRouted = () => rollouts.get('default', 'checkout');
    const weights = async (name = 'checkout') => ((await local.cluster.get({ ...routeRef, name }))?.spec as any).rules[0].backendRefs.map((r: any) => `${r.name}=${r.weight}`);
    await rollouts.apply(routed('checkout:1'));
    await eventually('the first deploy', async () => (await getRouted())?.status?.phase === 'Healthy');
    await rollouts.apply(routed('checkout:2'));
    const paused = await eventually('the pause at 25 %', async () => {
      const r = await getRouted();
      return r?.status?.phase === 'Paused' ? r : undefined;
    });
    expect(paused.status?.canary?.weights?.canary.weight).toBe(25);
    expect(await weights()).toEqual(['checkout-stable=75', 'checkout-canary=25']);
    expect(await weights('checkout-internal')).toEqual(['checkout-stable=75', 'checkout-canary=25']);
    // One canary pod beside all four stable ones: the router, not the pod ratio, splits traffic.
    const rs = (await local.cluster.list({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: 'default' }, { labelSelector: 'app=checkout' })).items;
    expect(rs.map(r => (r.spec as any).replicas).sort()).toEqual([1, 4]);

    await local.cluster.patch({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'checkout' }, 'merge', { status: { pauseConditions: null } }, { subresource: 'status' });
    await eventually('the promotion', async () => (await getRouted())?.status?.phase === 'Healthy');
    await eventually('all traffic on the new version through the stable Service', async () => {
      const stable = ((await local.cluster.get({ apiVersion: 'v1', kind: 'Service', namespace: 'default', name: 'checkout-stable' }))?.spec as any).selector['rollouts-pod-template-hash'];
      return stable === (await getRouted())?.status?.stableRS && (await weights()).join() === 'checkout-stable=100,checkout-canary=0';
    });
  });

  it('scales nothing while its router fails: a canary does not get pods its route cannot send traffic to, nor lose them while the route still does', async () => {
    const svc = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector: { app: 'orders' }, ports: [{ port: 80 }] } });
    await local.cluster.apply(svc('orders-stable'));
    await local.cluster.apply(svc('orders-canary'));
    const routed = (image: string): Rollout => ({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'orders', namespace: 'default' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'orders' } },
        template: { metadata: { labels: { app: 'orders' } }, spec: { containers: [{ name: 'app', image }] } },
        strategy: {
          canary: {
            stableService: 'orders-stable',
            canaryService: 'orders-canary',
            trafficRouting: { plugins: { 'argoproj-labs/gatewayAPI': { httpRoute: 'orders' } } },
            steps: [{ setWeight: 50 }, { pause: {} }],
          },
        },
      },
    });
    const routeRef = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', namespace: 'default', name: 'orders' };
    await local.cluster.apply({
      ...routeRef, metadata: { name: 'orders', namespace: 'default' },
      spec: { parentRefs: [{ name: 'edge' }], rules: [{ backendRefs: [{ name: 'orders-stable', port: 80, weight: 100 }, { name: 'orders-canary', port: 80, weight: 0 }] }] },
    });
    const rollouts = argoClients(local.cluster).rollouts;
    await rollouts.apply(routed('orders:1'));
    await eventually('the first deploy', async () => (await rollouts.get('default', 'orders'))?.status?.phase === 'Healthy');
    // The route goes (a GitOps sync, a typo): every weight write fails from now on.
    await local.cluster.delete(routeRef);
    await rollouts.apply(routed('orders:2'));
    await eventually('the new ReplicaSet', async () =>
      (await local.cluster.list({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: 'default' }, { labelSelector: 'app=orders' })).items.length === 2);
    await new Promise(resolve => setTimeout(resolve, 1500));
    const replicas = (await local.cluster.list({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: 'default' }, { labelSelector: 'app=orders' })).items
      .map(rs => (rs.spec as { replicas?: number }).replicas).sort();
    expect(replicas).toEqual([0, 2]);
  });

  it('runs a Rollout from a Deployment through workloadRef, and scales the Deployment down once Healthy', async () => {
    const deploymentRef = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'default', name: 'legacy' };
    const template = (image: string) => ({ metadata: { labels: { app: 'legacy' } }, spec: { containers: [{ name: 'app', image }] } });
    await local.cluster.apply({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'legacy', namespace: 'default' }, spec: { replicas: 2, selector: { matchLabels: { app: 'legacy' } }, template: template('legacy:1') } });
    const rollouts = argoClients(local.cluster).rollouts;
    await rollouts.apply({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'legacy', namespace: 'default' },
      spec: { replicas: 2, workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'legacy', scaleDown: 'onsuccess' }, strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } } },
    });
    const healthy = await eventually('the Rollout from the Deployment', async () => {
      const r = await rollouts.get('default', 'legacy');
      return r?.status?.phase === 'Healthy' ? r : undefined;
    });
    const rs = await local.cluster.get({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: 'default', name: `legacy-${healthy.status!.stableRS}` });
    expect((rs?.spec as any).template.spec.containers[0].image).toBe('legacy:1');
    await eventually('the Deployment scaled to zero', async () => ((await local.cluster.get(deploymentRef))?.spec as any).replicas === 0);

    // A new image in the Deployment is a new Rollout revision.
    await local.cluster.patch(deploymentRef, 'merge', { spec: { template: template('legacy:2') } });
    const paused = await eventually('the canary of the Deployment\'s new template', async () => {
      const r = await rollouts.get('default', 'legacy');
      return r?.status?.phase === 'Paused' ? r : undefined;
    });
    expect(paused.status?.currentPodHash).not.toBe(healthy.status?.stableRS);
  });
});
