import crypto from 'node:crypto';
import type { LoggerService } from '@backstage/backend-plugin-api';
import {
  InvalidObjectError,
  ObjectConflictError,
  ObjectNotFoundError,
  WatchExpiredError,
} from '../errors';
import { recordUpdate, serverSideApply } from '../fieldManagement';
import { applyJsonPatch, applyMergePatch } from '../patches';
import { ResourceRegistry, type ResourceType } from '../resources';
import { formatInvalid, validateAndPrune } from '../schema';
import {
  labelKeyProblem,
  labelValueProblem,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
} from '../selectors';
import type {
  ApplyOptions,
  ClusterClient,
  DeleteOptions,
  JsonPatchOperation,
  KindRef,
  KubeObject,
  ListOptions,
  LogOptions,
  ObjectList,
  ObjectRef,
  PatchOptions,
  PatchType,
  WatchEvent,
  WatchOptions,
} from '../types';
import { objectKey } from '../types';
import { AsyncQueue } from '../asyncQueue';
import type { LocalObjectStore } from './LocalObjectStore';

const DEFAULT_MANAGER = 'quarterdeck';
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_LABEL_KINDS = new Set(['Namespace', 'Service']);
const BUILTIN_NAMESPACES = ['default', 'kube-system', 'kube-public'];

/** One entry of the watch log: a change and the object before it. */
interface Change {
  rv: number;
  typeKey: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  previous?: KubeObject;
}

interface Watcher {
  typeKey: string;
  namespace?: string;
  accepts: (o: KubeObject) => boolean;
  push: (change: Change) => void;
}

export interface LocalClusterOptions {
  name: string;
  store: LocalObjectStore;
  /** How many changes the watch log keeps; older resourceVersions get 410 Gone. */
  watchLogSize?: number;
  /** How often watchers that asked for them receive a BOOKMARK. */
  bookmarkIntervalMs?: number;
  /** Pod logs, which the local kubelet writes. */
  podLogs?: PodLogSource;
  /** Where a watcher or controller that fails on a change is reported (the change still reaches the others). */
  logger?: Pick<LoggerService, 'error'>;
}

/** A committed change, as the built-in controllers see it. */
export interface LocalChange {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  previous?: KubeObject;
}

/** Where `logs()` reads from: the local kubelet's captured output. */
export interface PodLogSource {
  read(namespace: string, pod: string, container: string | undefined, options: LogOptions): AsyncIterable<string>;
}

/** Byte order, the order continue tokens rely on. */
function compareKeys(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

/** `deployments.apps`, `configmaps`: how the API server names a resource in messages. */
const resourceName = (t: ResourceType) => (t.group ? `${t.plural}.${t.group}` : t.plural);

const typeKeyOf = (t: { group: string; kind: string }) => `${t.group}/${t.kind}`;
const nowIso = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The embedded cluster: an API server's semantics over objects kept in memory
 * and persisted through the argo plugin's database. Every write is durable
 * before it resolves; watch events go out in resourceVersion order after the
 * write is committed.
 */
export class LocalCluster implements ClusterClient {
  readonly driver = 'local' as const;
  readonly name: string;
  readonly registry = new ResourceRegistry();

  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly log: Change[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly changeListeners = new Set<(change: LocalChange) => void>();
  private readonly store: LocalObjectStore;
  private readonly watchLogSize: number;
  private readonly bookmarkIntervalMs: number;
  private podLogs?: PodLogSource;
  private readonly logger?: Pick<LoggerService, 'error'>;
  private resourceVersion = 0;
  /** The oldest resourceVersion a watch may resume from. */
  private oldestRetained = 0;
  /** Commits settle in order, so events are broadcast in order. */
  private broadcastChain: Promise<void> = Promise.resolve();

  private constructor(options: LocalClusterOptions) {
    this.name = options.name;
    this.store = options.store;
    this.watchLogSize = options.watchLogSize ?? 20_000;
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 30_000;
    this.podLogs = options.podLogs;
    this.logger = options.logger;
  }

  static async open(options: LocalClusterOptions): Promise<LocalCluster> {
    const cluster = new LocalCluster(options);
    const { objects, resourceVersion } = await options.store.load();
    // CRDs first, so the kinds they define are known when their objects load.
    const crds = objects.filter(o => o.kind === 'CustomResourceDefinition');
    for (const crd of crds) cluster.registry.registerCrd(crd);
    for (const o of objects) {
      const type = cluster.registry.find(o.apiVersion, o.kind);
      if (type) cluster.bucket(type).set(cluster.keyOf(type, o.metadata.namespace, o.metadata.name!), o);
    }
    cluster.resourceVersion = resourceVersion;
    for (const ns of BUILTIN_NAMESPACES) {
      if (!cluster.find({ apiVersion: 'v1', kind: 'Namespace', name: ns })) {
        await cluster.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      }
    }
    await cluster.settle();
    // History before this start is gone, as after an etcd compaction: a
    // watch from an older resourceVersion gets 410 Gone and lists again.
    cluster.oldestRetained = cluster.resourceVersion;
    return cluster;
  }

  setPodLogSource(source: PodLogSource) {
    this.podLogs = source;
  }

  /** The current resourceVersion of the whole cluster. */
  currentResourceVersion(): string {
    return String(this.resourceVersion);
  }

  // ---------------------------------------------------------------- reads

  private bucket(type: ResourceType): Map<string, KubeObject> {
    const key = typeKeyOf(type);
    let b = this.objects.get(key);
    if (!b) {
      b = new Map();
      this.objects.set(key, b);
    }
    return b;
  }

  private keyOf(type: ResourceType, namespace: string | undefined, name: string): string {
    return type.namespaced ? `${namespace ?? 'default'}/${name}` : name;
  }

  private find(ref: ObjectRef): KubeObject | undefined {
    const type = this.registry.require(ref.apiVersion, ref.kind);
    return this.bucket(type).get(this.keyOf(type, ref.namespace, ref.name));
  }

  /** Objects are handed out as copies: callers may change them freely. */
  async get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    const found = this.find(ref);
    return found ? (this.present(found) as T) : undefined;
  }

  /** The object as its current apiVersion (CRD versions share storage). */
  private present(o: KubeObject, apiVersion?: string): KubeObject {
    const copy = structuredClone(o);
    if (apiVersion) copy.apiVersion = apiVersion;
    return copy;
  }

  async list<T extends KubeObject = KubeObject>(kind: KindRef, options: ListOptions = {}): Promise<ObjectList<T>> {
    const type = this.registry.require(kind.apiVersion, kind.kind);
    const labels = parseLabelSelector(options.labelSelector);
    const fields = parseFieldSelector(options.fieldSelector, kind.apiVersion, kind.kind);
    let snapshotRv = this.resourceVersion;
    let after: string | undefined;
    if (options.continue) {
      try {
        const token = JSON.parse(Buffer.from(options.continue, 'base64url').toString());
        snapshotRv = token.rv;
        after = token.after;
      } catch {
        throw new InvalidObjectError('continue key is not valid');
      }
    }
    const matching = [...this.bucket(type).entries()]
      .filter(([, o]) => !type.namespaced || !kind.namespace || o.metadata.namespace === kind.namespace)
      .filter(([, o]) => matchesLabels(labels, o.metadata.labels) && matchesFields(fields, o))
      .sort(([a], [b]) => compareKeys(a, b))
      .filter(([k]) => after === undefined || k > after);
    const limit = options.limit && options.limit > 0 ? options.limit : undefined;
    const page = limit ? matching.slice(0, limit) : matching;
    const more = limit !== undefined && matching.length > limit;
    return {
      items: page.map(([, o]) => this.present(o, kind.apiVersion) as T),
      resourceVersion: String(snapshotRv),
      continue: more
        ? Buffer.from(JSON.stringify({ rv: snapshotRv, after: page[page.length - 1][0] })).toString('base64url')
        : undefined,
    };
  }

  watch<T extends KubeObject = KubeObject>(kind: KindRef, options: WatchOptions = {}): AsyncIterable<WatchEvent<T>> {
    const type = this.registry.require(kind.apiVersion, kind.kind);
    const labels = parseLabelSelector(options.labelSelector);
    const fields = parseFieldSelector(options.fieldSelector, kind.apiVersion, kind.kind);
    const namespace = type.namespaced ? kind.namespace : undefined;
    const accepts = (o: KubeObject) =>
      (!namespace || o.metadata.namespace === namespace) && matchesLabels(labels, o.metadata.labels) && matchesFields(fields, o);
    const from = options.resourceVersion && options.resourceVersion !== '0' ? Number(options.resourceVersion) : undefined;
    if (from !== undefined && (!Number.isFinite(from) || from < 0)) {
      throw new InvalidObjectError(`invalid resourceVersion "${options.resourceVersion}"`);
    }
    if (from !== undefined && from < this.oldestRetained) {
      throw new WatchExpiredError(`too old resource version: ${from} (${this.oldestRetained})`);
    }
    return this.watchStream<T>(type, kind.apiVersion, namespace, accepts, from, options);
  }

  private async *watchStream<T extends KubeObject>(
    type: ResourceType,
    apiVersion: string,
    namespace: string | undefined,
    accepts: (o: KubeObject) => boolean,
    from: number | undefined,
    options: WatchOptions,
  ): AsyncGenerator<WatchEvent<T>> {
    const typeKey = typeKeyOf(type);
    const queue = new AsyncQueue<WatchEvent<T>>();
    let lastRv = from ?? this.resourceVersion;
    const toEvent = (change: Change): WatchEvent<T> | undefined => {
      const now = change.type !== 'DELETED' && accepts(change.object);
      const before = change.previous !== undefined && accepts(change.previous);
      let eventType: WatchEvent['type'] | undefined;
      if (change.type === 'ADDED') eventType = now ? 'ADDED' : undefined;
      else if (change.type === 'DELETED') eventType = accepts(change.object) ? 'DELETED' : undefined;
      else if (now && before) eventType = 'MODIFIED';
      else if (now) eventType = 'ADDED';
      else if (before) eventType = 'DELETED';
      return eventType ? { type: eventType, object: this.present(change.object, apiVersion) as T } : undefined;
    };
    const watcher: Watcher = {
      typeKey,
      namespace,
      accepts,
      push: change => {
        if (change.rv <= lastRv) return;
        lastRv = change.rv;
        const event = toEvent(change);
        if (!event) return;
        queue.push(event);
        if (queue.size > this.watchLogSize) {
          queue.fail(new WatchExpiredError('the watcher fell too far behind'));
        }
      },
    };

    // Initial state: replay what came after `from`, or synthetic ADDED
    // events for every current object, as the API server does.
    if (from !== undefined) {
      for (const change of this.log) if (change.typeKey === typeKey && change.rv > from) watcher.push(change);
    } else {
      for (const o of this.bucket(type).values()) {
        if (accepts(o)) queue.push({ type: 'ADDED', object: this.present(o, apiVersion) as T });
      }
      lastRv = this.resourceVersion;
    }
    this.watchers.add(watcher);
    const signal = options.signal;
    const onAbort = () => queue.close();
    signal?.addEventListener('abort', onAbort);
    const bookmarks = options.allowBookmarks
      ? setInterval(() => {
          queue.push({
            type: 'BOOKMARK',
            object: { apiVersion, kind: type.kind, metadata: { resourceVersion: String(Math.max(lastRv, this.committedRv)) } } as T,
          });
        }, this.bookmarkIntervalMs)
      : undefined;
    bookmarks?.unref?.();
    if (signal?.aborted) queue.close();
    try {
      yield* queue;
    } finally {
      this.watchers.delete(watcher);
      signal?.removeEventListener('abort', onAbort);
      if (bookmarks) clearInterval(bookmarks);
    }
  }

  /** The newest resourceVersion whose change has been committed and broadcast. */
  private committedRv = 0;

  /** Errors (no such pod or container) surface on the first iteration. */
  async *logs(ref: { namespace: string; name: string }, options: LogOptions = {}): AsyncGenerator<string> {
    const pod = this.find({ apiVersion: 'v1', kind: 'Pod', namespace: ref.namespace, name: ref.name });
    if (!pod) throw new ObjectNotFoundError(`pods "${ref.name}" not found`);
    const containers = ((pod.spec as any)?.containers ?? []).map((c: { name: string }) => c.name);
    const container = options.container ?? (containers.length === 1 ? containers[0] : undefined);
    if (!container) {
      throw new InvalidObjectError(
        `a container name must be specified for pod ${ref.name}, choose one of: [${containers.join(' ')}]`,
      );
    }
    if (!containers.includes(container)) {
      throw new InvalidObjectError(`container ${container} is not valid for pod ${ref.name}`);
    }
    if (this.podLogs) yield* this.podLogs.read(ref.namespace, ref.name, container, options);
  }

  // --------------------------------------------------------------- writes

  private validateMeta(type: ResourceType, object: KubeObject) {
    const errors: string[] = [];
    const name = object.metadata?.name;
    const pattern = DNS_LABEL_KINDS.has(type.kind) ? DNS_LABEL : DNS_SUBDOMAIN;
    const max = DNS_LABEL_KINDS.has(type.kind) ? 63 : 253;
    if (!name) errors.push('metadata.name: Required value: name or generateName is required');
    else if (name.length > max || !pattern.test(name)) {
      errors.push(
        `metadata.name: Invalid value: "${name}": a lowercase RFC 1123 ${DNS_LABEL_KINDS.has(type.kind) ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      );
    }
    for (const [k, v] of Object.entries(object.metadata?.labels ?? {})) {
      const keyProblem = labelKeyProblem(k);
      if (keyProblem) errors.push(`metadata.labels: Invalid value: "${k}": ${keyProblem}`);
      const valueProblem = typeof v === 'string' ? labelValueProblem(v) : 'must be a string';
      if (valueProblem) errors.push(`metadata.labels: Invalid value: "${v}": ${valueProblem}`);
    }
    if (errors.length > 0) {
      const what = type.group ? `${type.kind}.${type.group}` : type.kind;
      throw new InvalidObjectError(`${what} "${name ?? ''}" is invalid: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}`);
    }
  }

  private validateSchema(type: ResourceType, object: KubeObject) {
    if (!type.schema) return;
    // Identity fields are not the schema's to prune: validate the rest.
    const { metadata, apiVersion, kind, ...rest } = object;
    const body = rest as Record<string, unknown>;
    const schema = { ...type.schema, properties: { ...(type.schema.properties ?? {}) } };
    delete schema.properties.metadata;
    delete schema.properties.apiVersion;
    delete schema.properties.kind;
    const errors = validateAndPrune(body, schema, '').map(e => ({ ...e, field: e.field.replace(/^\./, '') }));
    if (errors.length > 0) {
      throw new InvalidObjectError(formatInvalid(type.kind, type.group, metadata.name ?? '', errors));
    }
    for (const k of Object.keys(object)) {
      if (!(k in body) && k !== 'metadata' && k !== 'apiVersion' && k !== 'kind') delete (object as Record<string, unknown>)[k];
    }
    Object.assign(object, body, { apiVersion, kind });
  }

  private requireNamespace(type: ResourceType, namespace: string | undefined) {
    if (!type.namespaced) return;
    const ns = this.find({ apiVersion: 'v1', kind: 'Namespace', name: namespace ?? 'default' });
    if (!ns) throw new ObjectNotFoundError(`namespaces "${namespace}" not found`);
    if (ns.metadata.deletionTimestamp) {
      throw new ObjectConflictError(`namespace ${namespace} is being terminated`);
    }
  }

  /** Stores a new state of an object (or its removal), logs the change and persists it. */
  private async commit(
    type: ResourceType,
    key: string,
    previous: KubeObject | undefined,
    next: KubeObject | undefined,
  ): Promise<void> {
    const rv = ++this.resourceVersion;
    const bucket = this.bucket(type);
    let change: Change;
    if (next) {
      next.metadata.resourceVersion = String(rv);
      bucket.set(key, next);
      change = { rv, typeKey: typeKeyOf(type), type: previous ? 'MODIFIED' : 'ADDED', object: next, previous };
    } else {
      bucket.delete(key);
      const gone = structuredClone(previous!);
      gone.metadata.resourceVersion = String(rv);
      change = { rv, typeKey: typeKeyOf(type), type: 'DELETED', object: gone, previous };
    }
    if (type.kind === 'CustomResourceDefinition' && type.group === 'apiextensions.k8s.io') {
      if (next) this.registry.registerCrd(next);
      else this.registry.unregisterCrd(previous!);
    }
    const o = next ?? previous!;
    const persisted = this.store.write(
      { group: type.group, kind: type.kind, namespace: o.metadata.namespace ?? '', name: o.metadata.name! },
      next,
      rv,
    );
    // Broadcast strictly in resourceVersion order, after the commit.
    this.broadcastChain = this.broadcastChain.then(async () => {
      await persisted.catch(() => undefined);
      this.log.push(change);
      if (this.log.length > this.watchLogSize) {
        const dropped = this.log.splice(0, this.log.length - this.watchLogSize);
        this.oldestRetained = dropped[dropped.length - 1].rv;
      }
      this.committedRv = rv;
      // One that throws (a controller given an object the API server would have refused) must not stop the chain:
      // every later change would then reach no watch and no controller, with reads and writes still working.
      const each = (what: string, deliver: () => void) => {
        try {
          deliver();
        } catch (error) {
          this.logger?.error(`Local cluster ${this.name}: ${what} failed on ${change.type} ${change.object.kind} ${objectKey(change.object)} (resourceVersion ${rv}): ${error}`);
        }
      };
      for (const w of this.watchers) if (w.typeKey === change.typeKey) each('a watch', () => w.push(change));
      for (const listener of this.changeListeners) {
        each('a controller', () => listener({ type: change.type, object: change.object, previous: change.previous }));
      }
    });
    await persisted;
  }

  private hasGeneration(type: ResourceType): boolean {
    return type.statusSubresource || Boolean(type.schema) || type.group !== '';
  }

  private bumpGeneration(type: ResourceType, before: KubeObject, after: KubeObject) {
    if (!this.hasGeneration(type)) return;
    const strip = (o: KubeObject) => {
      const { metadata, status, ...rest } = o as any;
      return JSON.stringify(type.statusSubresource ? rest : { ...rest, status });
    };
    const g = before.metadata.generation ?? 1;
    after.metadata.generation = strip(before) === strip(after) ? g : g + 1;
  }

  async create<T extends KubeObject = KubeObject>(object: KubeObject, options: { fieldManager?: string } = {}): Promise<T> {
    const type = this.registry.require(object?.apiVersion, object?.kind);
    const next = structuredClone(object);
    next.metadata ??= {};
    if (!next.metadata.name && next.metadata.generateName) {
      next.metadata.name = `${next.metadata.generateName}${crypto.randomBytes(3).toString('hex').slice(0, 5)}`;
    }
    if (type.namespaced) next.metadata.namespace ??= 'default';
    else delete next.metadata.namespace;
    this.validateMeta(type, next);
    this.validateSchema(type, next);
    this.requireNamespace(type, next.metadata.namespace);
    const key = this.keyOf(type, next.metadata.namespace, next.metadata.name!);
    const existing = this.bucket(type).get(key);
    if (existing) {
      throw new ObjectConflictError(`${resourceName(type)} "${next.metadata.name}" already exists`);
    }
    if (type.statusSubresource && type.kind !== 'CustomResourceDefinition') delete next.status;
    next.metadata.uid = crypto.randomUUID();
    next.metadata.creationTimestamp = nowIso();
    delete next.metadata.resourceVersion;
    delete next.metadata.deletionTimestamp;
    if (this.hasGeneration(type)) next.metadata.generation = 1;
    delete next.metadata.managedFields;
    recordUpdate(undefined, next, options.fieldManager ?? DEFAULT_MANAGER, nowIso());
    await this.commit(type, key, undefined, next);
    return this.present(next) as T;
  }

  async apply<T extends KubeObject = KubeObject>(object: KubeObject, options: ApplyOptions = {}): Promise<T> {
    const type = this.registry.require(object?.apiVersion, object?.kind);
    const applied = structuredClone(object);
    applied.metadata ??= {};
    if (!applied.metadata.name) {
      throw new InvalidObjectError(`${type.kind} "" is invalid: metadata.name: Required value: name is required`);
    }
    if (type.namespaced) applied.metadata.namespace ??= 'default';
    else delete applied.metadata.namespace;
    this.validateMeta(type, applied);
    const key = this.keyOf(type, applied.metadata.namespace, applied.metadata.name);
    const live = this.bucket(type).get(key);
    if (!live && options.subresource === 'status') {
      throw new ObjectNotFoundError(`${type.plural} "${applied.metadata.name}" not found`);
    }
    if (applied.metadata.resourceVersion && live && applied.metadata.resourceVersion !== live.metadata.resourceVersion) {
      throw this.staleConflict(type, applied.metadata.name);
    }
    if (!live) this.requireNamespace(type, applied.metadata.namespace);
    const subresource = options.subresource;
    // The main resource of a kind with a status subresource ignores .status.
    if (!subresource && type.statusSubresource && type.kind !== 'CustomResourceDefinition') delete applied.status;
    const merged = serverSideApply({
      live,
      applied,
      manager: options.fieldManager ?? DEFAULT_MANAGER,
      force: Boolean(options.force),
      subresource,
      now: nowIso(),
    });
    if (subresource === 'status') {
      // Only .status comes from a status apply.
      const result = { ...structuredClone(live!), status: merged.status, metadata: { ...live!.metadata, managedFields: merged.metadata.managedFields } };
      // Its managed fields are the apply's own (fieldsRecorded): recording it again as an update would take the applier's ownership away.
      return this.replace(type, key, live!, result as KubeObject, 'status', true) as Promise<T>;
    }
    if (!live) {
      merged.metadata.uid = crypto.randomUUID();
      merged.metadata.creationTimestamp = nowIso();
      if (this.hasGeneration(type)) merged.metadata.generation = 1;
      this.validateSchema(type, merged);
      await this.commit(type, key, undefined, merged);
      return this.present(merged) as T;
    }
    return this.replace(type, key, live, merged, undefined, true) as Promise<T>;
  }

  private staleConflict(type: ResourceType, name: string): ObjectConflictError {
    return new ObjectConflictError(
      `Operation cannot be fulfilled on ${resourceName(type)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    );
  }

  /** Writes a new state of an existing object, keeping identity and what the subresource rules protect. */
  private async replace(
    type: ResourceType,
    key: string,
    live: KubeObject,
    next: KubeObject,
    subresource: 'status' | undefined,
    fieldsRecorded = false,
    manager = DEFAULT_MANAGER,
  ): Promise<KubeObject> {
    next.apiVersion = live.apiVersion;
    next.kind = live.kind;
    next.metadata = {
      ...next.metadata,
      name: live.metadata.name,
      namespace: live.metadata.namespace,
      uid: live.metadata.uid,
      creationTimestamp: live.metadata.creationTimestamp,
      deletionTimestamp: live.metadata.deletionTimestamp,
      generation: live.metadata.generation,
      resourceVersion: live.metadata.resourceVersion,
    };
    if (!type.namespaced) delete next.metadata.namespace;
    if (!next.metadata.deletionTimestamp) delete next.metadata.deletionTimestamp;
    if (subresource === 'status') {
      const { status } = next;
      const managed = next.metadata.managedFields;
      for (const k of Object.keys(next)) delete (next as Record<string, unknown>)[k];
      Object.assign(next, structuredClone(live), { metadata: { ...structuredClone(live.metadata), managedFields: managed } });
      if (status === undefined) delete next.status;
      else next.status = status;
    } else if (type.statusSubresource && type.kind !== 'CustomResourceDefinition') {
      if (live.status === undefined) delete next.status;
      else next.status = structuredClone(live.status);
    }
    this.validateMeta(type, next);
    this.validateSchema(type, next);
    if (live.metadata.deletionTimestamp) {
      // ValidateObjectMetaUpdate: a deleting object's finalizers may only go.
      const added = (next.metadata.finalizers ?? []).filter(f => !(live.metadata.finalizers ?? []).includes(f));
      if (added.length > 0) {
        throw new InvalidObjectError(`${type.kind} "${live.metadata.name}" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`);
      }
    }
    if (!fieldsRecorded) recordUpdate(live, next, manager, nowIso(), subresource);
    this.bumpGeneration(type, live, next);
    // A no-op write changes nothing, not even the resourceVersion. Who owns which field is part of the object (an
    // apply that only makes another manager a co-owner is kept, as the API server keeps it); only the entries' times are not.
    const withoutTimes = (o: KubeObject) => ({ ...o, metadata: { ...o.metadata, managedFields: o.metadata.managedFields?.map(({ time: _time, ...entry }) => entry) } });
    if (JSON.stringify(withoutTimes(next)) === JSON.stringify(withoutTimes(live))) return this.present(live);
    // A deleting object whose finalizers are all gone is removed.
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
      await this.commit(type, key, live, undefined);
      return this.present(next);
    }
    await this.commit(type, key, live, next);
    return this.present(next);
  }

  async patch<T extends KubeObject = KubeObject>(
    ref: ObjectRef,
    patchType: PatchType,
    patch: Record<string, unknown> | JsonPatchOperation[],
    options: PatchOptions = {},
  ): Promise<T> {
    const type = this.registry.require(ref.apiVersion, ref.kind);
    const key = this.keyOf(type, ref.namespace, ref.name);
    const live = this.bucket(type).get(key);
    if (!live) {
      throw new ObjectNotFoundError(`${resourceName(type)} "${ref.name}" not found`);
    }
    let next: KubeObject;
    if (patchType === 'merge') {
      if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
        throw new InvalidObjectError('a merge patch must be a JSON object');
      }
      const wanted = (patch as any).metadata?.resourceVersion;
      if (wanted !== undefined && wanted !== live.metadata.resourceVersion) throw this.staleConflict(type, ref.name);
      next = applyMergePatch(live, patch) as KubeObject;
    } else if (patchType === 'json') {
      next = applyJsonPatch(live, patch as JsonPatchOperation[]) as KubeObject;
      // As the API server: a result that carries another resourceVersion than the live one is an update conditional on it.
      const wanted = next?.metadata?.resourceVersion;
      if (wanted && wanted !== live.metadata.resourceVersion) throw this.staleConflict(type, ref.name);
    } else {
      throw new InvalidObjectError(`unsupported patch type "${patchType}"`);
    }
    if (!next || typeof next !== 'object' || !next.metadata) throw new InvalidObjectError('the patch removed the object\'s metadata');
    return this.replace(type, key, live, next, options.subresource, false, options.fieldManager ?? DEFAULT_MANAGER) as Promise<T>;
  }

  async delete(ref: ObjectRef, options: DeleteOptions = {}): Promise<void> {
    const type = this.registry.require(ref.apiVersion, ref.kind);
    const key = this.keyOf(type, ref.namespace, ref.name);
    const live = this.bucket(type).get(key);
    if (!live) {
      throw new ObjectNotFoundError(`${resourceName(type)} "${ref.name}" not found`);
    }
    const policy = options.propagationPolicy ?? type.defaultPropagation;
    const finalizers = [...(live.metadata.finalizers ?? [])];
    if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
    if (policy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
    // Namespaces always finalize: their contents go first.
    if (type.kind === 'Namespace' && type.group === '' && !finalizers.includes('kubernetes')) finalizers.push('kubernetes');
    if (finalizers.length === 0) {
      await this.commit(type, key, live, undefined);
      return;
    }
    if (live.metadata.deletionTimestamp) {
      if (JSON.stringify(finalizers) === JSON.stringify(live.metadata.finalizers ?? [])) return;
    }
    const next = structuredClone(live);
    next.metadata.finalizers = finalizers;
    if (!next.metadata.deletionTimestamp) {
      next.metadata.deletionTimestamp = nowIso();
      // BeforeDelete: an object that counts generations counts its deletion as one (a controller comparing
      // observedGeneration sees it has not caught up).
      if ((next.metadata.generation ?? 0) > 0) next.metadata.generation = next.metadata.generation! + 1;
    }
    await this.commit(type, key, live, next);
  }

  /**
   * Every committed change of every kind, in order: what the built-in
   * controllers (garbage collector, kubelet) react to. Returns an unsubscribe.
   */
  onChange(listener: (change: LocalChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Every object of every kind, for the built-in controllers' indexes. */
  allObjects(): KubeObject[] {
    return [...this.objects.values()].flatMap(b => [...b.values()]);
  }

  /** Waits for every change so far to be persisted and broadcast. */
  async settle(): Promise<void> {
    await this.store.drain();
    await this.broadcastChain;
  }
}
