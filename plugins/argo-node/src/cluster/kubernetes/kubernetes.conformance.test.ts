import { mockServices } from '@backstage/backend-test-utils';
import { KubeConfig } from '@kubernetes/client-node';
import { createClusterService } from '../ClusterService';
import { describeConformance } from '../__conformance__/suite';
import { KubernetesCluster } from './KubernetesCluster';

jest.setTimeout(60_000);

// Runs against the real kube-apiserver that `npm run test:cluster` starts
// (scripts/test-cluster/cluster.sh); `npm test` leaves this file out.
describeConformance('kubernetes driver on kube-apiserver', async () => {
  const kubeconfig = process.env.QUARTERDECK_TEST_KUBECONFIG;
  if (!kubeconfig) {
    throw new Error('QUARTERDECK_TEST_KUBECONFIG is not set: run `npm run test:cluster`');
  }
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { client: new KubernetesCluster('test', kc), teardown: async () => {} };
});

describe('ClusterService with a kubeconfig cluster', () => {
  it('connects through the kubeconfig path it is configured with', async () => {
    const service = createClusterService({
      config: mockServices.rootConfig({
        data: { quarterdeck: { clusters: { kubeconfig: [{ name: 'test', path: process.env.QUARTERDECK_TEST_KUBECONFIG! }] } } },
      }),
      logger: mockServices.logger.mock(),
      database: { getClient: async () => { throw new Error('no local clusters here'); } },
    });
    expect(service.clusters()).toEqual([
      { name: 'test', driver: 'kubernetes', source: 'kubeconfig', isDefault: true, modes: { gitops: 'observe', rollouts: 'observe', workflows: 'observe', events: 'observe' } },
    ]);
    const client = await service.client();
    const namespaces = await client.list({ apiVersion: 'v1', kind: 'Namespace' });
    expect(namespaces.items.map(n => n.metadata.name)).toEqual(expect.arrayContaining(['default', 'kube-system']));
  });
});
