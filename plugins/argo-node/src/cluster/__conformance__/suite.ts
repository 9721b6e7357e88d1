/* eslint-disable jest/no-export -- the shared conformance suite, run by each driver's test file */
import crypto from 'node:crypto';
import {
  ApplyConflictError,
  InvalidObjectError,
  ObjectConflictError,
  ObjectNotFoundError,
  WatchExpiredError,
} from '../errors';
import type { ClusterClient, KubeObject, WatchEvent } from '../types';

/**
 * One conformance suite for every driver: what the engines rely on, checked
 * against the local driver and against a real kube-apiserver alike.
 */
export interface ConformanceTarget {
  client: ClusterClient;
  teardown(): Promise<void>;
}

const cm = (namespace: string, name: string, extra: Partial<KubeObject> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, ...(extra.metadata ?? {}) },
  data: { greeting: 'hello' },
  ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'metadata')),
});

export async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    last = await probe();
    if (last !== undefined && last !== false) return last as T;
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  throw new Error(`Timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

/** Collects watch events until `count` arrived or the time is up. */
async function collect<T extends KubeObject>(
  stream: AsyncIterable<WatchEvent<T>>,
  count: number,
  abort: AbortController,
  ms = 15_000,
): Promise<WatchEvent<T>[]> {
  const events: WatchEvent<T>[] = [];
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    for await (const e of stream) {
      if (e.type === 'BOOKMARK') continue;
      events.push(e);
      if (events.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return events;
}

export function describeConformance(driver: string, setup: () => Promise<ConformanceTarget>) {
  describe(`cluster conformance: ${driver}`, () => {
    let target: ConformanceTarget;
    let client: ClusterClient;
    let ns: string;

    beforeAll(async () => {
      target = await setup();
      client = target.client;
    });
    afterAll(async () => target?.teardown());

    beforeEach(async () => {
      ns = `qd-conf-${crypto.randomBytes(3).toString('hex')}`;
      await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    });

    it('creates, reads, patches and deletes an object', async () => {
      const created = await client.create(cm(ns, 'a'));
      expect(created.metadata.uid).toBeTruthy();
      expect(created.metadata.resourceVersion).toBeTruthy();
      const read = await client.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' });
      expect(read?.data).toEqual({ greeting: 'hello' });

      await expect(client.create(cm(ns, 'a'))).rejects.toThrow(ObjectConflictError);

      const merged = await client.patch({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' }, 'merge', {
        data: { greeting: null, farewell: 'bye' },
      });
      expect(merged.data).toEqual({ farewell: 'bye' });
      expect(Number(merged.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));

      const patched = await client.patch({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' }, 'json', [
        { op: 'test', path: '/data/farewell', value: 'bye' },
        { op: 'add', path: '/data/extra', value: 'x' },
      ]);
      expect(patched.data).toEqual({ farewell: 'bye', extra: 'x' });
      await expect(
        client.patch({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' }, 'json', [
          { op: 'test', path: '/data/farewell', value: 'nope' },
        ]),
      ).rejects.toThrow(InvalidObjectError);

      // An update carrying a stale resourceVersion is refused.
      await expect(
        client.patch({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' }, 'merge', {
          metadata: { resourceVersion: created.metadata.resourceVersion },
          data: { stale: 'yes' },
        }),
      ).rejects.toThrow(ObjectConflictError);
      // So is a JSON patch whose result carries one; with the live one it applies.
      await expect(
        client.patch({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' }, 'json', [
          { op: 'replace', path: '/metadata/resourceVersion', value: created.metadata.resourceVersion },
          { op: 'add', path: '/data/stale', value: 'yes' },
        ]),
      ).rejects.toThrow(ObjectConflictError);
      const current = await client.patch({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' }, 'json', [
        { op: 'replace', path: '/metadata/resourceVersion', value: patched.metadata.resourceVersion },
        { op: 'add', path: '/data/fresh', value: 'yes' },
      ]);
      expect(current.data).toEqual({ farewell: 'bye', extra: 'x', fresh: 'yes' });

      await client.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' });
      expect(await client.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' })).toBeUndefined();
      await expect(client.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' })).rejects.toThrow(
        ObjectNotFoundError,
      );
    });

    it('refuses bad input with typed errors', async () => {
      await expect(client.create({ kind: 'ConfigMap', metadata: { name: 'x', namespace: ns } } as any)).rejects.toThrow(
        InvalidObjectError,
      );
      await expect(client.create({ apiVersion: 'v1', metadata: { name: 'x', namespace: ns } } as any)).rejects.toThrow(
        InvalidObjectError,
      );
      await expect(client.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: ns } })).rejects.toThrow(
        InvalidObjectError,
      );
      await expect(client.create(cm(ns, 'Not_A_Name'))).rejects.toThrow(InvalidObjectError);
      await expect(
        client.create({ apiVersion: 'example.com/v1', kind: 'Unknown', metadata: { name: 'x', namespace: ns } }),
      ).rejects.toThrow(/no matches for kind "Unknown"/);
      await expect(client.list({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, { labelSelector: 'a in (b' })).rejects.toThrow(
        InvalidObjectError,
      );
      await expect(client.list({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, { fieldSelector: 'spec.nope=1' })).rejects.toThrow(
        InvalidObjectError,
      );
      await expect(client.create(cm('no-such-namespace', 'x'))).rejects.toThrow(ObjectNotFoundError);
    });

    it('lists by namespace, label and field selectors, page by page', async () => {
      const labels = [
        { app: 'pay', tier: 'api' },
        { app: 'pay', tier: 'web' },
        { app: 'chat', tier: 'api' },
        { app: 'chat' },
      ];
      for (const [i, l] of labels.entries()) await client.create(cm(ns, `o${i}`, { metadata: { labels: l } as any }));
      const names = async (labelSelector?: string, fieldSelector?: string) =>
        (await client.list({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, { labelSelector, fieldSelector })).items
          .map(o => o.metadata.name)
          .filter(n => n !== 'kube-root-ca.crt')
          .sort();
      expect(await names('app=pay')).toEqual(['o0', 'o1']);
      expect(await names('app!=pay')).toEqual(['kube-root-ca.crt', 'o2', 'o3'].filter(n => n !== 'kube-root-ca.crt'));
      expect(await names('tier in (api)')).toEqual(['o0', 'o2']);
      expect(await names('app,!tier')).toEqual(['o3']);
      expect(await names('app=chat,tier notin (api)')).toEqual(['o3']);
      expect(await names(undefined, 'metadata.name=o2')).toEqual(['o2']);

      const seen: string[] = [];
      let cont: string | undefined;
      do {
        const page = await client.list({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, { labelSelector: 'app', limit: 3, continue: cont });
        expect(page.items.length).toBeLessThanOrEqual(3);
        seen.push(...page.items.map(o => o.metadata.name!));
        cont = page.continue;
      } while (cont);
      expect(seen.sort()).toEqual(['o0', 'o1', 'o2', 'o3']);
    });

    it('watches in order, resumes from a resourceVersion and follows label selectors', async () => {
      const kind = { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns };
      const list = await client.list(kind);
      const abort = new AbortController();
      const stream = client.watch(kind, { resourceVersion: list.resourceVersion, labelSelector: 'watched=yes', signal: abort.signal });
      const events = collect(stream, 4, abort);
      const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'w' };
      await client.create(cm(ns, 'w', { metadata: { labels: { watched: 'yes' } } as any }));
      await client.patch(ref, 'merge', { data: { n: '1' } });
      await client.patch(ref, 'merge', { metadata: { labels: { watched: 'no' } } }); // leaves the selector
      await client.patch(ref, 'merge', { metadata: { labels: { watched: 'yes' } } }); // comes back
      const got = await events;
      expect(got.map(e => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED', 'ADDED']);
      const versions = got.map(e => Number(e.object.metadata.resourceVersion));
      expect([...versions].sort((a, b) => a - b)).toEqual(versions);

      // Resume after the first event: the rest arrive again, in order. Narrowed to the object by name, not by label
      // (it left the selector in between), so that another ConfigMap of the namespace — kube-controller-manager
      // publishes kube-root-ca.crt into each new one, sometimes late — is not among them.
      const resume = new AbortController();
      const resumed = await collect(
        client.watch(kind, { resourceVersion: got[0].object.metadata.resourceVersion, fieldSelector: 'metadata.name=w', signal: resume.signal }),
        3,
        resume,
      );
      expect(resumed.map(e => e.type)).toEqual(['MODIFIED', 'MODIFIED', 'MODIFIED']);
      expect(resumed.map(e => e.object.metadata.resourceVersion)).toEqual(
        got.slice(1).map(e => e.object.metadata.resourceVersion),
      );
    });

    it('answers a watch from a compacted resourceVersion with 410 Gone', async () => {
      const abort = new AbortController();
      const attempt = async () => {
        for await (const _ of client.watch({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, { resourceVersion: '1', signal: abort.signal })) {
          // no event should arrive
        }
      };
      await expect(attempt()).rejects.toThrow(WatchExpiredError);
      abort.abort();
    });

    it('applies server-side with field ownership and conflicts', async () => {
      const applied = (data: Record<string, string>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa', namespace: ns }, data });
      const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'ssa' };
      await client.apply(applied({ a: '1', b: '2' }), { fieldManager: 'team-a' });
      // Same value: shared ownership, no conflict.
      await client.apply(applied({ a: '1' }), { fieldManager: 'team-b' });
      const conflict = await client.apply(applied({ a: '3' }), { fieldManager: 'team-b' }).catch(e => e);
      expect(conflict).toBeInstanceOf(ApplyConflictError);
      expect(conflict.conflicts).toEqual([{ manager: 'team-a', field: '.data.a' }]);
      expect((await client.get(ref))?.data).toEqual({ a: '1', b: '2' });

      await client.apply(applied({ a: '3' }), { fieldManager: 'team-b', force: true });
      expect((await client.get(ref))?.data).toEqual({ a: '3', b: '2' });
      // team-a stops applying b: it is removed, as no one else owns it.
      await client.apply(applied({ c: '4' }), { fieldManager: 'team-a' });
      expect((await client.get(ref))?.data).toEqual({ a: '3', c: '4' });
      const managers = ((await client.get(ref))?.metadata.managedFields ?? []).map(m => `${m.manager}/${m.operation}`).sort();
      expect(managers).toEqual(['team-a/Apply', 'team-b/Apply']);
    });

    it('applies strings YAML 1.1 would read as booleans or numbers as the strings they are', async () => {
      const data = { feature: 'on', enabled: 'yes', off: 'off', answer: 'NO', count: '1_000', octal: '0755' };
      await client.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'yaml11', namespace: ns, labels: { ready: 'yes' } }, data }, { fieldManager: 'team-a' });
      const stored = await client.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'yaml11' });
      expect(stored?.data).toEqual(data);
      expect(stored?.metadata.labels).toEqual({ ready: 'yes' });
    });

    it("compares a JSON patch's test as values, whatever the order of an object's members", async () => {
      const created = await client.create({ ...cm(ns, 'tested'), metadata: { name: 'tested', namespace: ns, labels: { a: '1', b: '2' } } });
      const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'tested' };
      await client.patch(ref, 'json', [
        { op: 'test', path: '/metadata/labels', value: { b: '2', a: '1' } },
        { op: 'add', path: '/metadata/labels/c', value: '3' },
      ]);
      expect((await client.get(ref))?.metadata.labels).toEqual({ a: '1', b: '2', c: '3' });
      await expect(client.patch(ref, 'json', [{ op: 'test', path: '/metadata/labels', value: { a: '1', b: '2' } }])).rejects.toThrow(InvalidObjectError);
      expect(created.metadata.name).toBe('tested');
    });

    it('records an apply that changes only who owns a field, and keeps a field another manager still applies', async () => {
      const applied = (data: Record<string, string>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa-shared', namespace: ns }, data });
      const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'ssa-shared' };
      await client.apply(applied({ a: '1', b: '2' }), { fieldManager: 'team-a' });
      // The same value: no data changes, but team-b now owns a too.
      await client.apply(applied({ a: '1' }), { fieldManager: 'team-b' });
      expect(((await client.get(ref))?.metadata.managedFields ?? []).map(m => m.manager).sort()).toEqual(['team-a', 'team-b']);
      // team-a stops applying a: team-b still does, so it stays.
      await client.apply(applied({ b: '2' }), { fieldManager: 'team-a' });
      expect((await client.get(ref))?.data).toEqual({ a: '1', b: '2' });
    });

    /** A canary Rollout in the suite's namespace, its pods labelled `app: <name>`. */
    const canaryRollout = (name: string, replicas: number, steps: object[]) => ({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name, namespace: ns },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
        strategy: { canary: { steps } },
      },
    });

    it('records a status apply as its manager\'s own, under the status subresource', async () => {
      const rollout = canaryRollout('applied-status', 1, [{ setWeight: 20 }]);
      await client.create(rollout);
      await client.apply({ apiVersion: rollout.apiVersion, kind: rollout.kind, metadata: { name: 'applied-status', namespace: ns }, status: { phase: 'Paused' } } as KubeObject,
        { fieldManager: 'status-writer', subresource: 'status' });
      const read = await client.get({ apiVersion: rollout.apiVersion, kind: rollout.kind, namespace: ns, name: 'applied-status' });
      expect(read?.status).toMatchObject({ phase: 'Paused' });
      const entry = (read?.metadata.managedFields ?? []).find(m => m.manager === 'status-writer');
      expect(entry).toMatchObject({ operation: 'Apply', subresource: 'status' });
    });

    it('keeps status behind its subresource and counts spec generations', async () => {
      const rollout = { ...canaryRollout('r', 2, [{ setWeight: 20 }, { pause: {} }]), status: { phase: 'Ignored' } };
      const ref = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: ns, name: 'r' };
      const created = await client.create(rollout);
      expect(created.status).toBeUndefined();
      const read = await client.get(ref);
      expect([read?.apiVersion, read?.kind]).toEqual(['argoproj.io/v1alpha1', 'Rollout']);
      expect(created.metadata.generation).toBe(1);

      await client.patch(ref, 'merge', { status: { phase: 'Healthy' } });
      expect((await client.get(ref))?.status).toBeUndefined();

      const withStatus = await client.patch(ref, 'merge', { status: { phase: 'Paused', currentStepIndex: 1 } }, { subresource: 'status' });
      expect(withStatus.status).toEqual({ phase: 'Paused', currentStepIndex: 1 });
      expect(withStatus.metadata.generation).toBe(1);

      const bumped = await client.patch(ref, 'merge', { spec: { replicas: 3 } });
      expect(bumped.metadata.generation).toBe(2);
      expect(bumped.status).toEqual({ phase: 'Paused', currentStepIndex: 1 });

      const applied = await client.apply(
        { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'r', namespace: ns }, status: { phase: 'Healthy' } },
        { subresource: 'status', fieldManager: 'rollouts-controller', force: true },
      );
      expect(applied.status).toMatchObject({ phase: 'Healthy' });
      expect(applied.spec).toMatchObject({ replicas: 3 });
    });

    it('collects garbage: background, foreground and orphan deletion', async () => {
      const owner = async (name: string) => client.create(cm(ns, name));
      const dependent = async (name: string, of: KubeObject) =>
        client.create(cm(ns, name, {
          metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: of.metadata.name!, uid: of.metadata.uid!, blockOwnerDeletion: true }] } as any,
        }));
      const ref = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name });

      const bg = await owner('bg-owner');
      await dependent('bg-dep', bg);
      await client.delete(ref('bg-owner'), { propagationPolicy: 'Background' });
      expect(await client.get(ref('bg-owner'))).toBeUndefined();
      await eventually('the background dependent to go', async () => (await client.get(ref('bg-dep'))) === undefined);

      const fg = await owner('fg-owner');
      await dependent('fg-dep', fg);
      await client.delete(ref('fg-owner'), { propagationPolicy: 'Foreground' });
      await eventually('both foreground objects to go', async () =>
        (await client.get(ref('fg-dep'))) === undefined && (await client.get(ref('fg-owner'))) === undefined);

      const orphaning = await owner('or-owner');
      await dependent('or-dep', orphaning);
      await client.delete(ref('or-owner'), { propagationPolicy: 'Orphan' });
      await eventually('the orphaning owner to go', async () => (await client.get(ref('or-owner'))) === undefined);
      const orphan = await client.get(ref('or-dep'));
      expect(orphan).toBeDefined();
      expect(orphan?.metadata.ownerReferences ?? []).toEqual([]);

      // A dependent with another owner still there outlives a foreground deletion of one of them, losing only that reference.
      const first = await owner('two-a');
      const second = await owner('two-b');
      const shared = (of: KubeObject) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: of.metadata.name!, uid: of.metadata.uid!, blockOwnerDeletion: true });
      await client.create(cm(ns, 'shared', { metadata: { ownerReferences: [shared(first), shared(second)] } as any }));
      await client.delete(ref('two-a'), { propagationPolicy: 'Foreground' });
      await eventually('the foreground owner to go', async () => (await client.get(ref('two-a'))) === undefined);
      const kept = await eventually('the shared dependent to lose its reference', async () => {
        const now = await client.get(ref('shared'));
        return now && (now.metadata.ownerReferences ?? []).length === 1 ? now : undefined;
      });
      expect(kept.metadata.ownerReferences?.map(r => r.name)).toEqual(['two-b']);
    });

    it('adopts the ReplicaSet a Deployment deleted with Orphan left, when the Deployment is made again', async () => {
      const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'again' };
      const deployment = () => ({
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'again', namespace: ns },
        spec: { replicas: 1, selector: { matchLabels: { app: 'again' } }, template: { metadata: { labels: { app: 'again' } }, spec: { containers: [{ name: 'app', image: 'example/again:1' }] } } },
      });
      const replicaSets = async () => (await client.list({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: ns }, { labelSelector: 'app=again' })).items;
      await client.create(deployment());
      const [first] = await eventually('its ReplicaSet', async () => ((await replicaSets()).length === 1 ? replicaSets() : undefined));
      await client.delete(ref, { propagationPolicy: 'Orphan' });
      await eventually('the Deployment to go', async () => (await client.get(ref)) === undefined);
      const made = await client.create(deployment());
      const adopted = await eventually('the ReplicaSet to be adopted', async () => {
        const items = await replicaSets();
        return items.length === 1 && items[0].metadata.ownerReferences?.some(r => r.uid === made.metadata.uid && r.controller) ? items : undefined;
      });
      expect(adopted[0].metadata.name).toBe(first.metadata.name);
      await client.delete(ref);
    });

    it("counts a deletion as a generation, and takes no new finalizer on an object being deleted", async () => {
      const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'held' };
      await client.create({
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'held', namespace: ns, finalizers: ['example.com/hold'] },
        spec: { replicas: 0, selector: { matchLabels: { app: 'held' } }, template: { metadata: { labels: { app: 'held' } }, spec: { containers: [{ name: 'app', image: 'example/held:1' }] } } },
      });
      const before = (await client.get(ref))!;
      await client.delete(ref);
      const deleting = (await client.get(ref))!;
      expect(deleting.metadata.deletionTimestamp).toBeDefined();
      expect(deleting.metadata.generation).toBe(before.metadata.generation! + 1);
      await expect(client.patch(ref, 'merge', { metadata: { finalizers: ['example.com/hold', 'example.com/another'] } })).rejects.toThrow(InvalidObjectError);
      await client.patch(ref, 'merge', { metadata: { finalizers: null } });
      await eventually('the held Deployment to go', async () => (await client.get(ref)) === undefined);
    });

    it('rolls a Deployment out to Ready through a ReplicaSet, and rolls it again', async () => {
      const deployment = (image: string) => ({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: ns },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'web' } },
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image }] } },
        },
      });
      const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'web' };
      await client.apply(deployment('web:1'));
      const ready = (generation: number) => eventually(`deployment generation ${generation} ready`, async () => {
        const d = await client.get(ref);
        const s = d?.status as any;
        return s?.observedGeneration === generation && s?.readyReplicas === 3 && s?.updatedReplicas === 3 && s?.replicas === 3 ? d : undefined;
      }, 60_000);
      await ready(1);
      const rs = await client.list({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: ns });
      expect(rs.items).toHaveLength(1);
      const hash = rs.items[0].metadata.labels?.['pod-template-hash'];
      expect(hash).toBeTruthy();
      const pods = await client.list({ apiVersion: 'v1', kind: 'Pod', namespace: ns }, { labelSelector: `app=web,pod-template-hash=${hash}` });
      expect(pods.items).toHaveLength(3);
      expect(pods.items.every(p => (p.status as any)?.phase === 'Running')).toBe(true);

      await client.apply(deployment('web:2'));
      await ready(2);
      const after = await client.list({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: ns });
      expect(after.items).toHaveLength(2);
      const byReplicas = after.items.map(r => (r.spec as any).replicas).sort();
      expect(byReplicas).toEqual([0, 3]);
    });

    it('runs a Job to completion', async () => {
      await client.create({
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'once', namespace: ns },
        spec: {
          backoffLimit: 0,
          template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox', command: ['true'] }] } },
        },
      });
      const job = await eventually('the job to complete', async () => {
        const j = await client.get({ apiVersion: 'batch/v1', kind: 'Job', namespace: ns, name: 'once' });
        return ((j?.status as any)?.conditions ?? []).some((c: any) => c.type === 'Complete' && c.status === 'True') ? j : undefined;
      }, 60_000);
      expect((job.status as any).succeeded).toBe(1);
    });

    it("keeps a Service's endpoints to its ready pods", async () => {
      await client.create({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'api', namespace: ns },
        spec: { selector: { app: 'api' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      });
      await client.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'api-0', namespace: ns, labels: { app: 'api' } },
        spec: { containers: [{ name: 'api', image: 'api:1', ports: [{ containerPort: 8080 }] }] },
      });
      const endpoints = await eventually('endpoints with the ready pod', async () => {
        const e = await client.get({ apiVersion: 'v1', kind: 'Endpoints', namespace: ns, name: 'api' });
        return (e as any)?.subsets?.[0]?.addresses?.length === 1 ? e : undefined;
      }, 60_000);
      expect((endpoints as any).subsets[0].addresses[0].targetRef.name).toBe('api-0');
      expect((endpoints as any).subsets[0].ports[0].port).toBe(8080);
    });

    it("reads a pod's logs, whole and the last lines", async () => {
      await client.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'talker', namespace: ns, annotations: { 'quarterdeck.io/execute': 'host' } },
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'main', image: 'busybox', command: ['sh', '-c', 'echo line one; echo line two; echo line three'] }],
        },
      });
      const read = async (tailLines?: number) => {
        const lines: string[] = [];
        for await (const line of client.logs({ namespace: ns, name: 'talker' }, { tailLines })) lines.push(line);
        return lines;
      };
      await eventually('the log', async () => {
        const phase = ((await client.get({ apiVersion: 'v1', kind: 'Pod', namespace: ns, name: 'talker' }))?.status as any)?.phase;
        if (phase !== 'Running' && phase !== 'Succeeded') return undefined;
        return (await read().catch(() => [])).length === 3;
      }, 60_000);
      expect(await read()).toEqual(['line one', 'line two', 'line three']);
      expect(await read(2)).toEqual(['line two', 'line three']);
      const missing = async () => {
        for await (const _ of client.logs({ namespace: ns, name: 'no-such-pod' })) {
          // nothing
        }
      };
      await expect(missing()).rejects.toThrow(ObjectNotFoundError);
    });

    it('validates custom resources against their CRD schema', async () => {
      const bad = {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Rollout',
        metadata: { name: 'bad', namespace: ns },
        spec: { replicas: 'three', strategy: { blueGreen: {} } },
      };
      const error = await client.create(bad).catch(e => e);
      expect(error).toBeInstanceOf(InvalidObjectError);
      expect(error.message).toMatch(/spec\.replicas/);
      expect(error.message).toMatch(/spec\.strategy\.blueGreen\.activeService: Required value/);
      expect(await client.get({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: ns, name: 'bad' })).toBeUndefined();

      // Unknown fields are pruned where the schema is closed, kept where Argo keeps them.
      const kept = await client.create({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Rollout',
        metadata: { name: 'pruned', namespace: ns },
        spec: { replicas: 1, notAField: true, template: { anything: { goes: 1 } } },
      });
      expect((kept.spec as any).notAField).toBeUndefined();
      expect((kept.spec as any).template).toEqual({ anything: { goes: 1 } });
    });
  });
}
