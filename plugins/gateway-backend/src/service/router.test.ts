import { TestDatabases } from '@backstage/backend-test-utils';
import request from 'supertest';
import { KnexGatewayStore, type StoredKey } from '../database/GatewayStore';
import { PolicyFeed } from '../dataplane/policyFeed';
import { carol, erin, product, startGateway } from '../__testUtils__/gateway';
import { GATEWAY_EVENTS_TOPIC } from './router';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });

const componentRef = 'component:default/chat-assistant';
const ask = (server: Parameters<typeof request>[0]) => request(server).post('/api/gateway/key-requests').set('authorization', erin)
  .send({ componentRef, productId: 'llm-chat', plan: 'standard', justification: 'the assistant answers customer questions' });

/** A gateway with the llm-chat product (its upstreams are never called here). */
async function gatewayWithProduct() {
  const gateway = await startGateway(await databases.init('SQLITE_3'));
  const put = await request(gateway.server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product('http://127.0.0.1:1/v1', 'http://127.0.0.1:2/v1'));
  expect(put.status).toBe(201);
  return gateway;
}

afterEach(() => jest.restoreAllMocks());

/**
 * The store's `read` fails once, right after its `write` has committed (a connection lost, a
 * failover); `reset()` forgets a commit no read followed.
 */
function failReadOnceAfterCommit(write: 'reviewKeyRequest' | 'revokeKey', read: 'getKeyRequest' | 'getKey') {
  const store = KnexGatewayStore.prototype as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const written = store[write];
  const readable = store[read];
  let committed = false;
  jest.spyOn(store, write).mockImplementation(async function wrote(this: unknown, ...args: unknown[]) {
    committed = Boolean(await written.apply(this, args));
    return committed;
  });
  jest.spyOn(store, read).mockImplementation(async function readOnce(this: unknown, ...args: unknown[]) {
    if (committed) {
      committed = false;
      throw new Error('Connection terminated unexpectedly');
    }
    return readable.apply(this, args);
  });
  return { reset: () => { committed = false; } };
}

describe('the control plane', () => {
  it('answers a committed review from what it decided, so a failed read after it cannot lose the one-time secret', async () => {
    const { server, stop } = await gatewayWithProduct();
    const failing = failReadOnceAfterCommit('reviewKeyRequest', 'getKeyRequest');
    try {
      const asked = await ask(server);
      const approved = await request(server).post(`/api/gateway/key-requests/${asked.body.id}/approve`).set('authorization', carol).send({ reason: 'ok' });
      failing.reset();
      expect(approved.status).toBe(201);
      expect(approved.body.issued.secret).toMatch(/^qdk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
      // The answer is the request as stored, field for field.
      const listed = await request(server).get('/api/gateway/key-requests').query({ entityRef: componentRef }).set('authorization', carol);
      expect(approved.body.request).toEqual(listed.body.items[0]);
      expect(approved.body.request).toMatchObject({ status: 'approved', reviewedBy: 'user:default/carol', reviewReason: 'ok', keyId: approved.body.issued.key.id });

      // A denial alike: it is committed, and a retry would be answered 409.
      const again = await ask(server);
      const denied = await request(server).post(`/api/gateway/key-requests/${again.body.id}/deny`).set('authorization', carol).send({ reason: ' not now ' });
      failing.reset();
      expect(denied.status).toBe(200);
      const relisted = await request(server).get('/api/gateway/key-requests').query({ entityRef: componentRef, status: 'denied' }).set('authorization', carol);
      expect(denied.body).toEqual(relisted.body.items[0]);
      expect(denied.body).toMatchObject({ status: 'denied', reviewedBy: 'user:default/carol', reviewReason: 'not now' });
      expect(denied.body.keyId).toBeUndefined();
    } finally {
      await stop();
    }
  });

  it('tells of a new key request even when a read after its commit would fail', async () => {
    const { server, notified, published, stop } = await gatewayWithProduct();
    try {
      jest.spyOn(KnexGatewayStore.prototype, 'getKeyRequest').mockRejectedValueOnce(new Error('Connection terminated unexpectedly'));
      const asked = await ask(server);
      expect(asked.status).toBe(201);
      jest.restoreAllMocks();
      const listed = await request(server).get('/api/gateway/key-requests').query({ entityRef: componentRef }).set('authorization', carol);
      expect(asked.body).toEqual(listed.body.items[0]);
      expect(published.map(event => (event.eventPayload as { type: string }).type)).toEqual(['key.requested']);
      expect(notified.map(n => n.payload.title)).toContain('chat-assistant asks for access to llm-chat');
    } finally {
      await stop();
    }
  });

  it('answers an approval and a rotation with their secrets when the data plane cannot take the new key at once', async () => {
    const { server, stop } = await gatewayWithProduct();
    try {
      const asked = await ask(server);
      jest.spyOn(PolicyFeed.prototype, 'applyKeys').mockRejectedValueOnce(new Error('the data plane is restarting'));
      const approved = await request(server).post(`/api/gateway/key-requests/${asked.body.id}/approve`).set('authorization', carol).send({});
      expect([approved.status, approved.body.issued?.secret]).toEqual([201, expect.stringMatching(/^qdk_/)]);
      jest.spyOn(PolicyFeed.prototype, 'applyKeys').mockRejectedValueOnce(new Error('the data plane is restarting'));
      const rotated = await request(server).post(`/api/gateway/keys/${approved.body.issued.key.id}/rotate`).set('authorization', erin).send({ graceSeconds: 60 });
      expect([rotated.status, rotated.body.secret]).toEqual([201, expect.stringMatching(/^qdk_/)]);
    } finally {
      await stop();
    }
  });

  it('answers a committed revocation from what it did, as the key is read afterwards', async () => {
    const { server, stop } = await gatewayWithProduct();
    try {
      const asked = await ask(server);
      const approved = await request(server).post(`/api/gateway/key-requests/${asked.body.id}/approve`).set('authorization', carol).send({});
      const keyId = approved.body.issued.key.id;
      failReadOnceAfterCommit('revokeKey', 'getKey');
      const revoked = await request(server).post(`/api/gateway/keys/${keyId}/revoke`).set('authorization', carol).send({ reason: 'leaked' });
      expect(revoked.status).toBe(200);
      const listed = await request(server).get('/api/gateway/keys').query({ entityRef: componentRef }).set('authorization', carol);
      expect(revoked.body).toEqual(listed.body.items.find((k: { id: string }) => k.id === keyId));
      expect(revoked.body).toMatchObject({ status: 'revoked', revokedBy: 'user:default/carol' });
    } finally {
      await stop();
    }
  });

  it('says a key could not be stored without its hash or public id, in the answer and in the error', async () => {
    const { server, knex, stop } = await gatewayWithProduct();
    const review = KnexGatewayStore.prototype.reviewKeyRequest;
    const rotate = KnexGatewayStore.prototype.rotateKey;
    const attempts: Array<{ key: StoredKey; error?: unknown }> = [];
    jest.spyOn(KnexGatewayStore.prototype, 'reviewKeyRequest').mockImplementation(async function reviewed(this: KnexGatewayStore, ...args) {
      const attempt: { key: StoredKey; error?: unknown } = { key: args[0].key! };
      attempts.push(attempt);
      try {
        return await review.apply(this, args);
      } catch (error) {
        attempt.error = error;
        throw error;
      }
    });
    jest.spyOn(KnexGatewayStore.prototype, 'rotateKey').mockImplementation(async function rotated(this: KnexGatewayStore, ...args) {
      const attempt: { key: StoredKey; error?: unknown } = { key: args[0].next };
      attempts.push(attempt);
      try {
        return await rotate.apply(this, args);
      } catch (error) {
        attempt.error = error;
        throw error;
      }
    });
    // knex writes a failed statement with its bound values into the error's message.
    const refuseKeys = () => knex.raw("create trigger refuse_keys before insert on gateway_keys begin select raise(abort, 'disk full'); end");
    const leaks = (answer: request.Response, attempt: { key: StoredKey; error?: unknown }) => {
      const said = `${JSON.stringify(answer.body)} ${String(attempt.error)} ${JSON.stringify(attempt.error)}`;
      return [attempt.key.secretHash, attempt.key.publicId].filter(value => said.includes(value));
    };
    try {
      await refuseKeys();
      const asked = await ask(server);
      const approve = () => request(server).post(`/api/gateway/key-requests/${asked.body.id}/approve`).set('authorization', carol).send({});
      const refused = await approve();
      expect(refused.status).toBe(500);
      expect(leaks(refused, attempts[0])).toEqual([]);
      expect(refused.body.error.message).toBe('Could not store the key (SQLITE_CONSTRAINT_TRIGGER)');
      expect((attempts[0].error as Error).message).toBe('Could not store the key (SQLITE_CONSTRAINT_TRIGGER)');

      // Nothing was committed: the request is still pending, and approved once keys can be stored.
      await knex.raw('drop trigger refuse_keys');
      const approved = await approve();
      expect(approved.status).toBe(201);
      await refuseKeys();
      const rotated = await request(server).post(`/api/gateway/keys/${approved.body.issued.key.id}/rotate`).set('authorization', erin).send({});
      expect(rotated.status).toBe(500);
      expect(attempts).toHaveLength(3);
      expect(leaks(rotated, attempts[2])).toEqual([]);
      expect(rotated.body.error.message).toBe('Could not store the key (SQLITE_CONSTRAINT_TRIGGER)');
    } finally {
      await stop();
    }
  });

  it("publishes each key event on Backstage's events service, shaped for its subscribers, and never a secret", async () => {
    const { server, knex, published, stop } = await gatewayWithProduct();
    const user = (ref: string) => `user:default/${ref}`;
    try {
      const asked = await ask(server);
      const approved = await request(server).post(`/api/gateway/key-requests/${asked.body.id}/approve`).set('authorization', carol).send({ reason: 'ok' });
      const keyId: string = approved.body.issued.key.id;
      const rotated = await request(server).post(`/api/gateway/keys/${keyId}/rotate`).set('authorization', erin).send({ graceSeconds: 60 });
      expect(rotated.status).toBe(201);
      const newKeyId: string = rotated.body.key.id;
      expect((await request(server).post(`/api/gateway/keys/${newKeyId}/revoke`).set('authorization', carol).send({ reason: 'leaked in a log' })).status).toBe(200);
      const again = await ask(server);
      expect((await request(server).post(`/api/gateway/key-requests/${again.body.id}/deny`).set('authorization', carol).send({ reason: 'one key is enough' })).status).toBe(200);
      const keys = await request(server).get('/api/gateway/keys').query({ entityRef: componentRef }).set('authorization', carol);
      const graceUntil = keys.body.items.find((k: { id: string }) => k.id === keyId).expiresAt;

      expect(published.map(event => event.topic)).toEqual(Array(6).fill(GATEWAY_EVENTS_TOPIC));
      // Each with its own id, for a subscriber to drop a repeat (delivery is at least once).
      const eventId = expect.stringMatching(/^[0-9a-f-]{36}$/);
      expect(published.map(event => event.eventPayload)).toEqual([
        { type: 'key.requested', requestId: asked.body.id, productId: 'llm-chat', apiRef: 'api:default/llm-chat', componentRef, plan: 'standard', actor: user('erin'), eventId },
        { type: 'key.approved', requestId: asked.body.id, keyId, productId: 'llm-chat', componentRef, actor: user('carol'), eventId },
        { type: 'key.rotated', keyId, newKeyId, componentRef, productId: 'llm-chat', graceUntil, actor: user('erin'), eventId },
        { type: 'key.revoked', keyId: newKeyId, componentRef, productId: 'llm-chat', actor: user('carol'), reason: 'leaked in a log', eventId },
        { type: 'key.requested', requestId: again.body.id, productId: 'llm-chat', apiRef: 'api:default/llm-chat', componentRef, plan: 'standard', actor: user('erin'), eventId },
        { type: 'key.denied', requestId: again.body.id, productId: 'llm-chat', componentRef, actor: user('carol'), reason: 'one key is enough', eventId },
      ]);
      expect(new Set(published.map(event => (event.eventPayload as { eventId: string }).eventId)).size).toBe(6);
      // All told: nothing waits in the outbox.
      expect(Number((await knex('gateway_outbox').count({ n: '*' }).first())?.n)).toBe(0);
      expect(new Set(published.map(event => (event.eventPayload as { type: string }).type)))
        .toEqual(new Set(['key.requested', 'key.approved', 'key.denied', 'key.rotated', 'key.revoked']));
      // Subscribers are other plugins: neither a secret nor what would check one.
      const said = JSON.stringify(published);
      const secrets = [approved.body.issued.secret, rotated.body.secret];
      const hashes = (await knex('gateway_keys').select('secret_hash')).map(row => row.secret_hash as string);
      expect(hashes).toHaveLength(2);
      expect([...secrets, ...secrets.map(s => s.slice(18)), ...hashes].filter(value => said.includes(value))).toEqual([]);
    } finally {
      await stop();
    }
  });
});
