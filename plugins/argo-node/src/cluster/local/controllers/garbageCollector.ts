import type { LoggerService } from '@backstage/backend-plugin-api';
import { ObjectConflictError, ObjectNotFoundError } from '../../errors';
import type { KubeObject, ObjectRef } from '../../types';
import { WorkQueue } from '../../workQueue';
import type { LocalChange, LocalCluster } from '../LocalCluster';

/** An object's owner references, as far as they are well formed (the local driver does not check their shape). */
const ownersOf = (o: KubeObject) => (Array.isArray(o.metadata.ownerReferences) ? o.metadata.ownerReferences : []).filter(r => r && typeof r.uid === 'string');

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
    for (const owner of ownersOf(o)) {
      let set = this.dependents.get(owner.uid);
      if (!set) this.dependents.set(owner.uid, (set = new Set()));
      set.add(uid);
    }
  }

  private unindex(o: KubeObject) {
    this.byUid.delete(o.metadata.uid!);
    if (o.kind === 'Namespace' && o.apiVersion === 'v1') this.namespaces.delete(o.metadata.name!);
    for (const owner of ownersOf(o)) {
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
    // Its owners, those it had too: one waiting in the foreground for it goes on once it no longer names it.
    for (const owner of [...ownersOf(object), ...(previous ? ownersOf(previous) : [])]) this.queue.add(owner.uid);
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

    // attemptToDeleteItem: a dependent with an owner still solid (there, and not deleted in the foreground) stays,
    // only losing its references to owners gone or going; with none, it goes — in the foreground when an owner waits.
    const refs = ownersOf(o);
    if (refs.length > 0 && !o.metadata.deletionTimestamp) {
      const waiting = refs.filter(ref => {
        const owner = this.byUid.get(ref.uid);
        return Boolean(owner?.metadata.deletionTimestamp && (owner.metadata.finalizers ?? []).includes('foregroundDeletion'));
      });
      const solid = refs.filter(ref => this.byUid.has(ref.uid) && !waiting.includes(ref));
      if (solid.length > 0) {
        if (solid.length < refs.length) {
          await this.cluster.patch(refOf(o), 'merge', { metadata: { ownerReferences: solid, resourceVersion: o.metadata.resourceVersion } })
            .catch(error => {
              // Changed meanwhile (its next event brings it back here), or gone.
              if (!(error instanceof ObjectNotFoundError || error instanceof ObjectConflictError)) throw error;
            });
        }
        return;
      }
      await this.deleteQuietly(refOf(o), waiting.length > 0 ? 'Foreground' : 'Background');
      return;
    }

    if (!o.metadata.deletionTimestamp) return;
    const finalizers = o.metadata.finalizers ?? [];
    const deps = [...(this.dependents.get(uid) ?? [])].map(d => this.byUid.get(d)).filter((d): d is KubeObject => Boolean(d));

    if (finalizers.includes('orphan')) {
      let orphaned = true;
      for (const dep of deps) {
        const remaining = ownersOf(dep).filter(r => r.uid !== uid);
        try {
          // Over the version this collector saw: a reference someone added meanwhile is not written away.
          await this.cluster.patch(refOf(dep), 'merge', { metadata: { ownerReferences: remaining.length > 0 ? remaining : null, resourceVersion: dep.metadata.resourceVersion } });
        } catch (error) {
          if (error instanceof ObjectConflictError) {
            // Changed meanwhile: its event brings this owner back here, and the finalizer stays until it is done.
            orphaned = false;
          } else if (!(error instanceof ObjectNotFoundError)) {
            throw error;
          }
        }
      }
      if (orphaned) await this.removeFinalizer(o, 'orphan');
      return;
    }
    if (finalizers.includes('foregroundDeletion')) {
      // It waits only for the dependents that block it (blockOwnerDeletion); each of them is looked at as above.
      const blocking = deps.filter(dep => ownersOf(dep).some(ref => ref.uid === uid && ref.blockOwnerDeletion));
      if (blocking.length === 0) await this.removeFinalizer(o, 'foregroundDeletion');
      for (const dep of deps) if (!dep.metadata.deletionTimestamp) this.queue.add(dep.metadata.uid!);
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
