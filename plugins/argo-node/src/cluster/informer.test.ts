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

  it('backs off a watch that ends at once with nothing, and resumes one that failed from where it was rather than listing again', async () => {
    const lists: number[] = [];
    const watches: Array<{ at: number; resourceVersion?: string }> = [];
    const abort = new AbortController();
    const event = (name: string, resourceVersion: string) => ({ type: 'ADDED', object: { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', resourceVersion } } });
    const client = {
      list: async () => {
        lists.push(Date.now());
        return { items: [], resourceVersion: '10' };
      },
      watch: (_kind: unknown, options: { resourceVersion?: string }) => {
        watches.push({ at: Date.now(), resourceVersion: options.resourceVersion });
        return (async function* watch() {
          switch (watches.length) {
            case 1:
            case 2:
              return; // a proxy that closes it at once
            case 3:
              yield event('a', '11');
              throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
            default:
              await new Promise(resolve => abort.signal.addEventListener('abort', resolve));
          }
        })();
      },
    } as unknown as ClusterClient;
    const informer = new Informer(client, { apiVersion: 'v1', kind: 'Service' });
    await informer.start();
    while (watches.length < 4) await new Promise(resolve => setTimeout(resolve, 20));
    abort.abort();
    await informer.stop();
    // 0.5 s, then 1 s, after the two empty ones.
    expect(watches[1].at - watches[0].at).toBeGreaterThanOrEqual(450);
    expect(watches[2].at - watches[1].at).toBeGreaterThanOrEqual(950);
    expect(watches.map(w => w.resourceVersion)).toEqual(['10', '10', '10', '11']);
    expect(lists).toHaveLength(1);
    expect(informer.get('default/a')).toBeDefined();
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
