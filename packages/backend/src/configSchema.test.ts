import { loadConfigSchema } from '@backstage/config-loader';

// The cluster config Quarterdeck reads from the Kubernetes plugin's `kubernetes` block is
// declared by @quarterdeck/plugin-argo-node; its token must be a secret (redacted from logs).
describe('the config schema of the kubernetes clusters', () => {
  jest.setTimeout(60_000);

  const kubernetes = (cluster: object) => ({
    kubernetes: { clusterLocatorMethods: [{ type: 'config', clusters: [cluster] }] },
  });

  it('marks serviceAccountToken secret and types the keys ClusterService reads', async () => {
    const schema = await loadConfigSchema({
      dependencies: ['@quarterdeck/plugin-argo-node'],
      excludePackageDependencies: true,
    });
    const cluster = {
      name: 'prod', url: 'https://kubernetes.example.com:6443', authProvider: 'serviceAccount',
      serviceAccountToken: 'a-token', caData: 'eA==', caFile: '/ca.crt', skipTLSVerify: false,
    };
    const [secrets] = schema.process([{ data: kubernetes(cluster), context: 'test' }], { visibility: ['secret'] });
    expect(secrets.data).toEqual({ kubernetes: { clusterLocatorMethods: [{ clusters: [{ serviceAccountToken: 'a-token' }] }] } });
    expect(() => schema.process([{ data: kubernetes({ ...cluster, skipTLSVerify: 'yes' }), context: 'test' }]))
      .toThrow(/must be boolean .* at \/kubernetes\/clusterLocatorMethods\/0\/clusters\/0\/skipTLSVerify/);
    expect(() => schema.process([{ data: kubernetes({ url: 'https://k' }), context: 'test' }]))
      .toThrow(/must have required property 'name'/);
  });
});
