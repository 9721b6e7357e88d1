import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import request from 'supertest';
import { argoPlugin } from './plugin';

// Databases the suite closes when it ends (the default mock's pools would keep the jest worker alive).
const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });

async function backend(...features: NonNullable<Parameters<typeof startTestBackend>[0]['features']>) {
  const knex = await databases.init('SQLITE_3');
  return startTestBackend({ features: [argoPlugin, mockServices.database.factory({ knex }), ...features] });
}

describe('argo backend plugin', () => {
  it('starts, runs its migrations and answers /health without a token', async () => {
    const { server } = await backend();
    const res = await request(server).get('/api/argo/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('registers the rollout permissions with the permission framework', async () => {
    const { server } = await backend();
    const res = await request(server)
      .get('/api/argo/.well-known/backstage/permissions/metadata')
      .set('authorization', mockCredentials.service.header());
    expect(res.status).toBe(200);
    const names = res.body.permissions.map((p: { name: string }) => p.name);
    expect(names).toEqual(
      expect.arrayContaining(['argo.rollout.promote', 'argo.rollout.abort']),
    );
  });

  it('lists the configured clusters to signed-in users', async () => {
    const { server } = await backend(
      mockServices.rootConfig.factory({
        data: { quarterdeck: { clusters: { local: [{ name: 'local', kubelet: { readyDelayMs: 10 } }] } } },
      }),
    );
    const res = await request(server)
      .get('/api/argo/clusters')
      .set('authorization', mockCredentials.user.header());
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([
      expect.objectContaining({ name: 'local', driver: 'local', isDefault: true }),
    ]);
    const anonymous = await request(server).get('/api/argo/clusters').set('authorization', mockCredentials.none.header());
    expect(anonymous.status).toBe(401);
  });

  it('refuses unauthenticated calls to anything but /health', async () => {
    const { server } = await backend();
    const res = await request(server)
      .get('/api/argo/.well-known/backstage/permissions/metadata')
      .set('authorization', mockCredentials.none.header());
    expect(res.status).toBe(401);
  });
});
