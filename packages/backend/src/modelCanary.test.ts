import { coreServices, createServiceFactory } from '@backstage/backend-plugin-api';
import { mockCredentials, mockServices, startTestBackend, TestDatabases } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { AnalysisTemplate, Rollout } from '@quarterdeck/plugin-argo-common';
import { argoClients, clusterServiceRef, createClusterService, type ClusterService } from '@quarterdeck/plugin-argo-node';
import argoPlugin from '@quarterdeck/plugin-argo-backend';
import gatewayPlugin from '@quarterdeck/plugin-gateway-backend';
import net from 'node:net';
import path from 'node:path';
import request from 'supertest';

jest.setTimeout(120_000);

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startModelServer } = require(path.resolve(__dirname, '../../../examples/model-server/server.js'));

const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value) return value;
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

const carol = mockCredentials.user.header('user:default/carol');

/** One model version: its gateway model named on the pod template. */
const sentiment = (version: string): Rollout => ({
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'chat-model', namespace: 'default' },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'chat-model' } },
    template: {
      metadata: { labels: { app: 'chat-model' }, annotations: { 'quarterdeck.io/gateway-model': `chat-small-${version}` } },
      spec: { containers: [{ name: 'model', image: `chat-model:${version}` }] },
    },
    strategy: {
      canary: {
        stableService: 'chat-model-stable',
        canaryService: 'chat-model-canary',
        trafficRouting: { plugins: { 'quarterdeck.io/gateway': { product: 'llm-chat', route: 'chat-small' } } },
        steps: [{ setWeight: 50 }, { pause: {} }, { analysis: { templates: [{ templateName: 'gateway-health' }] } }],
      },
    },
  },
});

describe('a model canary through the gateway', () => {
  it('moves the gateway route\'s weights with the steps, judges the new version by the gateway\'s own error rate, and promotes it', async () => {
    const v1 = await startModelServer({ port: 0, version: 'v1' });
    const v2 = await startModelServer({ port: 0, version: 'v2' });
    const dataPlanePort = await freePort();
    const knex = await databases.init('SQLITE_3');
    const config = mockServices.rootConfig({ data: { quarterdeck: { clusters: { local: [{ name: 'local', kubelet: { readyDelayMs: 10 } }] } } } });
    const clusters: ClusterService & { stop(): Promise<void> } = createClusterService({ config, logger: mockServices.logger.mock(), database: { getClient: async () => knex } });
    const backend = await startTestBackend({
      features: [
        argoPlugin,
        gatewayPlugin,
        createServiceFactory({ service: clusterServiceRef, deps: {}, factory: () => clusters }),
        // Each plugin's own database, which the suite closes when it ends (the default mock's pools would keep the jest worker alive).
        createServiceFactory({
          service: coreServices.database,
          deps: {},
          async factory() {
            const own = await databases.init('SQLITE_3');
            return { getClient: async () => own };
          },
        }),
        catalogServiceMock.factory({
          entities: [
            { apiVersion: 'backstage.io/v1alpha1', kind: 'API', metadata: { name: 'llm-chat', namespace: 'default' }, spec: { type: 'openapi', lifecycle: 'production', owner: 'group:default/team-ml', definition: '{}' } },
            {
              apiVersion: 'backstage.io/v1alpha1', kind: 'Component', metadata: { name: 'chat-assistant', namespace: 'default' },
              spec: { type: 'service', lifecycle: 'production', owner: 'group:default/team-web' }, relations: [{ type: 'consumesApi', targetRef: 'api:default/llm-chat' }],
            },
          ],
        }),
        mockServices.permissions.factory({ result: AuthorizeResult.ALLOW }),
        mockServices.rootConfig.factory({
          data: {
            quarterdeck: { clusters: { local: [{ name: 'local', kubelet: { readyDelayMs: 10 } }] } },
            gateway: { keySecret: 'a-test-server-secret-of-at-least-32-chars', listen: { host: '127.0.0.1', port: dataPlanePort }, allowedUpstreamHosts: ['127.0.0.1'] },
          },
        }),
      ],
    });
    const { server } = backend;
    try {
      const cluster = await clusters.client('local');
      const product = {
        entityRef: 'api:default/llm-chat',
        spec: {
          kind: 'openai',
          upstreams: [{ name: 'ms-v1', url: v1.url, version: 'v1' }, { name: 'ms-v2', url: v2.url, version: 'v2' }],
          models: [
            { name: 'chat-small-v1', upstream: 'ms-v1', upstreamModel: 'chat-small', contextWindow: 8192, inputPricePerMillion: 1, outputPricePerMillion: 1 },
            { name: 'chat-small-v2', upstream: 'ms-v2', upstreamModel: 'chat-small', contextWindow: 8192, inputPricePerMillion: 1, outputPricePerMillion: 1 },
          ],
          // The API's owners name the Rollout that may move this route's traffic.
          routes: [{ name: 'chat-small', targets: [{ model: 'chat-small-v1', weight: 100 }, { model: 'chat-small-v2', weight: 0 }], rollout: 'local/default/chat-model' }],
          plans: [{ name: 'standard' }],
        },
      };
      expect((await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product)).status).toBe(201);
      const asked = await request(server).post('/api/gateway/key-requests').set('authorization', carol)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'standard', justification: 'calls for the canary test' });
      const key: string = (await request(server).post(`/api/gateway/key-requests/${asked.body.id}/approve`).set('authorization', carol).send({})).body.issued.secret;
      const call = async () => {
        const res = await fetch(`http://127.0.0.1:${dataPlanePort}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'chat-small', messages: [{ role: 'user', content: 'how do you feel?' }] }),
        });
        expect(res.status).toBe(200);
        return res.headers.get('x-quarterdeck-model');
      };
      const weights = async () => {
        const res = await request(server).get('/api/gateway/products/llm-chat').set('authorization', carol);
        return Object.fromEntries(res.body.routes[0].targets.map((t: { model: string; weight: number }) => [t.model, t.weight]));
      };

      for (const name of ['chat-model-stable', 'chat-model-canary']) {
        await cluster.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector: { app: 'chat-model' }, ports: [{ port: 80 }] } });
      }
      const template: AnalysisTemplate = {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'AnalysisTemplate',
        metadata: { name: 'gateway-health', namespace: 'default' },
        spec: {
          metrics: [
            { name: 'error-rate', initialDelay: '2s', successCondition: 'result < 0.05', provider: { plugin: { 'quarterdeck.io/gateway': { product: 'llm-chat', model: 'chat-small-v2', metric: 'error-rate', window: '5m' } } } },
            // Usage reaches the gateway's database in batches within a second or so.
            { name: 'requests', initialDelay: '2s', successCondition: 'result >= 5', provider: { plugin: { 'quarterdeck.io/gateway': { product: 'llm-chat', model: 'chat-small-v2', metric: 'requests', window: '5m' } } } },
          ],
        },
      };
      const argo = argoClients(cluster);
      await argo.analysisTemplates.apply(template);
      await argo.rollouts.apply(sentiment('v1'));
      await eventually('v1 Healthy', async () => (await argo.rollouts.get('default', 'chat-model'))?.status?.phase === 'Healthy', 30_000);
      expect(await weights()).toEqual({ 'chat-small-v1': 100, 'chat-small-v2': 0 });

      await argo.rollouts.apply(sentiment('v2'));
      await eventually('the 50 % step', async () => {
        const r = await argo.rollouts.get('default', 'chat-model');
        return r?.status?.phase === 'Paused' && r.status.currentStepIndex === 1;
      }, 30_000);
      expect(await weights()).toEqual({ 'chat-small-v1': 50, 'chat-small-v2': 50 });
      // The data plane follows the new split: both versions answer.
      const served = new Set<string | null>();
      for (let i = 0; i < 40; i++) served.add(await call());
      expect([...served].sort()).toEqual(['chat-small-v1', 'chat-small-v2']);

      // Promote past the pause: the analysis reads the gateway's numbers for v2.
      await cluster.patch({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'chat-model' }, 'merge', { status: { pauseConditions: null } }, { subresource: 'status' });
      const done = await eventually('the promotion', async () => {
        const r = await argo.rollouts.get('default', 'chat-model');
        return r?.status?.phase === 'Healthy' && r.status.stableRS === r.status.currentPodHash ? r : undefined;
      }, 60_000);
      const runs = (await argo.analysisRuns.list('default')).items;
      expect(runs).toHaveLength(1);
      expect(runs[0].status?.phase).toBe('Successful');
      expect(done.status?.currentStepIndex).toBe(3);
      await eventually('all traffic on v2', async () => JSON.stringify(await weights()) === JSON.stringify({ 'chat-small-v1': 0, 'chat-small-v2': 100 }));
      expect(await call()).toBe('chat-small-v2');
      const audit = await request(server).get('/api/gateway/audit').query({ entityRef: 'api:default/llm-chat' }).set('authorization', carol);
      expect(audit.body.items.filter((e: { action: string }) => e.action === 'route.weights').map((e: { actor: string }) => e.actor)).toEqual(['plugin:argo', 'plugin:argo']);
    } finally {
      await backend.stop();
      await clusters.stop();
      await v1.close();
      await v2.close();
    }
  });
});
