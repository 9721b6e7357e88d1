import { TestDatabases } from '@backstage/backend-test-utils';
import { Informer } from '../informer';
import type { KubeObject } from '../types';
import { LocalCluster } from './LocalCluster';
import { LocalObjectStore, migrateLocalObjectStore } from './LocalObjectStore';
import { startLocalCluster } from './startLocalCluster';

jest.setTimeout(30_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'], disableDocker: true });
const cm = (name: string, data: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default' },
  data,
});
const ref = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name });

describe.each(databases.eachSupportedId())('LocalCluster on %s', databaseId => {
  it('goes on telling watches and controllers of changes after one of them fails on a change, and says which', async () => {
    const db = await databases.init(databaseId);
    await migrateLocalObjectStore(db);
    const errors: string[] = [];
    const cluster = await LocalCluster.open({ name: 'c', store: new LocalObjectStore(db, 'c'), logger: { error: (message: string) => void errors.push(message) } });
    const seen: string[] = [];
    // A controller given an object the API server would have refused (a Pod without a spec, say) throws on it.
    cluster.onChange(change => {
      if (change.object.metadata.name === 'poison') throw new TypeError("Cannot read properties of undefined (reading 'containers')");
    });
    cluster.onChange(change => void seen.push(change.object.metadata.name!));
    const informer = new Informer<KubeObject>(cluster, { apiVersion: 'v1', kind: 'ConfigMap' });
    await informer.start();
    await cluster.create(cm('poison'));
    await cluster.create(cm('after'));
    await cluster.settle();
    await new Promise(resolve => setTimeout(resolve, 100));
    expect(seen).toEqual(['poison', 'after']);
    expect(informer.get('default/after')).toBeDefined();
    expect(errors).toEqual([expect.stringMatching(/^Local cluster c: a controller failed on ADDED ConfigMap default\/poison \(resourceVersion \d+\): TypeError: Cannot read properties of undefined/)]);
    await informer.stop();
  });

  it('keeps objects and keeps resourceVersions growing across a restart', async () => {
    const db = await databases.init(databaseId);
    await migrateLocalObjectStore(db);
    const first = await LocalCluster.open({ name: 'c', store: new LocalObjectStore(db, 'c') });
    await first.create(cm('kept', { a: '1' }));
    await first.create(cm('gone'));
    await first.delete(ref('gone'));
    const lastBefore = Number(first.currentResourceVersion());
    await first.settle();

    const second = await LocalCluster.open({ name: 'c', store: new LocalObjectStore(db, 'c') });
    expect((await second.get(ref('kept')))?.data).toEqual({ a: '1' });
    expect(await second.get(ref('gone'))).toBeUndefined();
    const recreated = await second.create(cm('gone'));
    expect(Number(recreated.metadata.resourceVersion)).toBeGreaterThan(lastBefore);

    // Another cluster in the same database sees none of it.
    const other = await LocalCluster.open({ name: 'other', store: new LocalObjectStore(db, 'other') });
    expect(await other.get(ref('kept'))).toBeUndefined();
    await Promise.all([second.settle(), other.settle()]);
  });
});

describe('LocalCluster when its database refuses writes for a while', () => {
  it('writes them again until it takes them, and only then answers and tells its watchers', async () => {
    const db = await databases.init('SQLITE_3');
    await migrateLocalObjectStore(db);
    // The database as the store sees it: its first two transactions fail (a dropped connection, a full disk).
    let refusals = 0;
    const flaky = new Proxy(db, {
      get: (target, property, receiver) =>
        property === 'transaction'
          ? (...args: unknown[]) => (refusals-- > 0 ? Promise.reject(new Error('connection lost')) : (target.transaction as any)(...args))
          : Reflect.get(target, property, receiver),
    });
    const first = await LocalCluster.open({ name: 'f', store: new LocalObjectStore(flaky, 'f') });
    await first.settle();
    refusals = 2;
    const seen: string[] = [];
    first.onChange(change => seen.push(change.object.metadata.name!));
    const created = first.create(cm('kept', { a: '1' }));
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(seen).toEqual([]);
    await created;
    expect(refusals).toBeLessThan(0);
    expect(seen).toEqual(['kept']);
    await first.settle();

    const second = await LocalCluster.open({ name: 'f', store: new LocalObjectStore(db, 'f') });
    expect((await second.get(ref('kept')))?.data).toEqual({ a: '1' });
    await second.settle();
  });
});

describe('LocalCluster watch bookmarks', () => {
  it('sends BOOKMARK events with the current resourceVersion to watchers that ask', async () => {
    const db = await databases.init('SQLITE_3');
    await migrateLocalObjectStore(db);
    const cluster = await LocalCluster.open({ name: 'b', store: new LocalObjectStore(db, 'b'), bookmarkIntervalMs: 50 });
    const { resourceVersion } = await cluster.list({ apiVersion: 'v1', kind: 'ConfigMap' });
    await cluster.create(cm('elsewhere', {}));
    await cluster.settle();
    const abort = new AbortController();
    const types: string[] = [];
    let bookmarkRv = '';
    for await (const e of cluster.watch({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'kube-system' }, { resourceVersion, allowBookmarks: true, signal: abort.signal })) {
      types.push(e.type);
      if (e.type === 'BOOKMARK') {
        bookmarkRv = e.object.metadata.resourceVersion!;
        abort.abort();
      }
    }
    // Nothing changed in kube-system, yet the bookmark moved past the change elsewhere.
    expect(types).toEqual(['BOOKMARK']);
    expect(Number(bookmarkRv)).toBeGreaterThan(Number(resourceVersion));
  });
});

describe('Informer on the local driver', () => {
  it('delivers adds, updates and deletes, resyncs, and lists again after 410 Gone', async () => {
    const db = await databases.init('SQLITE_3');
    await migrateLocalObjectStore(db);
    // A watch log of 5 changes: a watcher that falls further behind must relist.
    const cluster = await LocalCluster.open({ name: 'i', store: new LocalObjectStore(db, 'i'), watchLogSize: 5 });
    await cluster.create(cm('before'));
    const seen: string[] = [];
    const informer = new Informer(cluster, { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default' }, { resyncMs: 200 });
    informer.addHandlers({
      onAdd: o => seen.push(`add ${o.metadata.name}`),
      onUpdate: (prev, o) => seen.push(prev === o ? `resync ${o.metadata.name}` : `update ${o.metadata.name}`),
      onDelete: o => seen.push(`delete ${o.metadata.name}`),
    });
    await informer.start();
    expect(seen).toEqual(['add before']);
    await cluster.create(cm('x'));
    await cluster.patch(ref('x'), 'merge', { data: { k: 'v' } });
    await cluster.delete(ref('before'));
    await cluster.settle();
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(seen).toEqual(['add before', 'add x', 'update x', 'delete before']);
    expect(informer.list().map(o => o.metadata.name)).toEqual(['x']);

    await new Promise(resolve => setTimeout(resolve, 300));
    expect(seen).toContain('resync x');
    await informer.stop();
  });

  it('relists when its resourceVersion has been compacted away', async () => {
    const db = await databases.init('SQLITE_3');
    await migrateLocalObjectStore(db);
    const cluster = await LocalCluster.open({ name: 'g', store: new LocalObjectStore(db, 'g'), watchLogSize: 3 });
    const informer = new Informer(cluster, { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default' });
    await informer.start();
    await informer.stop();
    // While it is stopped, more changes than the log keeps happen.
    for (let i = 0; i < 10; i++) await cluster.create(cm(`n${i}`));
    await cluster.settle();
    await expect(async () => {
      for await (const _ of cluster.watch({ apiVersion: 'v1', kind: 'ConfigMap' }, { resourceVersion: '1' })) break;
    }).rejects.toThrow('too old resource version');
    await informer.start();
    await cluster.settle();
    expect(informer.list().length).toBe(10);
    await informer.stop();
  });
});

describe('local kubelet logs', () => {
  it('follows a running container until it ends', async () => {
    const db = await databases.init('SQLITE_3');
    const { cluster, stop } = await startLocalCluster({ name: 'logs', db, installCrds: false, kubelet: { readyDelayMs: 10, execute: true } });
    await cluster.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'ticker', namespace: 'default', annotations: { 'quarterdeck.io/execute': 'host' } },
      spec: { restartPolicy: 'Never', containers: [{ name: 'main', command: ['sh', '-c', 'for i in 1 2 3; do echo tick $i; sleep 0.2; done'] }] },
    });
    // Wait until it runs, then follow.
    for (;;) {
      const pod = await cluster.get({ apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: 'ticker' });
      if (['Running', 'Succeeded'].includes((pod?.status as any)?.phase)) break;
      await new Promise(resolve => setTimeout(resolve, 20));
    }
    const lines: string[] = [];
    for await (const line of cluster.logs({ namespace: 'default', name: 'ticker' }, { follow: true })) lines.push(line);
    expect(lines).toEqual(['tick 1', 'tick 2', 'tick 3']);
    await stop();
  });
});

describe('local kubelet across a restart', () => {
  it('finishes a pod meant to finish that was running when the backend stopped', async () => {
    const db = await databases.init('SQLITE_3');
    const pod = { apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: 'measure' };
    const phaseOf = async (cluster: LocalCluster) => ((await cluster.get(pod))?.status as { phase?: string } | undefined)?.phase;
    const first = await startLocalCluster({ name: 'k', db, installCrds: false, kubelet: { readyDelayMs: 300 } });
    await first.cluster.create({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'measure', namespace: 'default' },
      spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'example/measure:1' }] },
    });
    while ((await phaseOf(first.cluster)) !== 'Running') await new Promise(resolve => setTimeout(resolve, 20));
    // Stopped while it runs: its finish timer goes with the process.
    await first.stop();

    const second = await startLocalCluster({ name: 'k', db, installCrds: false, kubelet: { readyDelayMs: 300 } });
    try {
      const deadline = Date.now() + 5_000;
      while ((await phaseOf(second.cluster)) !== 'Succeeded' && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50));
      expect(await phaseOf(second.cluster)).toBe('Succeeded');
    } finally {
      await second.stop();
    }
  });

  it("counts a ReplicaSet's pod available only once it has been ready for minReadySeconds", async () => {
    const db = await databases.init('SQLITE_3');
    const { cluster, stop } = await startLocalCluster({ name: 'min-ready', db, installCrds: false, kubelet: { readyDelayMs: 10 } });
    try {
      await cluster.create({
        apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web', namespace: 'default' },
        spec: {
          replicas: 1, minReadySeconds: 2, selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'example/web:1' }] } },
        },
      });
      const status = async () => ((await cluster.get({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: 'default', name: 'web' }))?.status ?? {}) as { readyReplicas?: number; availableReplicas?: number };
      const until = async (test: (s: Awaited<ReturnType<typeof status>>) => boolean, ms: number) => {
        const deadline = Date.now() + ms;
        while (!test(await status()) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50));
        return status();
      };
      const ready = await until(s => s.readyReplicas === 1, 3_000);
      const readyAt = Date.now();
      expect(ready).toMatchObject({ readyReplicas: 1, availableReplicas: 0 });
      const available = await until(s => s.availableReplicas === 1, 6_000);
      expect(available).toMatchObject({ readyReplicas: 1, availableReplicas: 1 });
      expect(Date.now() - readyAt).toBeGreaterThanOrEqual(900);
    } finally {
      await stop();
    }
  });
});
