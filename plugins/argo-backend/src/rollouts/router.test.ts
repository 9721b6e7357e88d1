import { createServiceFactory, type PermissionsService, type ServiceFactory } from '@backstage/backend-plugin-api';
import { mockCredentials, mockServices, startTestBackend, TestDatabases } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { argoClients, clusterServiceRef, createClusterService, type ClusterService } from '@quarterdeck/plugin-argo-node';
import request from 'supertest';
import { argoPlugin } from '../plugin';
import { eventually } from '../__testUtils__/eventually';
import { paymentsCanary as rollout } from '../__testUtils__/fixtures';
import { POD_TEMPLATE_HASH_LABEL, ROLLOUT_TYPE_LABEL } from './objects';

jest.setTimeout(60_000);
const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });



const service = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: { selector: { app: 'sentiment' }, ports: [{ port: 80 }] },
});
const blueGreen = (image: string): Rollout => ({
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'sentiment-model', namespace: 'default', labels: { 'backstage.io/kubernetes-id': 'sentiment-model' } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'sentiment' } },
    template: { metadata: { labels: { app: 'sentiment', 'backstage.io/kubernetes-id': 'sentiment-model' } }, spec: { containers: [{ name: 'model', image }] } },
    strategy: { blueGreen: { activeService: 'sentiment-model', previewService: 'sentiment-model-preview', autoPromotionEnabled: false, scaleDownDelaySeconds: 30 } },
  },
});

async function backend(
  result: AuthorizeResult.ALLOW | AuthorizeResult.DENY,
  permissions: ServiceFactory<PermissionsService, any, any> = mockServices.permissions.factory({ result }),
) {
  const config = mockServices.rootConfig({ data: { quarterdeck: { clusters: { local: [{ name: 'local', kubelet: { readyDelayMs: 10 } }] } } } });
  const knex = await databases.init('SQLITE_3');
  const pluginDb = await databases.init('SQLITE_3');
  const clusters: ClusterService & { stop(): Promise<void> } = createClusterService({ config, logger: mockServices.logger.mock(), database: { getClient: async () => knex } });
  const testBackend = await startTestBackend({
    features: [
      argoPlugin,
      // The plugin's own database, which the suite closes when it ends (the default mock's pool would keep the jest worker alive).
      mockServices.database.factory({ knex: pluginDb }),
      createServiceFactory({ service: clusterServiceRef, deps: {}, factory: () => clusters }),
      catalogServiceMock.factory({
        entities: [{
          apiVersion: 'backstage.io/v1alpha1',
          kind: 'Component',
          metadata: { name: 'payments-api', namespace: 'default', annotations: { 'backstage.io/kubernetes-id': 'payments-api', 'backstage.io/kubernetes-namespace': 'default' } },
          spec: { type: 'service', owner: 'group:default/team-payments', lifecycle: 'production' },
        }, {
          apiVersion: 'backstage.io/v1alpha1',
          kind: 'Component',
          metadata: { name: 'sentiment-model', namespace: 'default', annotations: { 'backstage.io/kubernetes-id': 'sentiment-model', 'backstage.io/kubernetes-namespace': 'default' } },
          spec: { type: 'service', owner: 'group:default/team-ml', lifecycle: 'production' },
        }],
      }),
      permissions,
    ],
  });
  const cluster = await clusters.client('local');
  return { server: testBackend.server, cluster, pluginDb, stop: async () => { await testBackend.stop(); await clusters.stop(); } };
}

const alice = mockCredentials.user.header('user:default/alice');

/** payments-api deployed at payments:1, then updated to payments:2 and paused at its first pause step. */
async function pausedUpdate(cluster: Awaited<ReturnType<typeof backend>>['cluster']) {
  const rollouts = argoClients(cluster).rollouts;
  await rollouts.apply(rollout('payments:1'));
  await eventually('deploy', async () => (await rollouts.get('default', 'payments-api'))?.status?.phase === 'Healthy');
  await rollouts.apply(rollout('payments:2'));
  await eventually('pause', async () => (await rollouts.get('default', 'payments-api'))?.status?.phase === 'Paused');
  return rollouts;
}

describe('rollout routes', () => {
  it('lists an entity\'s rollouts, promotes a paused one, audits it and refuses what makes no sense', async () => {
    const { server, cluster, stop } = await backend(AuthorizeResult.ALLOW);
    try {
      const rollouts = await pausedUpdate(cluster);

      const list = await request(server).get('/api/argo/rollouts').query({ entityRef: 'component:default/payments-api' }).set('authorization', alice);
      expect(list.status).toBe(200);
      expect(list.body.items).toEqual([expect.objectContaining({ name: 'payments-api', cluster: 'local', strategy: 'canary', phase: 'Paused', message: 'CanaryPauseStep', currentStepIndex: 1 })]);

      const promoted = await request(server).post('/api/argo/rollouts/local/default/payments-api/promote').set('authorization', alice).send({ reason: 'error rate is flat' });
      expect(promoted.status).toBe(200);
      expect(promoted.body.summary).toBe("rollout 'payments-api' promoted");
      await eventually('the next step', async () => (await rollouts.get('default', 'payments-api'))?.status?.phase === 'Healthy');

      const detail = await request(server).get('/api/argo/rollouts/local/default/payments-api').set('authorization', alice);
      expect(detail.status).toBe(200);
      expect(detail.body.entityRef).toBe('component:default/payments-api');
      expect(detail.body.replicaSets.map((r: any) => r.role).sort()).toEqual(['old', 'stable']);
      expect(detail.body.audit).toEqual([expect.objectContaining({ actor: 'user:default/alice', action: 'promote', reason: 'error rate is flat', details: expect.objectContaining({ stepBefore: 1, stepCount: expect.any(Number) }) })]);

      const again = await request(server).post('/api/argo/rollouts/local/default/payments-api/promote').set('authorization', alice).send({});
      expect(again.status).toBe(409);
      expect(again.body.error.message).toMatch(/is not paused, so there is nothing to promote/);

      expect((await request(server).post('/api/argo/rollouts/local/default/payments-api/launch').set('authorization', alice).send({})).status).toBe(400);
      const badBody = await request(server).post('/api/argo/rollouts/local/default/payments-api/undo').set('authorization', alice).send({ revision: 'two' });
      expect(badBody.status).toBe(400);
      expect((await request(server).post('/api/argo/rollouts/local/default/nope/abort').set('authorization', alice).send({})).status).toBe(404);
      expect((await request(server).post('/api/argo/rollouts/prod/default/payments-api/abort').set('authorization', alice).send({})).status).toBe(404);
      expect((await request(server).get('/api/argo/rollouts').set('authorization', alice)).status).toBe(400);
      const garbage = await request(server).get('/api/argo/rollouts').query({ entityRef: 'garbage' }).set('authorization', alice);
      expect([garbage.status, garbage.body.error.message]).toEqual([400, 'entityRef: "garbage" is not an entity reference with a kind, such as component:default/payments-api']);
      const wrongType = await request(server).post('/api/argo/rollouts/local/default/payments-api/pause').set('authorization', alice).send({ reason: 5 });
      expect([wrongType.status, wrongType.body.error.message]).toEqual([400, 'reason: must be a string']);
      const unknown = await request(server).post('/api/argo/rollouts/local/default/payments-api/pause').set('authorization', alice).send({ bogus: true });
      expect([unknown.status, unknown.body.error.message]).toEqual([400, "body: Unrecognized key(s) in object: 'bogus'"]);
      // A body that is not JSON is refused, and nothing happens.
      const asText = await request(server).post('/api/argo/rollouts/local/default/payments-api/pause').set('authorization', alice)
        .set('content-type', 'text/plain').send('{"reason":"x"}');
      expect([asText.status, asText.body.error.message]).toEqual([415, 'The body must be JSON (content-type: application/json), not text/plain']);
      expect((await rollouts.get('default', 'payments-api'))?.spec.paused).toBeFalsy();
      const notJson = await request(server).post('/api/argo/rollouts/local/default/payments-api/pause').set('authorization', alice)
        .set('content-type', 'application/json').send('{"reason":');
      expect([notJson.status, notJson.body.error.message]).toEqual([400, expect.stringMatching(/^body: not valid JSON, or not an object or array \(/)]);
      // An action is a POST; read with GET it says so, rather than "not found".
      const read = await request(server).get('/api/argo/rollouts/local/default/payments-api/promote').set('authorization', alice);
      expect([read.status, read.headers.allow, read.body.error.message]).toEqual([405, 'POST', 'GET is not taken by /rollouts/:cluster/:namespace/:name/:action; it takes POST']);
      // Its trail is read with GET at a path the actions' route matches too: both are named.
      const deleted = await request(server).delete('/api/argo/rollouts/local/default/payments-api/audit').set('authorization', alice);
      expect([deleted.status, deleted.headers.allow]).toEqual([405, 'GET, POST']);
    } finally {
      await stop();
    }
  });

  it('tells the page which actions the user may take on a Rollout no entity owns, and nothing of the kind on one that has an owner', async () => {
    const { server, cluster, stop } = await backend(AuthorizeResult.ALLOW);
    try {
      const rollouts = argoClients(cluster).rollouts;
      await rollouts.apply(rollout('payments:1'));
      const unowned = rollout('payments:1');
      unowned.metadata = { name: 'payments-batch', namespace: 'default' };
      await rollouts.apply(unowned);
      const detail = async (name: string) => (await request(server).get(`/api/argo/rollouts/local/default/${name}`).set('authorization', alice)).body;
      expect(await detail('payments-batch')).toMatchObject({ unownedActionsAllowed: ['promote', 'promote-full', 'abort', 'retry', 'pause', 'resume', 'restart', 'undo'] });
      expect(await detail('payments-api')).not.toHaveProperty('unownedActionsAllowed');
    } finally {
      await stop();
    }
  });

  it('lists none for a user the policy lets read, but act only through an entity (its conditional answer)', async () => {
    const permissions = mockServices.permissions.mock({
      authorize: async requests => requests.map(() => ({ result: AuthorizeResult.ALLOW })),
      authorizeConditional: async requests => requests.map(({ permission }) => (permission.name === 'argo.resource.read'
        ? { result: AuthorizeResult.ALLOW }
        : { result: AuthorizeResult.CONDITIONAL, pluginId: 'catalog', resourceType: 'catalog-entity', conditions: { rule: 'IS_ENTITY_OWNER', resourceType: 'catalog-entity', params: { claims: [] } } })) as any,
    });
    const { server, cluster, stop } = await backend(AuthorizeResult.ALLOW, permissions.factory);
    try {
      const unowned = rollout('payments:1');
      unowned.metadata = { name: 'payments-batch', namespace: 'default' };
      await argoClients(cluster).rollouts.apply(unowned);
      const detail = await request(server).get('/api/argo/rollouts/local/default/payments-batch').set('authorization', alice);
      expect([detail.status, detail.body.unownedActionsAllowed]).toEqual([200, []]);
    } finally {
      await stop();
    }
  });

  it('shows the AnalysisRuns a rollout owns, and not those of its neighbours with the same hash', async () => {
    const { server, cluster, stop } = await backend(AuthorizeResult.ALLOW);
    try {
      const rollouts = await pausedUpdate(cluster);
      const current = (await rollouts.get('default', 'payments-api'))!;
      const run = (name: string, uid: string, hash: string) => ({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'AnalysisRun',
        metadata: {
          name,
          namespace: 'default',
          labels: { [POD_TEMPLATE_HASH_LABEL]: hash, [ROLLOUT_TYPE_LABEL]: 'Background' },
          ownerReferences: [{ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'payments-api', uid, controller: true }],
        },
        spec: { metrics: [] },
      });
      const runs = argoClients(cluster).analysisRuns;
      await runs.apply(run('payments-api-canary-run', current.metadata.uid!, current.status!.currentPodHash!) as any);
      await runs.apply(run('payments-api-stable-run', current.metadata.uid!, current.status!.stableRS!) as any);
      await runs.apply(run('a-namesake-run', 'another-rollouts-uid', current.status!.currentPodHash!) as any);

      const detail = await request(server).get('/api/argo/rollouts/local/default/payments-api').set('authorization', alice);
      expect(detail.status).toBe(200);
      expect(detail.body.analysisRuns.map((r: any) => [r.name, r.kind]).sort()).toEqual([
        ['payments-api-canary-run', 'Background'],
        ['payments-api-stable-run', 'Background'],
      ]);
    } finally {
      await stop();
    }
  });

  it('shows a blue-green rollout\'s Services, roles and scale-down deadline, and promotes it past the pause', async () => {
    const { server, cluster, stop } = await backend(AuthorizeResult.ALLOW);
    try {
      await cluster.apply(service('sentiment-model'));
      await cluster.apply(service('sentiment-model-preview'));
      const rollouts = argoClients(cluster).rollouts;
      await rollouts.apply(blueGreen('sentiment:1'));
      const first = await eventually('deploy', async () => {
        const r = await rollouts.get('default', 'sentiment-model');
        return r?.status?.phase === 'Healthy' ? r : undefined;
      });
      const blue = first.status!.stableRS!;
      await rollouts.apply(blueGreen('sentiment:2'));
      const paused = await eventually('the blue-green pause', async () => {
        const r = await rollouts.get('default', 'sentiment-model');
        return r?.status?.phase === 'Paused' ? r : undefined;
      });
      const green = paused.status!.currentPodHash!;

      const list = await request(server).get('/api/argo/rollouts').query({ entityRef: 'component:default/sentiment-model' }).set('authorization', alice);
      expect(list.status).toBe(200);
      expect(list.body.items).toEqual([expect.objectContaining({
        name: 'sentiment-model',
        strategy: 'blueGreen',
        phase: 'Paused',
        message: 'BlueGreenPause',
        steps: [],
        pauseConditions: [expect.objectContaining({ reason: 'BlueGreenPause' })],
        blueGreen: {
          activeService: 'sentiment-model',
          previewService: 'sentiment-model-preview',
          activeSelector: blue,
          previewSelector: green,
          autoPromotionEnabled: false,
          scaleDownDelaySeconds: 30,
          prePromotionAnalysisConfigured: false,
          postPromotionAnalysisConfigured: false,
        },
      })]);
      expect(list.body.items[0].backgroundAnalysis).toBeUndefined();

      const before = await request(server).get('/api/argo/rollouts/local/default/sentiment-model').set('authorization', alice);
      expect(before.status).toBe(200);
      const roles = (body: any) => Object.fromEntries(body.replicaSets.map((r: any) => [r.hash, r.role]));
      expect(roles(before.body)).toEqual({ [blue]: 'active', [green]: 'preview' });

      const promoted = await request(server).post('/api/argo/rollouts/local/default/sentiment-model/promote').set('authorization', alice).send({ reason: 'smoke tests pass' });
      expect(promoted.status).toBe(200);
      expect(promoted.body.summary).toBe("rollout 'sentiment-model' promoted");
      await eventually('the switch', async () => {
        const r = await rollouts.get('default', 'sentiment-model');
        return r?.status?.phase === 'Healthy' && r.status.blueGreen?.activeSelector === green;
      });

      const after = await eventually('the old ReplicaSet\'s scale-down deadline', async () => {
        const res = await request(server).get('/api/argo/rollouts/local/default/sentiment-model').set('authorization', alice);
        const old = res.body.replicaSets?.find((r: any) => r.hash === blue);
        return old?.scaleDownDeadline ? res.body : undefined;
      });
      expect(after.blueGreen).toEqual(expect.objectContaining({ activeSelector: green, previewSelector: green }));
      expect(roles(after)).toEqual({ [blue]: 'old', [green]: 'active' });
      const deadline = Date.parse(after.replicaSets.find((r: any) => r.hash === blue).scaleDownDeadline);
      expect(deadline).toBeGreaterThan(Date.now());
      expect(after.audit).toEqual([expect.objectContaining({ action: 'promote', reason: 'smoke tests pass', details: expect.objectContaining({ phaseBefore: 'Paused' }) })]);

      const again = await request(server).post('/api/argo/rollouts/local/default/sentiment-model/promote').set('authorization', alice).send({});
      expect(again.status).toBe(409);
      expect(again.body.error.message).toMatch(/is not paused/);
    } finally {
      await stop();
    }
  });

  it('undoes a workloadRef Rollout by patching its Deployment\'s template, and skips the revision in force', async () => {
    const { server, cluster, stop } = await backend(AuthorizeResult.ALLOW);
    try {
      const deploymentRef = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'default', name: 'payments-web' };
      const template = (image: string) => ({ metadata: { labels: { app: 'payments' } }, spec: { containers: [{ name: 'app', image }] } });
      const imageOf = async () => ((await cluster.get(deploymentRef))?.spec as any).template.spec.containers[0].image;
      await cluster.apply({ ...deploymentRef, metadata: { name: 'payments-web', namespace: 'default' }, spec: { replicas: 0, selector: { matchLabels: { app: 'payments' } }, template: template('payments:1') } });
      const rollouts = argoClients(cluster).rollouts;
      await rollouts.apply({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Rollout',
        metadata: { name: 'payments-api', namespace: 'default', labels: { 'backstage.io/kubernetes-id': 'payments-api' } },
        spec: { replicas: 2, workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'payments-web' }, strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } } },
      });
      const v1 = await eventually('deploy', async () => {
        const r = await rollouts.get('default', 'payments-api');
        return r?.status?.phase === 'Healthy' ? r.status.stableRS : undefined;
      });
      await cluster.patch(deploymentRef, 'merge', { spec: { template: template('payments:2') } });
      await eventually('pause', async () => (await rollouts.get('default', 'payments-api'))?.status?.phase === 'Paused');

      const base = '/api/argo/rollouts/local/default/payments-api';
      const undo = await request(server).post(`${base}/undo`).set('authorization', alice).send({ reason: 'bad build' });
      expect([undo.status, undo.body.summary]).toEqual([200, "rollout 'payments-api' undo"]);
      expect(await imageOf()).toBe('payments:1');
      expect((await rollouts.get('default', 'payments-api'))?.spec.template).toBeUndefined();
      await eventually('back on v1', async () => {
        const r = await rollouts.get('default', 'payments-api');
        const rs = await cluster.get({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: 'default', name: `payments-api-${v1}` });
        return r?.status?.phase === 'Healthy' && r.status.currentPodHash === v1 && rs?.metadata.annotations?.['rollout.argoproj.io/revision'] === '3';
      });

      const again = await request(server).post(`${base}/undo`).set('authorization', alice).send({ revision: 3 });
      expect([again.status, again.body.error.message]).toEqual([409, 'skipped rollback (current template already matches revision 3)']);
    } finally {
      await stop();
    }
  });

  it('acts only on the Rollout as the user saw it: a second promote of a step already promoted, or an undo of a template already changed, is refused', async () => {
    const { server, cluster, stop } = await backend(AuthorizeResult.ALLOW);
    try {
      const rollouts = await pausedUpdate(cluster);
      const base = '/api/argo/rollouts/local/default/payments-api';
      const seen = (await rollouts.get('default', 'payments-api'))!.status!;
      const asSeen = { expectedStep: seen.currentStepIndex, expectedPodHash: seen.currentPodHash };
      // Alice and Bob both look at the pause step and press Promote; Alice's lands first and the canary moves on.
      expect((await request(server).post(`${base}/promote`).set('authorization', alice).send({ reason: 'alice', ...asSeen })).status).toBe(200);
      await eventually('the next step', async () => ((await rollouts.get('default', 'payments-api'))?.status?.currentStepIndex ?? 0) > seen.currentStepIndex!);
      const now = (await rollouts.get('default', 'payments-api'))!;
      const bob = await request(server).post(`${base}/promote`).set('authorization', alice).send({ reason: 'bob', ...asSeen });
      expect([bob.status, bob.body.error.message]).toEqual([409,
        `Rollout default/payments-api is at step ${now.status!.currentStepIndex! + 1} now, not step ${seen.currentStepIndex! + 1} where you chose this (another promote, or a timed pause that ended); look at it again`]);
      const undo = await request(server).post(`${base}/undo`).set('authorization', alice).send({ expectedPodHash: 'a-template-since-replaced' });
      expect([undo.status, undo.body.error.message]).toEqual([409,
        `Rollout default/payments-api runs another pod template now (${now.status!.currentPodHash}, not a-template-since-replaced where you chose this); look at it again`]);
      // Neither reached the Rollout or its trail.
      const trail = await request(server).get(`${base}/audit`).set('authorization', alice);
      expect(trail.body.items.map((e: { reason?: string }) => e.reason)).toEqual(['alice']);

      // A reason the trail could not store is refused before anything is sent.
      const nul = await request(server).post(`${base}/pause`).set('authorization', alice).send({ reason: 'oops\u0000' });
      expect([nul.status, nul.body.error.message]).toEqual([400, 'reason: must not hold control characters (tabs and line breaks are fine)']);
      expect((await rollouts.get('default', 'payments-api'))?.spec.paused).toBeFalsy();
      expect((await request(server).post(`${base}/pause`).set('authorization', alice).send({ reason: 'line one\nline two' })).status).toBe(200);
    } finally {
      await stop();
    }
  });

  it('sends the first patch only over the Rollout it planned from: a write in between makes it read and plan again', async () => {
    const { server, cluster, stop } = await backend(AuthorizeResult.ALLOW);
    try {
      const rollouts = await pausedUpdate(cluster);
      const base = '/api/argo/rollouts/local/default/payments-api';
      const read = (await rollouts.get('default', 'payments-api'))!;
      // Between the route's read and its patch, someone pauses the Rollout by hand.
      const patch = cluster.patch.bind(cluster);
      let interleaved = false;
      const racing = jest.spyOn(cluster, 'patch').mockImplementation(async (ref, type, body, options) => {
        if (!interleaved) {
          interleaved = true;
          await patch(ref, 'merge', { spec: { paused: true } });
        }
        return patch(ref, type, body, options);
      });
      const promoted = await request(server).post(`${base}/promote`).set('authorization', alice).send({ reason: 'go on' });
      racing.mockRestore();
      expect(promoted.status).toBe(200);
      // Planned again from the paused Rollout: its promote also lifts the hand pause, which the first plan knew nothing of.
      const after = (await rollouts.get('default', 'payments-api'))!;
      expect(after.spec.paused).toBeFalsy();
      expect(Number(after.metadata.resourceVersion)).toBeGreaterThan(Number(read.metadata.resourceVersion));
      const trail = await request(server).get(`${base}/audit`).set('authorization', alice);
      expect(trail.body.items[0]).toMatchObject({ action: 'promote', details: { outcome: 'applied' } });
    } finally {
      await stop();
    }
  });

  it('audits an action whose second patch failed as partly applied, and answers an applied action whose audit could not be written', async () => {
    const { server, cluster, pluginDb, stop } = await backend(AuthorizeResult.ALLOW);
    try {
      const rollouts = await pausedUpdate(cluster);
      const base = '/api/argo/rollouts/local/default/payments-api';
      expect((await request(server).post(`${base}/pause`).set('authorization', alice).send({})).status).toBe(200);

      // promote sends the status patch, then the spec patch; a webhook refuses the second.
      const patch = cluster.patch.bind(cluster);
      const refused = jest.spyOn(cluster, 'patch').mockImplementation(async (ref, type, body, options) => {
        // As the Kubernetes driver answers the API server's 403 for it: the cluster refused it.
        if ((body as { spec?: { paused?: boolean } }).spec?.paused === false) {
          throw Object.assign(new Error('admission webhook "freeze.example.com" denied the request'), { name: 'ClusterAccessRefused', statusCode: 502 });
        }
        return patch(ref, type, body, options);
      });
      const promoted = await request(server).post(`${base}/promote`).set('authorization', alice).send({ reason: 'looks fine' });
      refused.mockRestore();
      // The cluster's refusal, said as such: not the user's 403.
      expect([promoted.status, promoted.body.error.message]).toEqual([502, 'admission webhook "freeze.example.com" denied the request']);
      const after = await rollouts.get('default', 'payments-api');
      expect([after?.status?.pauseConditions, after?.spec.paused]).toEqual([undefined, true]);
      const trail = await request(server).get(`${base}/audit`).set('authorization', alice);
      expect(trail.body.items[0]).toMatchObject({
        action: 'promote',
        reason: 'looks fine',
        details: { outcome: 'partly applied', patchesApplied: 1, patches: 2, error: 'admission webhook "freeze.example.com" denied the request' },
      });
      expect(trail.body.items[1]).toMatchObject({ action: 'pause', details: { outcome: 'applied' } });

      // A patch with no answer (the connection reset after it was sent) may have been applied: the trail does not say it failed.
      const reset = jest.spyOn(cluster, 'patch').mockRejectedValueOnce(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      const unanswered = await request(server).post(`${base}/resume`).set('authorization', alice).send({ reason: 'thaw' });
      reset.mockRestore();
      expect(unanswered.status).toBe(500);
      const afterReset = await request(server).get(`${base}/audit`).set('authorization', alice);
      expect(afterReset.body.items[0]).toMatchObject({ action: 'resume', details: { outcome: 'unknown', patchesApplied: 0, patches: 1, error: 'socket hang up' } });

      // The entry is on the trail before anything is sent: a backend that stops while sending leaves it saying so.
      const patchOf = cluster.patch.bind(cluster);
      let entryWhileSending: unknown;
      const watched = jest.spyOn(cluster, 'patch').mockImplementation(async (...args) => {
        entryWhileSending = (await request(server).get(`${base}/audit`).set('authorization', alice)).body.items[0];
        return patchOf(...args);
      });
      const resumed = await request(server).post(`${base}/resume`).set('authorization', alice).send({ reason: 'thaw, again' });
      watched.mockRestore();
      expect(resumed.status).toBe(200);
      expect(entryWhileSending).toMatchObject({ action: 'resume', reason: 'thaw, again', details: { outcome: 'unknown', pending: true, patchesApplied: 0, patches: 1, error: 'the backend stopped before it knew the outcome' } });
      expect(resumed.body.audit).toMatchObject({ id: (entryWhileSending as { id: string }).id, action: 'resume', details: { outcome: 'applied' } });
      expect(resumed.body.audit.details.pending).toBeUndefined();
      const settled = await request(server).get(`${base}/audit`).set('authorization', alice);
      expect(settled.body.items[0]).toEqual(resumed.body.audit);

      // Its outcome cannot be written: the action is applied all the same, the answer says so, and the entry says it may have been.
      await pluginDb.raw("CREATE TRIGGER audit_frozen BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'the trail is read-only'); END");
      const paused = await request(server).post(`${base}/pause`).set('authorization', alice).send({});
      expect(paused.status).toBe(200);
      expect(paused.body).toMatchObject({
        summary: "rollout 'payments-api' paused",
        audit: { action: 'pause', details: { outcome: 'unknown', pending: true } },
        auditError: 'The action was sent, but its outcome could not be written to the audit trail, which says it may have been applied; the backend log has the cause',
      });
      expect((await rollouts.get('default', 'payments-api'))?.spec.paused).toBe(true);
      await pluginDb.raw('DROP TRIGGER audit_frozen');

      // The trail cannot be written at all: nothing is sent.
      await pluginDb.schema.dropTable('audit_events');
      const unaudited = await request(server).post(`${base}/resume`).set('authorization', alice).send({});
      expect([unaudited.status, unaudited.body.error.message]).toEqual([503, 'Nothing was sent to Rollout default/payments-api: its audit entry could not be written; try again, and if it persists, the backend log has the cause']);
      expect((await rollouts.get('default', 'payments-api'))?.spec.paused).toBe(true);
    } finally {
      await stop();
    }
  });

  it('pages a long audit trail back from a cursor, and refuses a cursor it did not hand out', async () => {
    const { server, cluster, stop } = await backend(AuthorizeResult.ALLOW);
    try {
      const rollouts = argoClients(cluster).rollouts;
      await rollouts.apply(rollout('payments:1'));
      await eventually('deploy', async () => (await rollouts.get('default', 'payments-api'))?.status?.phase === 'Healthy');
      const base = '/api/argo/rollouts/local/default/payments-api';
      for (let i = 0; i < 25; i++) {
        const res = await request(server).post(`${base}/${i % 2 === 0 ? 'pause' : 'resume'}`).set('authorization', alice).send({ reason: `#${i}` });
        expect(res.status).toBe(200);
      }
      const detail = await request(server).get(base).set('authorization', alice);
      expect(detail.body.audit.map((a: any) => a.reason)).toEqual(Array.from({ length: 20 }, (_, i) => `#${24 - i}`));
      expect(detail.body.auditNext).toMatch(/^\d+-\d+$/);

      // An action meanwhile does not shift the older page: it starts where the first one ended.
      await request(server).post(`${base}/resume`).set('authorization', alice).send({ reason: 'meanwhile' });
      const older = await request(server).get(`${base}/audit`).query({ before: detail.body.auditNext }).set('authorization', alice);
      expect(older.status).toBe(200);
      expect(older.body.items.map((a: any) => a.reason)).toEqual(['#4', '#3', '#2', '#1', '#0']);
      expect(older.body.next).toBeUndefined();
      const small = await request(server).get(`${base}/audit`).query({ limit: 2 }).set('authorization', alice);
      expect(small.body.items.map((a: any) => a.reason)).toEqual(['meanwhile', '#24']);
      expect(small.body.next).toMatch(/^\d+-\d+$/);

      const bad = await request(server).get(`${base}/audit`).query({ before: '2' }).set('authorization', alice);
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toBe('before: "2" is not the next of an earlier page');
      const tooMany = await request(server).get(`${base}/audit`).query({ limit: 1000 }).set('authorization', alice);
      expect(tooMany.status).toBe(400);
      expect(tooMany.body.error.message).toBe('limit: a number, 1 to 100');
      const twice = await request(server).get(`${base}/audit?limit=1&limit=2`).set('authorization', alice);
      expect(twice.body.error.message).toBe('limit: one number, 1 to 100');
      expect((await request(server).get('/api/argo/rollouts/local/default/nope/audit').set('authorization', alice)).status).toBe(404);
    } finally {
      await stop();
    }
  });

  it('answers 403 to a user without the permission, and changes nothing', async () => {
    const { server, cluster, stop } = await backend(AuthorizeResult.DENY);
    try {
      const rollouts = argoClients(cluster).rollouts;
      await rollouts.apply(rollout('payments:1'));
      await eventually('deploy', async () => (await rollouts.get('default', 'payments-api'))?.status?.phase === 'Healthy');
      await rollouts.apply(rollout('payments:2'));
      // Paused, and done recording it: the reconciler may write the status once more as the new
      // pods become ready, which is not the refused promote's doing.
      const paused = await eventually('a settled pause', async () => {
        const r = await rollouts.get('default', 'payments-api');
        if (r?.status?.phase !== 'Paused') return undefined;
        await new Promise(resolve => setTimeout(resolve, 500));
        const again = await rollouts.get('default', 'payments-api');
        return again?.metadata.resourceVersion === r.metadata.resourceVersion ? again : undefined;
      });
      const res = await request(server).post('/api/argo/rollouts/local/default/payments-api/promote').set('authorization', mockCredentials.user.header('user:default/erin')).send({});
      expect(res.status).toBe(403);
      expect(res.body.error.message).toBe('You may not promote Rollout default/payments-api (permission argo.rollout.promote)');
      const after = await rollouts.get('default', 'payments-api');
      expect(after?.status?.pauseConditions).toEqual(paused.status?.pauseConditions);
      expect(after?.metadata.resourceVersion).toBe(paused.metadata.resourceVersion);
      const trail = await request(server).get('/api/argo/rollouts/local/default/payments-api/audit').set('authorization', mockCredentials.user.header('user:default/erin'));
      expect(trail.status).toBe(403);
    } finally {
      await stop();
    }
  });
});
