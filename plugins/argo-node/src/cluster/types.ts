/**
 * The shapes of the cluster layer: Kubernetes objects as JSON, and the
 * operations every driver offers. Names and semantics follow the Kubernetes
 * API, so what works against the local driver works against a real cluster.
 */

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: FieldsV1;
  subresource?: string;
}

/** The API server's field set encoding: `{"f:spec":{"f:replicas":{}}}`. */
export type FieldsV1 = { [key: string]: FieldsV1 };

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: ManagedFieldsEntry[];
}

/** Any Kubernetes object. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** Names one object. `namespace` is ignored for cluster-scoped kinds. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

/** Names one kind, and optionally narrows to a namespace. */
export interface KindRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
}

export interface ListOptions {
  /** e.g. `app=payments,tier in (api,web),!canary` */
  labelSelector?: string;
  /** e.g. `metadata.name=x,status.phase!=Running` */
  fieldSelector?: string;
  /** Page size; with `continue`, the next page in key order (a snapshot on the kubernetes driver; on the local driver later pages show objects as they are then). */
  limit?: number;
  continue?: string;
  /** Gives the list up (an informer being stopped). */
  signal?: AbortSignal;
}

export interface ObjectList<T extends KubeObject = KubeObject> {
  items: T[];
  /** The collection's resourceVersion: watch from here to miss nothing. */
  resourceVersion: string;
  /** Set when more items remain. */
  continue?: string;
}

export interface WatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Start after this version; without it, start now. */
  resourceVersion?: string;
  /** Ask for BOOKMARK events that advance the resourceVersion. */
  allowBookmarks?: boolean;
  /** Ends the watch. */
  signal?: AbortSignal;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: WatchEventType;
  /** For BOOKMARK, only `apiVersion`, `kind` and `metadata.resourceVersion` are set. */
  object: T;
}

export interface ApplyOptions {
  /** Defaults to `quarterdeck`. */
  fieldManager?: string;
  /** Take ownership of fields other managers own instead of failing with a conflict. */
  force?: boolean;
  /** `status` applies to the status subresource. */
  subresource?: 'status';
}

export type PatchType = 'merge' | 'json';

/** A JSON patch operation (RFC 6902). */
export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'test' | 'move' | 'copy';
  path: string;
  value?: unknown;
  from?: string;
}

export interface PatchOptions {
  fieldManager?: string;
  subresource?: 'status';
}

export interface DeleteOptions {
  /** Background (the default for most kinds), Foreground or Orphan. */
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
}

export interface LogOptions {
  container?: string;
  tailLines?: number;
  /** Keep the stream open and pass on new lines until `signal` aborts or the container ends. */
  follow?: boolean;
  signal?: AbortSignal;
}

/**
 * One cluster, reached through one driver. Errors are the typed errors of
 * `./errors`: InvalidObjectError (400), ObjectNotFoundError (404),
 * ObjectConflictError / ApplyConflictError (409), WatchExpiredError (410).
 */
export interface ClusterClient {
  readonly name: string;
  readonly driver: 'local' | 'kubernetes';

  /** The object, or undefined when it does not exist. */
  get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined>;
  list<T extends KubeObject = KubeObject>(kind: KindRef, options?: ListOptions): Promise<ObjectList<T>>;
  /**
   * Changes after `resourceVersion` (or from now), in order. Throws
   * WatchExpiredError when that version is no longer retained: list again.
   */
  watch<T extends KubeObject = KubeObject>(kind: KindRef, options?: WatchOptions): AsyncIterable<WatchEvent<T>>;
  /** Creates the object; fails with a conflict if it exists. */
  create<T extends KubeObject = KubeObject>(object: KubeObject, options?: { fieldManager?: string }): Promise<T>;
  /** Server-side apply. */
  apply<T extends KubeObject = KubeObject>(object: KubeObject, options?: ApplyOptions): Promise<T>;
  patch<T extends KubeObject = KubeObject>(
    ref: ObjectRef,
    type: PatchType,
    patch: Record<string, unknown> | JsonPatchOperation[],
    options?: PatchOptions,
  ): Promise<T>;
  /** Deletes the object; resolves once the API accepted it (finalizers may delay removal). */
  delete(ref: ObjectRef, options?: DeleteOptions): Promise<void>;
  /** A pod container's log, line by line. */
  logs(ref: { namespace: string; name: string }, options?: LogOptions): AsyncIterable<string>;
}

/** `group/version` → `group`, `v1` → `` (the core group). */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash === -1 ? '' : apiVersion.slice(0, slash);
}

/** The key informers and stores use: `namespace/name`, or `name` when cluster-scoped. */
export function objectKey(object: { metadata: ObjectMeta } | ObjectRef): string {
  const ns = 'metadata' in object ? object.metadata.namespace : object.namespace;
  const name = 'metadata' in object ? object.metadata.name : object.name;
  return ns ? `${ns}/${name}` : `${name}`;
}
