import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import { InvalidObjectError, UnknownClusterError } from './errors';
import { createClusterService, kubeConfigFromBackstageCluster } from './ClusterService';

jest.setTimeout(30_000);

describe('ClusterService', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });

  const config = mockServices.rootConfig({
    data: {
      quarterdeck: {
        clusters: {
          local: [{ name: 'local', kubelet: { readyDelayMs: 10 } }],
          modes: { prod: { rollouts: 'reconcile' } },
        },
      },
      kubernetes: {
        clusterLocatorMethods: [
          {
            type: 'config',
            clusters: [
              { name: 'prod', url: 'https://127.0.0.1:6443', authProvider: 'serviceAccount', serviceAccountToken: 'secret-token', skipTLSVerify: true },
            ],
          },
        ],
      },
    },
  });

  it('lists the local and the Kubernetes plugin clusters, with their drivers and modes', async () => {
    const knex = await databases.init('SQLITE_3');
    const service = createClusterService({ config, logger: mockServices.logger.mock(), database: { getClient: async () => knex } });
    expect(service.clusters()).toEqual([
      { name: 'local', driver: 'local', isDefault: true, modes: { gitops: 'reconcile', rollouts: 'reconcile', workflows: 'reconcile', events: 'reconcile' } },
      { name: 'prod', driver: 'kubernetes', source: 'config', isDefault: false, modes: { gitops: 'observe', rollouts: 'reconcile', workflows: 'observe', events: 'observe' } },
    ]);
    expect(service.mode('prod', 'workflows')).toBe('observe');

    const local = await service.client();
    expect(local.driver).toBe('local');
    expect(await service.client('local')).toBe(local);
    await local.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'hello', namespace: 'default' } });
    expect(await local.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'hello' })).toBeDefined();

    expect((await service.client('prod')).driver).toBe('kubernetes');
    await expect(service.client('staging')).rejects.toThrow(UnknownClusterError);
    await expect(service.client('staging')).rejects.toThrow("No cluster named 'staging' is configured");
    await service.stop();
  });

  it("connects to a Kubernetes plugin cluster with its service account token and CA settings", () => {
    const kc = kubeConfigFromBackstageCluster(
      new ConfigReader({ name: 'prod', url: 'https://10.0.0.1:6443', serviceAccountToken: 'abc', skipTLSVerify: true }),
    );
    expect(kc.getCurrentCluster()).toMatchObject({ name: 'prod', server: 'https://10.0.0.1:6443', skipTLSVerify: true });
    expect(kc.getCurrentUser()).toMatchObject({ token: 'abc' });
    expect(() =>
      kubeConfigFromBackstageCluster(new ConfigReader({ name: 'gke', url: 'https://x', authProvider: 'google' })),
    ).toThrow(InvalidObjectError);
  });

  it('refuses an unknown mode and a default that names no cluster', () => {
    const bad = (data: object) => () =>
      createClusterService({ config: mockServices.rootConfig({ data }), logger: mockServices.logger.mock(), database: { getClient: async () => { throw new Error('unused'); } } });
    expect(bad({ quarterdeck: { clusters: { local: [{ name: 'a', modes: { rollouts: 'own' } }] } } })).toThrow(
      "modes.rollouts: must be reconcile or observe, not 'own'",
    );
    expect(bad({ quarterdeck: { clusters: { default: 'b', local: [{ name: 'a' }] } } })).toThrow(UnknownClusterError);
  });
});
