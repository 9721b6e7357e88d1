import { KubeConfig } from '@kubernetes/client-node';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubernetesCluster } from './KubernetesCluster';

/**
 * An API server of one kind (ConfigMap) whose watch sends one event with its
 * bytes cut in the middle of a character, in two writes.
 */
async function splittingApiServer() {
  const server = http.createServer((req, res) => {
    if (req.url === '/api/v1') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'configmaps', namespaced: true, kind: 'ConfigMap', verbs: ['list', 'watch'] }] }));
      return;
    }
    const event = Buffer.from(`${JSON.stringify({
      type: 'ADDED',
      object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'menu', namespace: 'default', resourceVersion: '7' }, data: { dish: 'crème brûlée' } },
    })}\n`);
    const cut = event.indexOf(Buffer.from('è')) + 1; // between the two bytes of è
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(event.subarray(0, cut));
    setTimeout(() => res.write(event.subarray(cut)), 50);
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'fake', token: 'fake' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });
  return { client: new KubernetesCluster('fake', kc), close: () => new Promise(resolve => server.close(resolve)) };
}

describe('KubernetesCluster', () => {
  it('decodes a watch event whose character is split between two reads', async () => {
    const { client, close } = await splittingApiServer();
    const abort = new AbortController();
    try {
      for await (const event of client.watch({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default' }, { signal: abort.signal })) {
        expect((event.object as any).data.dish).toBe('crème brûlée');
        break;
      }
    } finally {
      abort.abort();
      await close();
    }
  });
});
