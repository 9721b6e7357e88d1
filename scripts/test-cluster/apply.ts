// Server-side applies every manifest in the given directories through the
// Kubernetes driver, then waits until the CRDs among them are Established.
//   node --require @backstage/cli/config/nodeTransform.cjs apply.ts KUBECONFIG DIR...
import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesCluster, readManifests } from '@quarterdeck/plugin-argo-node';

async function main() {
  const [kubeconfig, ...dirs] = process.argv.slice(2);
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const client = new KubernetesCluster('test', kc);
  const objects = dirs.flatMap(dir => readManifests(dir));
  // Namespaces first, then everything else in file order.
  objects.sort((a, b) => Number(b.kind === 'Namespace') - Number(a.kind === 'Namespace'));
  for (const object of objects) {
    await client.apply(object, { fieldManager: 'quarterdeck-install', force: true });
  }
  for (const crd of objects.filter(o => o.kind === 'CustomResourceDefinition')) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const live = await client.get({ apiVersion: crd.apiVersion, kind: crd.kind, name: crd.metadata.name! });
      const conditions = ((live?.status as any)?.conditions ?? []) as Array<{ type: string; status: string }>;
      if (conditions.some(c => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${crd.metadata.name} was not established`);
      await new Promise(resolve => setTimeout(resolve, 200));
    }
  }
  process.stderr.write(`[test-cluster] applied ${objects.length} objects\n`);
}

main().catch(error => {
  process.stderr.write(`[test-cluster] apply failed: ${error.message}\n`);
  process.exit(1);
});
