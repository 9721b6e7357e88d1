import { KubeConfig } from '@kubernetes/client-node';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubernetesCluster } from './KubernetesCluster';

/** A kubeconfig whose one cluster is the fake API server `server`. */
function kubeConfigOf(server: http.Server) {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'fake', token: 'fake' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });
  return kc;
}

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
  const kc = kubeConfigOf(server);
  return { client: new KubernetesCluster('fake', kc), close: () => new Promise(resolve => server.close(resolve)) };
}

/** An API server whose watches get their head and then nothing, ever: a connection that died without a FIN. */
async function silentApiServer() {
  const watches: URL[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/api/v1') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'configmaps', namespaced: true, kind: 'ConfigMap', verbs: ['list', 'watch'] }] }));
      return;
    }
    watches.push(new URL(req.url!, 'http://x'));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const kc = kubeConfigOf(server);
  return {
    watches,
    client: (options: ConstructorParameters<typeof KubernetesCluster>[2]) => new KubernetesCluster('fake', kc, options),
    close: () => new Promise(resolve => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}

describe('KubernetesCluster', () => {
  it('asks the API server to end each watch, and gives one up that it has not ended in time, as ended', async () => {
    const silent = await silentApiServer();
    try {
      // Without options: client-go's 5 to 10 minutes.
      const abort = new AbortController();
      const pending = silent.client(undefined).watch({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default' }, { signal: abort.signal })[Symbol.asyncIterator]().next();
      while (silent.watches.length === 0) await new Promise(r => setTimeout(r, 10));
      const asked = Number(silent.watches[0].searchParams.get('timeoutSeconds'));
      expect(asked).toBeGreaterThanOrEqual(300);
      expect(asked).toBeLessThanOrEqual(600);
      abort.abort();
      // Stopped by its caller: it ends, or (stopped before the head came) fails as aborted.
      await pending.then(result => expect(result.done).toBe(true), (error: Error) => expect(error.name).toBe('AbortError'));

      const started = Date.now();
      const events = [];
      for await (const event of silent.client({ watchTimeoutSeconds: () => 1, watchGraceMs: 200 }).watch({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default' })) events.push(event);
      expect(events).toEqual([]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(silent.watches[1].searchParams.get('timeoutSeconds')).toBe('1');
    } finally {
      await silent.close();
    }
  });

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

  it("answers the cluster's refusal of its own credentials as a gateway's error (502), not as the user's 401 or 403", async () => {
    const server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/api/v1') {
        res.end(JSON.stringify({ kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'configmaps', namespaced: true, kind: 'ConfigMap', verbs: ['get'] }] }));
        return;
      }
      res.statusCode = 403;
      res.end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403,
        message: 'configmaps "menu" is forbidden: User "system:serviceaccount:backstage:quarterdeck" cannot get resource "configmaps" in the namespace "default"' }));
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    try {
      const client = new KubernetesCluster('fake', kubeConfigOf(server));
      await expect(client.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'menu' })).rejects.toMatchObject({
        statusCode: 502,
        message: expect.stringMatching(/^The cluster refused the request \(403\): configmaps "menu" is forbidden: User "system:serviceaccount:backstage:quarterdeck"/),
      });
    } finally {
      await new Promise(resolve => server.close(resolve));
    }
  });
});
