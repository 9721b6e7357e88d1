import { Informer } from './informer';
import type { ClusterClient, ListOptions } from './types';

/** A cluster whose lists never answer until they are given up: an API server that stopped responding. */
function unansweringCluster() {
  const lists: ListOptions[] = [];
  const client = {
    list: (_kind: unknown, options: ListOptions) => {
      lists.push(options);
      return new Promise((_resolve, reject) => options.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
    },
    watch: () => { throw new Error('not reached'); },
  } as unknown as ClusterClient;
  return { client, lists };
}

describe('Informer', () => {
  it('stops at once while its first list hangs, and the start waiting for it fails rather than waiting for ever', async () => {
    const { client, lists } = unansweringCluster();
    const informer = new Informer(client, { apiVersion: 'v1', kind: 'Service' });
    const started = informer.start();
    const outcome = started.then(() => 'synced', (error: Error) => error.message);
    await new Promise(resolve => setTimeout(resolve, 20));
    expect(lists).toHaveLength(1);

    const t0 = Date.now();
    await informer.stop();
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(await outcome).toBe('The Service informer stopped before its first list');
  });

  it('does not wait out its backoff when stopped after a failed list', async () => {
    const client = {
      list: async () => { throw new Error('connection refused'); },
      watch: () => { throw new Error('not reached'); },
    } as unknown as ClusterClient;
    const informer = new Informer(client, { apiVersion: 'v1', kind: 'Service' });
    informer.start().catch(() => undefined);
    // Failures back off 0.5, 1, 2 s …: stop during the 2 s wait.
    await new Promise(resolve => setTimeout(resolve, 1_700));
    const t0 = Date.now();
    await informer.stop();
    expect(Date.now() - t0).toBeLessThan(300);
  });

  it('tells a handler added after its first list of every object, a handler that throws on one included', async () => {
    const objects = ['a', 'b'].map(name => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', resourceVersion: '1' } }));
    const abort = new AbortController();
    const client = {
      list: async () => ({ items: objects, resourceVersion: '1' }),
      // A watch that stays open, quiet, until the informer stops.
      watch: () => ({
        [Symbol.asyncIterator]: () => ({ next: () => new Promise(resolve => abort.signal.addEventListener('abort', () => resolve({ done: true, value: undefined }))) }),
      }),
    } as unknown as ClusterClient;
    const informer = new Informer(client, { apiVersion: 'v1', kind: 'Service' });
    await informer.start();
    const seen: string[] = [];
    expect(() => informer.addHandlers({
      onAdd: o => {
        if (o.metadata.name === 'a') throw new TypeError("Cannot read properties of undefined (reading 'strategy')");
        seen.push(o.metadata.name!);
      },
    })).not.toThrow();
    expect(seen).toEqual(['b']);
    abort.abort();
    await informer.stop();
  });
});
