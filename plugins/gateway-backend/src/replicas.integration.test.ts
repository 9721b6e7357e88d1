import { TestDatabases } from '@backstage/backend-test-utils';
import request from 'supertest';
import { carol, chat, erin, eventually, issueKey, modelServers, product, startGateway } from './__testUtils__/gateway';

jest.setTimeout(60_000);

// Replicas of the portal share one database (and their data planes nothing else): PostgreSQL in `npm run test:pg`.
const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'], disableDocker: true });

describe('the gateway on several replicas', () => {
  const upstreams = modelServers();

  it.each(databases.eachSupportedId())('refuses a key revoked on one replica on the others too, even when the replica that wrote it has a clock behind theirs, %p', async databaseId => {
    const knex = await databases.init(databaseId);
    const a = await startGateway(knex);
    const b = await startGateway(knex);
    const hello = { model: 'chat-small', messages: [{ role: 'user', content: 'hello' }] };
    const refusedAsRevoked = async (dataPlane: string, secret: string) => {
      const answer = await chat(dataPlane, secret, hello);
      return answer.status === 401 && (await answer.json()).error.message === 'This API key was revoked.';
    };
    try {
      await request(a.server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      const first = await issueKey(a.server, 'revoked through the API of replica a');
      const second = await issueKey(a.server, 'revoked by a replica whose clock is behind');
      // Replica b hears of the product and the keys issued on a from the database alone.
      await eventually('replica b to accept both keys', async () =>
        (await chat(b.dataPlane, first.secret, hello)).status === 200 && (await chat(b.dataPlane, second.secret, hello)).status === 200);

      const revoked = await request(a.server).post(`/api/gateway/keys/${first.key.id}/revoke`).set('authorization', erin).send({ reason: 'leaked' });
      expect(revoked.status).toBe(200);
      expect(await refusedAsRevoked(a.dataPlane, first.secret)).toBe(true);
      await eventually('replica b to refuse the key revoked on a', () => refusedAsRevoked(b.dataPlane, first.secret));

      // A third replica, its clock 5 s behind, revokes the second key: its change is stamped before the newest one b has seen.
      const behind = new Date(Date.parse(revoked.body.revokedAt ?? new Date().toISOString()) - 5_000);
      await knex('gateway_keys').where({ id: second.key.id }).update({ status: 'revoked', revoked_at: behind, revoked_by: 'user:default/erin', updated_at: behind });
      await eventually('replica b to refuse the key a late clock revoked', () => refusedAsRevoked(b.dataPlane, second.secret));
      await eventually('replica a to refuse it too', () => refusedAsRevoked(a.dataPlane, second.secret));
    } finally {
      await b.stop();
      await a.stop();
    }
  });

  it.each(databases.eachSupportedId())('stops serving a product removed on one replica on the others within seconds, %p', async databaseId => {
    const knex = await databases.init(databaseId);
    const a = await startGateway(knex);
    const b = await startGateway(knex);
    const productsHeld = async (server: typeof a.server) => (await request(server).get('/api/gateway/status').set('authorization', carol)).body.held.products;
    try {
      const created = await request(a.server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      await eventually('replica b to hold the product made on a', async () => (await productsHeld(b.server)) === 1);
      const removed = await request(a.server).delete('/api/gateway/products/llm-chat').set('authorization', carol).send({ expectedUpdatedAt: created.body.updatedAt });
      expect(removed.status).toBe(204);
      // Replica a's data plane lets go before the answer; b's on its next read of the products.
      expect(await productsHeld(a.server)).toBe(0);
      await eventually('replica b to let go of the product removed on a', async () => (await productsHeld(b.server)) === 0, 5_000);
      expect((await request(b.server).get('/api/gateway/products/llm-chat').set('authorization', carol)).status).toBe(404);
    } finally {
      await b.stop();
      await a.stop();
    }
  });
});
