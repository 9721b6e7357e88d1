import { mockCredentials, TestDatabases } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { parse } from 'yaml';
import { GATEWAY_AUDIT_ACTIONS } from '@quarterdeck/plugin-gateway-common';
import { carol, erin, product, startGateway } from '../__testUtils__/gateway';

jest.setTimeout(60_000);

type Schema = Record<string, unknown>;
type Response = { $ref?: string; content?: { 'application/json'?: { schema: Schema } } };
const document = parse(fs.readFileSync(path.join(__dirname, 'openapi.yaml'), 'utf8')) as {
  paths: Record<string, Record<string, { responses?: Record<string, Response> }>>;
  components: { responses: Record<string, Response> };
};

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(document, 'gateway');
/** An inline schema of the document, its local references made to point into the document. */
const anchored = (schema: unknown): unknown => {
  if (Array.isArray(schema)) return schema.map(anchored);
  if (!schema || typeof schema !== 'object') return schema;
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' && v.startsWith('#') ? `gateway${v}` : anchored(v)]));
};
const validators = new Map<string, ValidateFunction | undefined>();
/** The validator of one operation's answer with one status; undefined when the schema does not list that status. */
function validatorOf(operation: string, status: number): ValidateFunction | undefined {
  const id = `${operation} ${status}`;
  if (!validators.has(id)) {
    const [method, route] = operation.split(' ');
    const op = document.paths[route]?.[method.toLowerCase()];
    if (!op) throw new Error(`${operation}: not in the schema`);
    let response = op.responses?.[String(status)];
    if (response?.$ref) response = document.components.responses[response.$ref.split('/').pop()!];
    const schema = response?.content?.['application/json']?.schema;
    validators.set(id, response ? ajv.compile(schema ? (anchored(schema) as Schema) : {}) : undefined);
  }
  return validators.get(id);
}

const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });

describe('the OpenAPI schema of /api/gateway', () => {
  it('names each route of the control plane with its method', () => {
    const documented = Object.entries(document.paths).flatMap(([p, ops]) =>
      Object.keys(ops).filter(m => ['get', 'put', 'post', 'delete', 'patch'].includes(m)).map(m => `${m.toUpperCase()} ${p}`));
    const source = fs.readFileSync(path.join(__dirname, '../service/router.ts'), 'utf8');
    const served = [...source.matchAll(/router\.(get|put|post|delete|patch)\('([^']+)'/g)]
      .map(([, m, p]) => `${m.toUpperCase()} ${p.replace(/:([A-Za-z]+)/g, '{$1}')}`);
    expect(documented.sort()).toEqual(served.sort());
  });

  it('is OpenAPI 3.0 throughout: no type given as a list (3.1\'s way of saying nullable, which 3.0 tools refuse)', () => {
    expect((document as unknown as { openapi: string }).openapi).toMatch(/^3\.0\./);
    const lists: string[] = [];
    const walk = (node: unknown, at: string) => {
      if (Array.isArray(node)) node.forEach((item, i) => walk(item, `${at}[${i}]`));
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          // `type` as a keyword; a property named type (under `properties`) is a schema, not a list.
          if (k === 'type' && Array.isArray(v)) lists.push(`${at}.type: ${JSON.stringify(v)}`);
          walk(v, `${at}.${k}`);
        }
      }
    };
    walk(document, '#');
    expect(lists).toEqual([]);
  });

  it("offers the audit trail's action filter with the actions the gateway records", () => {
    const get = document.paths['/audit'].get as unknown as { parameters: Array<{ name: string; schema: { enum?: string[] } }> };
    expect(get.parameters.find(p => p.name === 'action')?.schema.enum).toEqual([...GATEWAY_AUDIT_ACTIONS]);
  });

  // A client generated from the schema must be able to read every answer: each status a walk through
  // the API meets is listed for its operation, and each body matches the schema given for it.
  it('lists every status the routes answer with, and each answer matches its schema', async () => {
    const mismatches: string[] = [];
    const answered = async (operation: string, call: Promise<request.Response>, expected: number) => {
      const res = await call;
      if (res.status !== expected) throw new Error(`${operation}: ${res.status} ${JSON.stringify(res.body)}, expected ${expected}`);
      const validate = validatorOf(operation, res.status);
      if (!validate) mismatches.push(`${operation}: ${res.status} is not listed`);
      else if (!validate(res.body)) mismatches.push(`${operation} ${res.status}: ${validate.errors!.map(e => `${e.instancePath || 'body'} ${e.message} ${JSON.stringify(e.params)}`).join('; ')}`);
      return res.body;
    };

    const allowed = await startGateway(await databases.init('SQLITE_3'));
    const { server } = allowed;
    const body = product('http://127.0.0.1:1', 'http://127.0.0.1:2');
    try {
      await answered('GET /health', request(server).get('/api/gateway/health'), 200);
      await answered('GET /status', request(server).get('/api/gateway/status').set('authorization', carol), 200);
      await answered('PUT /products/{id}', request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(body), 201);
      await answered('PUT /products/{id}', request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(body), 200);
      await answered('PUT /products/{id}', request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send({ ...body, spec: { ...body.spec, plans: [] } }), 400);
      await answered('PUT /products/{id}', request(server).put('/api/gateway/products/other').set('authorization', carol).send(body), 409);
      await answered('PUT /products/{id}', request(server).put('/api/gateway/products/other').set('authorization', carol).send({ ...body, entityRef: 'api:default/nope' }), 404);
      await answered('GET /products', request(server).get('/api/gateway/products').set('authorization', carol), 200);
      await answered('GET /products', request(server).get('/api/gateway/products').query({ entityRef: 'llm-chat' }).set('authorization', carol), 400);
      await answered('GET /products/{id}', request(server).get('/api/gateway/products/llm-chat').set('authorization', carol), 200);
      await answered('GET /products/{id}', request(server).get('/api/gateway/products/nope').set('authorization', carol), 404);
      const weights = (w: object) => request(server).put('/api/gateway/products/llm-chat/routes/chat-small/weights').set('authorization', carol).send({ weights: w });
      await answered('PUT /products/{id}/routes/{route}/weights', weights({ 'chat-small-v1': 90, 'chat-small-v2': 10 }), 200);
      await answered('PUT /products/{id}/routes/{route}/weights', weights({ 'chat-small-v1': 90 }), 400);
      await answered('PUT /products/{id}/routes/{route}/weights', request(server).put('/api/gateway/products/llm-chat/routes/nope/weights').set('authorization', carol).send({ weights: {} }), 404);
      // As a plugin: argo, for the Rollout the route names, and no other plugin or Rollout.
      const asPlugin = (subject: string, rollout?: string) => request(server).put('/api/gateway/products/llm-chat/routes/chat-small/weights')
        .set('authorization', mockCredentials.service.header({ onBehalfOf: mockCredentials.service(subject), targetPluginId: 'gateway' })).send({ weights: { 'chat-small-v1': 80, 'chat-small-v2': 20 }, ...(rollout ? { rollout } : {}) });
      await answered('PUT /products/{id}/routes/{route}/weights', asPlugin('plugin:argo', 'local/ml/chat-model'), 200);
      const otherRollout = await answered('PUT /products/{id}/routes/{route}/weights', asPlugin('plugin:argo', 'local/team-b/intruder'), 403);
      expect(otherRollout.error.message).toBe('Route chat-small of llm-chat is driven by Rollout local/ml/chat-model, not local/team-b/intruder');
      await answered('PUT /products/{id}/routes/{route}/weights', asPlugin('plugin:argo'), 403);
      await answered('PUT /products/{id}/routes/{route}/weights', asPlugin('plugin:catalog', 'local/ml/chat-model'), 403);
      const after = await request(server).get('/api/gateway/products/llm-chat').set('authorization', carol);
      expect(after.body.routes[0].targets).toEqual([{ model: 'chat-small-v1', weight: 80 }, { model: 'chat-small-v2', weight: 20 }]);
      const metrics = (query: object) => request(server).get('/api/gateway/metrics/models').query(query).set('authorization', carol);
      await answered('GET /metrics/models', metrics({ productId: 'llm-chat', model: 'chat-small-v1' }), 200);
      await answered('GET /metrics/models', metrics({ productId: 'llm-chat' }), 400);
      await answered('GET /metrics/models', metrics({ productId: 'nope', model: 'm' }), 404);
      // A name with no figures of its own is not answered with zeros (an analysis would read them as healthy).
      const route = await answered('GET /metrics/models', metrics({ productId: 'llm-chat', model: 'chat-small' }), 400);
      expect(route.error.message).toBe('model: chat-small is a route of llm-chat; its figures are per model it routes to: chat-small-v1, chat-small-v2');
      const typo = await answered('GET /metrics/models', metrics({ productId: 'llm-chat', model: 'chat-smal-v2' }), 404);
      expect(typo.error.message).toBe('model: llm-chat has no model chat-smal-v2 (it has chat-small-v1, chat-small-v2, chat-large)');

      const ask = (plan: string) => request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan, justification: 'the assistant answers questions' });
      const asked = await answered('POST /key-requests', ask('standard'), 201);
      await answered('POST /key-requests', ask('standard'), 409);
      await answered('POST /key-requests', ask('gold'), 400);
      await answered('POST /key-requests', request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'nope', plan: 'standard', justification: 'the assistant answers questions' }), 404);
      await answered('GET /key-requests', request(server).get('/api/gateway/key-requests').query({ entityRef: 'api:default/llm-chat' }).set('authorization', carol), 200);
      await answered('GET /key-requests', request(server).get('/api/gateway/key-requests').query({ entityRef: 'api:default/llm-chat', status: 'odd' }).set('authorization', carol), 400);
      await answered('GET /key-requests', request(server).get('/api/gateway/key-requests').query({ status: 'pending' }).set('authorization', carol), 200);
      const review = (id: string, action: string, payload: object) => request(server).post(`/api/gateway/key-requests/${id}/${action}`).set('authorization', carol).send(payload);
      await answered('POST /key-requests/{id}/approve', review(asked.id, 'approve', { models: ['nope'] }), 400);
      await answered('POST /key-requests/{id}/approve', review('00000000-0000-4000-8000-000000000000', 'approve', {}), 404);
      const approved = await answered('POST /key-requests/{id}/approve', review(asked.id, 'approve', { expiresInDays: 30 }), 201);
      await answered('POST /key-requests/{id}/approve', review(asked.id, 'approve', {}), 409);
      await answered('POST /key-requests/{id}/deny', review(asked.id, 'deny', { reason: 'late' }), 409);
      const other = await answered('POST /key-requests', ask('tiny'), 201);
      await answered('POST /key-requests/{id}/deny', review(other.id, 'deny', { reason: '  ' }), 400);
      await answered('POST /key-requests/{id}/deny', review(other.id, 'deny', { reason: 'use the standard plan' }), 200);

      const keyId = approved.issued.key.id;
      await answered('GET /keys', request(server).get('/api/gateway/keys').query({ entityRef: 'component:default/chat-assistant' }).set('authorization', erin), 200);
      await answered('GET /keys', request(server).get('/api/gateway/keys').set('authorization', erin), 400);
      await answered('GET /keys', request(server).get('/api/gateway/keys').query({ entityRef: 'api:default/llm-chat', limit: 0 }).set('authorization', erin), 200);
      await answered('GET /keys', request(server).get('/api/gateway/keys').query({ entityRef: 'api:default/llm-chat', limit: 'all' }).set('authorization', erin), 400);
      await answered('GET /keys', request(server).get('/api/gateway/keys').query({ entityRef: 'api:default/llm-chat', limit: 1, offset: 1 }).set('authorization', erin), 200);
      const manage = (id: string, action: string, payload: object) => request(server).post(`/api/gateway/keys/${id}/${action}`).set('authorization', erin).send(payload);
      await answered('POST /keys/{id}/rotate', manage(keyId, 'rotate', { graceSeconds: -1 }), 400);
      await answered('POST /keys/{id}/rotate', manage('00000000-0000-4000-8000-000000000000', 'rotate', {}), 404);
      const rotated = await answered('POST /keys/{id}/rotate', manage(keyId, 'rotate', { graceSeconds: 60 }), 201);
      await answered('POST /keys/{id}/rotate', manage(keyId, 'rotate', {}), 409);
      await answered('POST /keys/{id}/revoke', manage(rotated.key.id, 'revoke', { reason: 7 }), 400);
      await answered('POST /keys/{id}/revoke', manage(rotated.key.id, 'revoke', { reason: 'leaked' }), 200);
      await answered('POST /keys/{id}/revoke', manage(rotated.key.id, 'revoke', {}), 409);
      await answered('POST /keys/{id}/revoke', manage('00000000-0000-4000-8000-000000000000', 'revoke', {}), 404);
      // What the router's shared parts answer before a handler runs: credentials not valid, a body not JSON, a body too large.
      await answered('GET /keys', request(server).get('/api/gateway/keys').query({ entityRef: 'component:default/chat-assistant' }).set('authorization', mockCredentials.user.invalidHeader()), 401);
      await answered('POST /keys/{id}/revoke', request(server).post(`/api/gateway/keys/${keyId}/revoke`).set('authorization', erin).set('content-type', 'text/plain').send('leaked'), 415);
      await answered('PUT /products/{id}', request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send({ ...body, title: 'x'.repeat(1_100_000) }), 413);

      await answered('GET /usage', request(server).get('/api/gateway/usage').query({ entityRef: 'api:default/llm-chat', consumerRef: 'chat-assistant' }).set('authorization', erin), 200);
      await answered('GET /usage', request(server).get('/api/gateway/usage').query({ entityRef: 'llm-chat' }).set('authorization', erin), 400);
      await answered('GET /usage', request(server).get('/api/gateway/usage').query({ hours: 720 }).set('authorization', erin), 200);
      await answered('GET /keys', request(server).get('/api/gateway/keys').query({ limit: 0 }).set('authorization', erin), 200);
      await answered('GET /keys', request(server).get('/api/gateway/keys').set('authorization', erin), 400);
      await answered('GET /audit', request(server).get('/api/gateway/audit').query({ entityRef: 'component:default/chat-assistant' }).set('authorization', erin), 200);
      await answered('GET /audit', request(server).get('/api/gateway/audit').set('authorization', erin), 200);
      await answered('GET /audit', request(server).get('/api/gateway/audit').query({ entityRef: 'llm-chat' }).set('authorization', erin), 400);
      await answered('GET /audit', request(server).get('/api/gateway/audit').query({ limit: 1 }).set('authorization', erin), 200);
      await answered('GET /audit', request(server).get('/api/gateway/audit').query({ action: 'key.deleted' }).set('authorization', erin), 400);

      const remove = (id: string, payload: object) => request(server).delete(`/api/gateway/products/${id}`).set('authorization', carol).send(payload);
      await answered('DELETE /products/{id}', remove('llm-chat', { expectedUpdatedAt: 'now' }), 400);
      await answered('DELETE /products/{id}', remove('nope', {}), 404);
      // The rotated key works through its grace period: the product is in use.
      await answered('DELETE /products/{id}', remove('llm-chat', { reason: 'retired' }), 409);
      await answered('POST /keys/{id}/revoke', manage(keyId, 'revoke', {}), 200);
      await answered('DELETE /products/{id}', remove('llm-chat', { reason: 'retired' }), 204);
    } finally {
      await allowed.stop();
    }

    // Without the permissions: each route's 403.
    const knex = await databases.init('SQLITE_3');
    const seeded = await startGateway(knex);
    await request(seeded.server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(body);
    const asked = (await request(seeded.server).post('/api/gateway/key-requests').set('authorization', erin)
      .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'standard', justification: 'the assistant answers questions' })).body;
    const issued = (await request(seeded.server).post(`/api/gateway/key-requests/${asked.id}/approve`).set('authorization', carol).send({})).body.issued;
    const pending = (await request(seeded.server).post('/api/gateway/key-requests').set('authorization', erin)
      .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'tiny', justification: 'the assistant answers questions' })).body;
    await seeded.stop();
    const denied = await startGateway(knex, AuthorizeResult.DENY);
    const deniedServer = denied.server;
    try {
      await answered('GET /products', request(deniedServer).get('/api/gateway/products').query({ entityRef: 'api:default/llm-chat' }).set('authorization', erin), 403);
      await answered('GET /products/{id}', request(deniedServer).get('/api/gateway/products/llm-chat').set('authorization', erin), 403);
      await answered('PUT /products/{id}', request(deniedServer).put('/api/gateway/products/llm-chat').set('authorization', erin).send(body), 403);
      await answered('DELETE /products/{id}', request(deniedServer).delete('/api/gateway/products/llm-chat').set('authorization', erin).send({}), 403);
      await answered('PUT /products/{id}/routes/{route}/weights', request(deniedServer).put('/api/gateway/products/llm-chat/routes/chat-small/weights').set('authorization', erin).send({ weights: { 'chat-small-v1': 100 } }), 403);
      await answered('GET /metrics/models', request(deniedServer).get('/api/gateway/metrics/models').query({ productId: 'llm-chat', model: 'chat-small-v1' }).set('authorization', erin), 403);
      await answered('GET /key-requests', request(deniedServer).get('/api/gateway/key-requests').query({ entityRef: 'api:default/llm-chat' }).set('authorization', erin), 403);
      await answered('POST /key-requests', request(deniedServer).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'standard', justification: 'the assistant answers questions' }), 403);
      await answered('POST /key-requests/{id}/approve', request(deniedServer).post(`/api/gateway/key-requests/${pending.id}/approve`).set('authorization', erin).send({}), 403);
      await answered('POST /key-requests/{id}/deny', request(deniedServer).post(`/api/gateway/key-requests/${pending.id}/deny`).set('authorization', erin).send({ reason: 'no' }), 403);
      await answered('GET /keys', request(deniedServer).get('/api/gateway/keys').query({ entityRef: 'component:default/chat-assistant' }).set('authorization', erin), 403);
      await answered('POST /keys/{id}/rotate', request(deniedServer).post(`/api/gateway/keys/${issued.key.id}/rotate`).set('authorization', erin).send({}), 403);
      await answered('POST /keys/{id}/revoke', request(deniedServer).post(`/api/gateway/keys/${issued.key.id}/revoke`).set('authorization', erin).send({}), 403);
      await answered('GET /usage', request(deniedServer).get('/api/gateway/usage').query({ entityRef: 'api:default/llm-chat' }).set('authorization', erin), 403);
      await answered('GET /usage', request(deniedServer).get('/api/gateway/usage').set('authorization', erin), 403);
      await answered('GET /keys', request(deniedServer).get('/api/gateway/keys').query({ limit: 0 }).set('authorization', erin), 403);
      await answered('GET /audit', request(deniedServer).get('/api/gateway/audit').query({ entityRef: 'api:default/llm-chat' }).set('authorization', erin), 403);
      await answered('GET /audit', request(deniedServer).get('/api/gateway/audit').set('authorization', erin), 403);
      await answered('GET /status', request(deniedServer).get('/api/gateway/status').set('authorization', erin), 403);
      await answered('GET /key-requests', request(deniedServer).get('/api/gateway/key-requests').set('authorization', erin), 403);
    } finally {
      await denied.stop();
    }
    expect(mismatches).toEqual([]);
  });
});
