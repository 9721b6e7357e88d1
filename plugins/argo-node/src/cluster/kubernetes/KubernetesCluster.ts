import type { KubeConfig } from '@kubernetes/client-node';
import http from 'node:http';
import https from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import {
  ApplyConflictError,
  InvalidObjectError,
  ObjectConflictError,
  ObjectNotFoundError,
  WatchExpiredError,
  type FieldConflict,
} from '../errors';
import { parseLabelSelector } from '../selectors';
import {
  groupOf,
  type ApplyOptions,
  type ClusterClient,
  type DeleteOptions,
  type JsonPatchOperation,
  type KindRef,
  type KubeObject,
  type ListOptions,
  type LogOptions,
  type ObjectList,
  type ObjectRef,
  type PatchOptions,
  type PatchType,
  type WatchEvent,
  type WatchOptions,
} from '../types';

const DEFAULT_MANAGER = 'quarterdeck';

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

interface Status {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
  details?: { causes?: Array<{ reason?: string; type?: string; message?: string; field?: string }> };
}

const REQUEST_TIMEOUT_MS = 60_000;

/**
 * How long a watch asks the API server to hold it (`timeoutSeconds`), as client-go's reflector does:
 * 5 minutes stretched by up to as much again at random, so that a cluster's watches do not all end
 * together. A watch the server has not ended by then and WATCH_GRACE_MS more is on a connection that
 * died without a FIN or RST (a load balancer or NAT that dropped it, a node replaced): it is given up,
 * and the informer resumes from the last resourceVersion. Without this a dead connection held a watch,
 * and the cache behind it, unchanged for good.
 */
const watchTimeoutSeconds = () => Math.round(300 * (1 + Math.random()));
const WATCH_GRACE_MS = 30_000;

export interface KubernetesClusterOptions {
  /** The `timeoutSeconds` of each watch (tests shorten it). */
  watchTimeoutSeconds?: () => number;
  /** How long past its `timeoutSeconds` a watch the server has not ended is given up. */
  watchGraceMs?: number;
}

interface RequestSpec {
  method: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: string;
  contentType?: string;
  signal?: AbortSignal;
}

/** Turns the API server's Status into the cluster layer's typed errors. */
export function statusError(status: Status, httpCode: number): Error {
  const code = status.code ?? httpCode;
  const message = status.message ?? `HTTP ${code}`;
  if (code === 410) return new WatchExpiredError(message);
  if (code === 404) return new ObjectNotFoundError(message);
  if (code === 409) {
    const conflicts: FieldConflict[] = (status.details?.causes ?? [])
      .filter(c => (c.reason ?? c.type) === 'FieldManagerConflict')
      .map(c => ({ manager: /conflict with "([^"]+)"/.exec(c.message ?? '')?.[1] ?? '', field: c.field ?? '' }));
    return conflicts.length > 0 ? new ApplyConflictError(conflicts, message) : new ObjectConflictError(message);
  }
  if (code === 400 || code === 422) return new InvalidObjectError(message);
  if (code === 401 || code === 403) {
    // The cluster refusing Quarterdeck's request (its credentials, its RBAC, an admission webhook) is not the signed-in
    // user's 401 or 403 (which reads as their session or their permission): a gateway's error, in the API server's words.
    const refused = new Error(`The cluster refused the request (${code}): ${message}`) as Error & { statusCode: number };
    refused.name = 'ClusterAccessRefused';
    refused.statusCode = 502;
    return refused;
  }
  const error = new Error(message) as Error & { statusCode: number };
  error.statusCode = code;
  return error;
}

/**
 * The Kubernetes driver: the API server's REST interface over the
 * connection and credentials `@kubernetes/client-node`'s KubeConfig resolves
 * (kubeconfig, in-cluster service account, or the Backstage Kubernetes
 * plugin's cluster config). Kinds are resolved through discovery.
 */
export class KubernetesCluster implements ClusterClient {
  readonly driver = 'kubernetes' as const;
  private readonly server: URL;
  private readonly discovery = new Map<string, Promise<ApiResource[]>>();

  constructor(readonly name: string, private readonly kubeConfig: KubeConfig, private readonly options: KubernetesClusterOptions = {}) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new InvalidObjectError(`Cluster '${name}' has no current cluster in its kubeconfig`);
    this.server = new URL(cluster.server);
  }

  // ------------------------------------------------------------ transport

  private async open(spec: RequestSpec): Promise<http.IncomingMessage> {
    const url = new URL(this.server.toString().replace(/\/$/, '') + spec.path);
    for (const [k, v] of Object.entries(spec.query ?? {})) {
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    }
    const options: https.RequestOptions = {
      method: spec.method,
      headers: {
        accept: 'application/json',
        ...(spec.contentType ? { 'content-type': spec.contentType } : {}),
      },
    };
    await this.kubeConfig.applyToHTTPSOptions(options);
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { ...options, signal: spec.signal }, resolve);
      req.on('error', reject);
      if (spec.body !== undefined) req.write(spec.body);
      req.end();
    });
  }

  private async request<T>(spec: RequestSpec): Promise<T> {
    // Unlike a watch or a followed log, a request ends: one the API server stops answering fails after
    // a minute rather than holding its caller (an informer's list, a shutdown) for ever.
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const res = await this.open({ ...spec, signal: spec.signal ? AbortSignal.any([spec.signal, timeout]) : timeout });
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: any;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = { message: text };
    }
    if ((res.statusCode ?? 500) >= 400) throw statusError(body ?? {}, res.statusCode ?? 500);
    return body as T;
  }

  private async *lines(spec: RequestSpec): AsyncGenerator<string> {
    const res = await this.open(spec);
    if ((res.statusCode ?? 500) >= 400) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      let body: Status = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = { message: Buffer.concat(chunks).toString('utf8') };
      }
      throw statusError(body, res.statusCode ?? 500);
    }
    let buffer = '';
    // A character whose bytes are split between two chunks is decoded whole.
    const decoder = new StringDecoder('utf8');
    try {
      for await (const chunk of res) {
        buffer += decoder.write(chunk as Buffer);
        let newline = buffer.indexOf('\n');
        while (newline !== -1) {
          yield buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf('\n');
        }
      }
    } catch (error) {
      if (spec.signal?.aborted) return;
      throw error;
    } finally {
      res.destroy();
    }
    if (buffer) yield buffer;
  }

  // ------------------------------------------------------------ discovery

  private resources(apiVersion: string, refresh = false): Promise<ApiResource[]> {
    if (refresh || !this.discovery.has(apiVersion)) {
      const path = groupOf(apiVersion) ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      const loading = this.request<{ resources: ApiResource[] }>({ method: 'GET', path })
        .then(r => r.resources.filter(x => !x.name.includes('/')))
        .catch(error => {
          this.discovery.delete(apiVersion);
          if (error instanceof ObjectNotFoundError) return [];
          throw error;
        });
      this.discovery.set(apiVersion, loading);
    }
    return this.discovery.get(apiVersion)!;
  }

  private async resolve(apiVersion: string | undefined, kind: string | undefined): Promise<ApiResource> {
    if (!apiVersion) throw new InvalidObjectError("Object 'apiVersion' is missing");
    if (!kind) throw new InvalidObjectError("Object 'Kind' is missing");
    let found = (await this.resources(apiVersion)).find(r => r.kind === kind);
    // A CRD installed since the last look: ask again once.
    if (!found) found = (await this.resources(apiVersion, true)).find(r => r.kind === kind);
    if (!found) throw new InvalidObjectError(`no matches for kind "${kind}" in version "${apiVersion}"`);
    return found;
  }

  private async path(apiVersion: string, kind: string, namespace?: string, name?: string, subresource?: string) {
    const resource = await this.resolve(apiVersion, kind);
    const base = groupOf(apiVersion) ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const ns = resource.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? 'default')}` : '';
    const obj = name !== undefined ? `/${encodeURIComponent(name)}` : '';
    return `${base}${ns}/${resource.name}${obj}${subresource ? `/${subresource}` : ''}`;
  }

  // ------------------------------------------------------------ operations

  async get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    try {
      return await this.request<T>({ method: 'GET', path: await this.path(ref.apiVersion, ref.kind, ref.namespace, ref.name) });
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return undefined;
      throw error;
    }
  }

  async list<T extends KubeObject = KubeObject>(kind: KindRef, options: ListOptions = {}): Promise<ObjectList<T>> {
    parseLabelSelector(options.labelSelector); // the same message as the local driver
    const resource = await this.resolve(kind.apiVersion, kind.kind);
    const path = await this.path(kind.apiVersion, kind.kind, resource.namespaced ? kind.namespace : undefined);
    const allNamespaces = resource.namespaced && !kind.namespace;
    const body = await this.request<{ items: T[]; metadata: { resourceVersion: string; continue?: string } }>({
      method: 'GET',
      path: allNamespaces ? path.replace(/\/namespaces\/[^/]+/, '') : path,
      query: {
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        limit: options.limit,
        continue: options.continue,
      },
      signal: options.signal,
    });
    for (const item of body.items) {
      item.apiVersion ??= kind.apiVersion;
      item.kind ??= kind.kind;
    }
    return {
      items: body.items,
      resourceVersion: body.metadata.resourceVersion,
      continue: body.metadata.continue || undefined,
    };
  }

  async *watch<T extends KubeObject = KubeObject>(kind: KindRef, options: WatchOptions = {}): AsyncGenerator<WatchEvent<T>> {
    parseLabelSelector(options.labelSelector);
    const resource = await this.resolve(kind.apiVersion, kind.kind);
    let path = await this.path(kind.apiVersion, kind.kind, resource.namespaced ? kind.namespace : undefined);
    if (resource.namespaced && !kind.namespace) path = path.replace(/\/namespaces\/[^/]+/, '');
    const timeoutSeconds = (this.options.watchTimeoutSeconds ?? watchTimeoutSeconds)();
    const deadline = AbortSignal.timeout(timeoutSeconds * 1000 + (this.options.watchGraceMs ?? WATCH_GRACE_MS));
    try {
      for await (const line of this.lines({
        method: 'GET',
        path,
        query: {
          watch: 1,
          resourceVersion: options.resourceVersion,
          allowWatchBookmarks: options.allowBookmarks ? 'true' : undefined,
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
          timeoutSeconds,
        },
        signal: options.signal ? AbortSignal.any([options.signal, deadline]) : deadline,
      })) {
        if (!line.trim()) continue;
        const event = JSON.parse(line) as { type: string; object: any };
        if (event.type === 'ERROR') throw statusError(event.object as Status, (event.object as Status).code ?? 500);
        yield event as WatchEvent<T>;
      }
    } catch (error) {
      // Past its deadline the watch ends as one the server ended: the caller resumes from its last resourceVersion.
      if (deadline.aborted && !options.signal?.aborted) return;
      throw error;
    }
  }

  async create<T extends KubeObject = KubeObject>(object: KubeObject, options: { fieldManager?: string } = {}): Promise<T> {
    const path = await this.path(object?.apiVersion, object?.kind, object?.metadata?.namespace);
    return this.request<T>({
      method: 'POST',
      path,
      query: { fieldManager: options.fieldManager ?? DEFAULT_MANAGER },
      body: JSON.stringify(object),
      contentType: 'application/json',
    });
  }

  async apply<T extends KubeObject = KubeObject>(object: KubeObject, options: ApplyOptions = {}): Promise<T> {
    if (!object?.metadata?.name) {
      throw new InvalidObjectError(`${object?.kind ?? 'object'} "" is invalid: metadata.name: Required value: name is required`);
    }
    const path = await this.path(object.apiVersion, object.kind, object.metadata.namespace, object.metadata.name, options.subresource);
    return this.request<T>({
      method: 'PATCH',
      path,
      query: { fieldManager: options.fieldManager ?? DEFAULT_MANAGER, force: options.force ? 'true' : undefined },
      // JSON, which is YAML, as kubectl and client-go send it: the API server reads YAML 1.1, where an unquoted yes, on or
      // off is a boolean (a ConfigMap's "on" refused, an open schema's string made true), and the yaml package writes 1.2.
      body: JSON.stringify(object),
      contentType: 'application/apply-patch+yaml',
    });
  }

  async patch<T extends KubeObject = KubeObject>(
    ref: ObjectRef,
    type: PatchType,
    patch: Record<string, unknown> | JsonPatchOperation[],
    options: PatchOptions = {},
  ): Promise<T> {
    const contentType = type === 'json' ? 'application/json-patch+json' : 'application/merge-patch+json';
    return this.request<T>({
      method: 'PATCH',
      path: await this.path(ref.apiVersion, ref.kind, ref.namespace, ref.name, options.subresource),
      query: { fieldManager: options.fieldManager ?? DEFAULT_MANAGER },
      body: JSON.stringify(patch),
      contentType,
    });
  }

  async delete(ref: ObjectRef, options: DeleteOptions = {}): Promise<void> {
    await this.request({
      method: 'DELETE',
      path: await this.path(ref.apiVersion, ref.kind, ref.namespace, ref.name),
      query: { propagationPolicy: options.propagationPolicy },
    });
  }

  async *logs(ref: { namespace: string; name: string }, options: LogOptions = {}): AsyncGenerator<string> {
    yield* this.lines({
      method: 'GET',
      path: `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/pods/${encodeURIComponent(ref.name)}/log`,
      query: {
        container: options.container,
        tailLines: options.tailLines,
        follow: options.follow ? 'true' : undefined,
      },
      signal: options.signal,
    });
  }
}
