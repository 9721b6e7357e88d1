import type { LoggerService } from '@backstage/backend-plugin-api';
import { ObjectNotFoundError } from '../../errors';
import type { KubeObject, ObjectRef } from '../../types';
import { WorkQueue } from '../../workQueue';
import type { LocalChange, LocalCluster } from '../LocalCluster';

const refOf = (o: KubeObject): ObjectRef => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  namespace: o.metadata.namespace,
  name: o.metadata.name!,
});

/**
 * Owner-reference garbage collection, as kube-controller-manager's garbage
 * collector does it: dependents whose owners are all gone are deleted
 * (background); an owner deleted in the foreground waits, with its
 * `foregroundDeletion` finalizer, until its dependents are gone; an `orphan`
 * deletion strips the owner from its dependents. A namespace being deleted
 * is emptied first. Keys are object uids.
 */
export class GarbageCollector {
  private readonly byUid = new Map<string, KubeObject>();
  private readonly dependents = new Map<string, Set<string>>();
  /** Namespace name → uid. */
  private readonly namespaces = new Map<string, string>();
  private readonly queue: WorkQueue;
  private unsubscribe?: () => void;

  constructor(private readonly cluster: LocalCluster, logger?: LoggerService) {
    this.queue = new WorkQueue(uid => this.process(uid), { concurrency: 4, logger });
  }

  start() {
    for (const o of this.cluster.allObjects()) this.index(o);
    this.unsubscribe = this.cluster.onChange(change => this.observe(change));
    for (const uid of this.byUid.keys()) this.queue.add(uid);
  }

  stop() {
    this.unsubscribe?.();
    this.queue.stop();
  }

  idle() {
    return this.queue.idle();
  }

  private index(o: KubeObject) {
    const uid = o.metadata.uid!;
    this.byUid.set(uid, o);
    if (o.kind === 'Namespace' && o.apiVersion === 'v1') this.namespaces.set(o.metadata.name!, uid);
    for (const owner of o.metadata.ownerReferences ?? []) {
      let set = this.dependents.get(owner.uid);
      if (!set) this.dependents.set(owner.uid, (set = new Set()));
      set.add(uid);
    }
  }

  private unindex(o: KubeObject) {
    this.byUid.delete(o.metadata.uid!);
    if (o.kind === 'Namespace' && o.apiVersion === 'v1') this.namespaces.delete(o.metadata.name!);
    for (const owner of o.metadata.ownerReferences ?? []) {
      const set = this.dependents.get(owner.uid);
      set?.delete(o.metadata.uid!);
      // An owner with no dependents left holds no entry (owners come and go for the backend's lifetime).
      if (set?.size === 0) this.dependents.delete(owner.uid);
    }
  }

  private observe({ type, object, previous }: LocalChange) {
    if (previous) this.unindex(previous);
    if (type !== 'DELETED') this.index(object);
    const uid = object.metadata.uid!;
    // The object itself (dangling owners, its own deletion) and whoever it concerns.
    this.queue.add(uid);
    for (const dep of this.dependents.get(uid) ?? []) this.queue.add(dep);
    for (const owner of object.metadata.ownerReferences ?? []) this.queue.add(owner.uid);
    if (type === 'DELETED' && object.metadata.namespace) {
      // A namespace being emptied finishes when its last object goes.
      const ns = this.namespaceUid(object.metadata.namespace);
      if (ns && this.byUid.get(ns)?.metadata.deletionTimestamp) this.queue.add(ns);
    }
  }

  private namespaceUid(name: string): string | undefined {
    return this.namespaces.get(name);
  }

  private async deleteQuietly(ref: ObjectRef, propagationPolicy: 'Background' | 'Foreground') {
    try {
      await this.cluster.delete(ref, { propagationPolicy });
    } catch (error) {
      if (!(error instanceof ObjectNotFoundError)) throw error;
    }
  }

  private async removeFinalizer(o: KubeObject, finalizer: string) {
    const live = await this.cluster.get(refOf(o));
    if (!live || live.metadata.uid !== o.metadata.uid) return;
    const finalizers = (live.metadata.finalizers ?? []).filter(f => f !== finalizer);
    await this.cluster.patch(refOf(live), 'merge', {
      metadata: { finalizers: finalizers.length > 0 ? finalizers : null, resourceVersion: live.metadata.resourceVersion },
    });
  }

  private async process(uid: string) {
    const o = this.byUid.get(uid);
    if (!o) return;

    // A dependent goes first when an owner is deleted in the foreground,
    // and goes when its owners are all gone.
    const owners = (o.metadata.ownerReferences ?? []).map(ref => this.byUid.get(ref.uid));
    if (owners.length > 0 && !o.metadata.deletionTimestamp) {
      if (owners.some(owner => (owner?.metadata.finalizers ?? []).includes('foregroundDeletion'))) {
        await this.deleteQuietly(refOf(o), 'Foreground');
        return;
      }
      if (owners.every(owner => owner === undefined)) {
        await this.deleteQuietly(refOf(o), 'Background');
        return;
      }
    }

    if (!o.metadata.deletionTimestamp) return;
    const finalizers = o.metadata.finalizers ?? [];
    const deps = [...(this.dependents.get(uid) ?? [])].map(d => this.byUid.get(d)).filter((d): d is KubeObject => Boolean(d));

    if (finalizers.includes('orphan')) {
      for (const dep of deps) {
        const remaining = (dep.metadata.ownerReferences ?? []).filter(r => r.uid !== uid);
        await this.cluster.patch(refOf(dep), 'merge', { metadata: { ownerReferences: remaining.length > 0 ? remaining : null } });
      }
      await this.removeFinalizer(o, 'orphan');
      return;
    }
    if (finalizers.includes('foregroundDeletion')) {
      if (deps.length === 0) await this.removeFinalizer(o, 'foregroundDeletion');
      else for (const dep of deps) if (!dep.metadata.deletionTimestamp) await this.deleteQuietly(refOf(dep), 'Foreground');
      return;
    }
    if (o.kind === 'Namespace' && o.apiVersion === 'v1' && finalizers.includes('kubernetes')) {
      const name = o.metadata.name;
      const contents = [...this.byUid.values()].filter(x => x.metadata.namespace === name);
      if (contents.length === 0) await this.removeFinalizer(o, 'kubernetes');
      else for (const x of contents) if (!x.metadata.deletionTimestamp) await this.deleteQuietly(refOf(x), 'Background');
    }
  }
}
