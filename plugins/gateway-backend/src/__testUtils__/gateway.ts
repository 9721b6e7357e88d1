import { createServiceFactory } from '@backstage/backend-plugin-api';
import { mockCredentials, mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { eventsServiceRef, type EventParams } from '@backstage/plugin-events-node';
import { notificationService, type NotificationSendOptions } from '@backstage/plugin-notifications-node';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { Knex } from 'knex';
import path from 'node:path';
import request from 'supertest';
import { gatewayPlugin } from '../plugin';
import { freePort } from './ports';

/* The gateway as its tests run it: a test backend with the plugin, the example model server, the users and the calls. */

// The example model server (examples/model-server), in two versions.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startModelServer } = require(path.resolve(__dirname, '../../../../examples/model-server/server.js'));

/** The example model server in two versions for a suite's tests: started before them, closed after. */
export function modelServers() {
  const servers = { v1: { url: '' }, v2: { url: '' } } as Record<'v1' | 'v2', { url: string; close?(): Promise<void> }>;
  beforeAll(async () => {
    servers.v1 = await startModelServer({ port: 0, version: 'v1' });
    servers.v2 = await startModelServer({ port: 0, version: 'v2' });
  });
  afterAll(async () => {
    await servers.v1.close?.();
    await servers.v2.close?.();
  });
  return servers;
}

const entities = [
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'API',
    metadata: { name: 'llm-chat', namespace: 'default', annotations: { 'quarterdeck.io/gateway-product': 'llm-chat' } },
    spec: { type: 'openapi', lifecycle: 'production', owner: 'group:default/team-ml', definition: '{}' },
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'API',
    metadata: { name: 'search-rest', namespace: 'default' },
    spec: { type: 'openapi', lifecycle: 'production', owner: 'group:default/team-ml', definition: '{}' },
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name: 'chat-assistant', namespace: 'default' },
    spec: { type: 'service', lifecycle: 'production', owner: 'group:default/team-web', consumesApis: ['api:default/llm-chat'] },
    relations: [{ type: 'consumesApi', targetRef: 'api:default/llm-chat' }],
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name: 'payments-api', namespace: 'default' },
    spec: { type: 'service', lifecycle: 'production', owner: 'group:default/team-payments' },
  },
];

export const product = (v1: string, v2: string) => ({
  entityRef: 'api:default/llm-chat',
  spec: {
    kind: 'openai',
    upstreams: [{ name: 'ms-v1', url: v1, version: 'v1' }, { name: 'ms-v2', url: v2, version: 'v2' }],
    models: [
      { name: 'chat-small-v1', upstream: 'ms-v1', upstreamModel: 'chat-small', contextWindow: 8192, inputPricePerMillion: 1, outputPricePerMillion: 2 },
      { name: 'chat-small-v2', upstream: 'ms-v2', upstreamModel: 'chat-small', contextWindow: 8192, inputPricePerMillion: 1, outputPricePerMillion: 2 },
      { name: 'chat-large', upstream: 'ms-v1', contextWindow: 32768, inputPricePerMillion: 3, outputPricePerMillion: 6 },
    ],
    routes: [{ name: 'chat-small', targets: [{ model: 'chat-small-v1', weight: 100 }, { model: 'chat-small-v2', weight: 0 }], fallbacks: ['chat-small-v2'], rollout: 'local/ml/chat-model' }],
    templates: [{
      name: 'summarize',
      model: 'chat-small',
      messages: [{ role: 'system', content: 'Summarize in {{words}} words.' }, { role: 'user', content: '{{text}}' }],
      variables: [{ name: 'text', type: 'string', maxLength: 2000 }, { name: 'words', type: 'number', default: 20 }],
      maxTokens: 40,
    }],
    plans: [
      { name: 'standard', requestsPerMinute: 100, models: ['chat-small', 'chat-large'] },
      { name: 'tiny', requestsPerMinute: 2, models: ['chat-small'] },
    ],
  },
});

export const erin = mockCredentials.user.header('user:default/erin');
export const carol = mockCredentials.user.header('user:default/carol');

type Decision = AuthorizeResult.ALLOW | AuthorizeResult.DENY;

/**
 * A portal with the gateway on `knex`; a second one on the same database is a
 * second replica. `result` decides every permission, or each by its name.
 */
export async function startGateway(knex: Knex, result: Decision | ((permission: string) => Decision) = AuthorizeResult.ALLOW, extra: Record<string, unknown> = {}) {
  // A free port can be taken by another test process between freePort() and the data plane's listen: another one then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startGatewayOn(await freePort(), knex, result, extra);
    } catch (error) {
      if (attempt >= 3 || !String(error).includes('EADDRINUSE')) throw error;
    }
  }
}

async function startGatewayOn(port: number, knex: Knex, result: Decision | ((permission: string) => Decision), extra: Record<string, unknown>) {
  // What the gateway sent to Backstage's notifications backend, and to its events service, in order.
  const notified: NotificationSendOptions[] = [];
  const published: EventParams[] = [];
  const backend = await startTestBackend({
    features: [
      gatewayPlugin,
      createServiceFactory({
        service: notificationService,
        deps: {},
        factory: () => ({ send: async (notification: NotificationSendOptions) => { notified.push(notification); } }),
      }),
      createServiceFactory({
        service: eventsServiceRef,
        deps: {},
        factory: () => ({ publish: async (event: EventParams) => { published.push(event); }, subscribe: async () => {} }),
      }),
      catalogServiceMock.factory({ entities }),
      typeof result === 'function'
        ? mockServices.permissions.mock({
          authorize: async requests => requests.map(r => ({ result: result(r.permission.name) })),
          authorizeConditional: async requests => requests.map(r => ({ result: result(r.permission.name) }) as never),
        }).factory
        : mockServices.permissions.factory({ result }),
      mockServices.database.factory({ knex }),
      mockServices.rootConfig.factory({
        data: { gateway: { keySecret: 'a-test-server-secret-of-at-least-32-chars', listen: { host: '127.0.0.1', port }, allowedUpstreamHosts: ['127.0.0.1'], ...extra } },
      }),
    ],
  });
  return { server: backend.server, dataPlane: `http://127.0.0.1:${port}`, knex, notified, published, stop: () => backend.stop() };
}

/** erin asks for a standard llm-chat key for chat-assistant, carol approves: the issued key. */
export async function issueKey(server: Parameters<typeof request>[0], justification: string) {
  const asked = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
    .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'standard', justification });
  return (await request(server).post(`/api/gateway/key-requests/${asked.body.id}/approve`).set('authorization', carol).send({})).body.issued;
}

export const chat = (dataPlane: string, key: string, body: object) =>
  fetch(`${dataPlane}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

export async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value) return value;
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  throw new Error(`Timed out waiting for ${what}`);
}
