import { KubeConfig } from '@kubernetes/client-node';
import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { KubernetesCluster } from '@quarterdeck/plugin-argo-node';

/**
 * payments-api as the route and notifier tests deploy it: two replicas, a
 * canary of 50 % → an indefinite pause → 100 %, labelled for its catalog
 * entity.
 */
export const paymentsCanary = (image: string, namespace = 'default'): Rollout => ({
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'payments-api', namespace, labels: { 'backstage.io/kubernetes-id': 'payments-api' } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'payments' } },
    template: { metadata: { labels: { app: 'payments', 'backstage.io/kubernetes-id': 'payments-api' } }, spec: { containers: [{ name: 'app', image }] } },
    strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }, { setWeight: 100 }] } },
  },
});

/**
 * The real cluster `npm run test:cluster` starts (its kubeconfig in
 * QUARTERDECK_TEST_KUBECONFIG), with a namespace of the test's own.
 */
export async function testCluster(namespace: string): Promise<KubernetesCluster> {
  const kubeconfig = process.env.QUARTERDECK_TEST_KUBECONFIG;
  if (!kubeconfig) throw new Error('QUARTERDECK_TEST_KUBECONFIG is not set: run `npm run test:cluster`');
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const client = new KubernetesCluster('test', kc);
  await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }, { fieldManager: 'test' });
  return client;
}
