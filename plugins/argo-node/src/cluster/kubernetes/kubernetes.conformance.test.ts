import { KubeConfig } from '@kubernetes/client-node';
import { describeConformance } from '../__conformance__/suite';
import { KubernetesCluster } from './KubernetesCluster';

jest.setTimeout(60_000);

// The real kube-apiserver that `npm run test:cluster` starts
// (scripts/test-cluster/cluster.sh); skipped when it is not given.
const kubeconfig = process.env.QUARTERDECK_TEST_KUBECONFIG;

if (kubeconfig) {
  describeConformance('kubernetes driver on kube-apiserver', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    return { client: new KubernetesCluster('test', kc), teardown: async () => {} };
  });
} else {
  it.skip('kubernetes driver conformance needs QUARTERDECK_TEST_KUBECONFIG (npm run test:cluster)', () => {});
}
