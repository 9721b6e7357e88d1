import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import request from 'supertest';
import { gatewayPlugin } from './plugin';

// The data plane on a free port; a key secret as config requires.
const config = mockServices.rootConfig.factory({
  data: { gateway: { keySecret: 'a-test-server-secret-of-at-least-32-chars', listen: { port: 0 } } },
});

// Databases the suite closes when it ends (the default mock's pools would keep the jest worker alive).
const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });

async function backend() {
  const knex = await databases.init('SQLITE_3');
  return startTestBackend({ features: [gatewayPlugin, config, mockServices.database.factory({ knex })] });
}

describe('gateway backend plugin', () => {
  it('starts, runs its migrations and answers /health without a token', async () => {
    const { server } = await backend();
    const res = await request(server).get('/api/gateway/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('registers the gateway permissions with the permission framework', async () => {
    const { server } = await backend();
    const res = await request(server)
      .get('/api/gateway/.well-known/backstage/permissions/metadata')
      .set('authorization', mockCredentials.service.header());
    expect(res.status).toBe(200);
    const names = res.body.permissions.map((p: { name: string }) => p.name);
    expect(names).toEqual(
      expect.arrayContaining(['gateway.key-request.review', 'gateway.key.manage']),
    );
  });

  it.each([0, -1, Infinity, 1e9])('refuses to start with gateway.keyRequestTtlDays %p, saying which setting', async days => {
    // 0 or less: every request born expired; past what a date holds: every request a 500.
    const knex = await databases.init('SQLITE_3');
    const ttl = mockServices.rootConfig.factory({
      data: { gateway: { keySecret: 'a-test-server-secret-of-at-least-32-chars', listen: { port: 0 }, keyRequestTtlDays: days } },
    });
    await expect(startTestBackend({ features: [gatewayPlugin, ttl, mockServices.database.factory({ knex })] }))
      .rejects.toThrow('gateway.keyRequestTtlDays must be a number of days, more than 0 and at most 3650');
  });

  it('refuses unauthenticated calls to anything but /health', async () => {
    const { server } = await backend();
    const res = await request(server)
      .get('/api/gateway/.well-known/backstage/permissions/metadata')
      .set('authorization', mockCredentials.none.header());
    expect(res.status).toBe(401);
  });
});
