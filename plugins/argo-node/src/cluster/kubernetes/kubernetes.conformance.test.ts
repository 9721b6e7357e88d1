import { KubeConfig } from '@kubernetes/client-node';
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
