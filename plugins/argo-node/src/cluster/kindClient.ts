import {
  ARGO_API_VERSION,
  ARGO_KINDS,
  type AnalysisRun,
  type AnalysisTemplate,
  type ClusterAnalysisTemplate,
  type ClusterWorkflowTemplate,
  type CronWorkflow,
  type EventSource,
  type Rollout,
  type Sensor,
  type Workflow,
  type WorkflowTemplate,
} from '@quarterdeck/plugin-argo-common';
import { Informer, type InformerOptions } from './informer';
import type {
  ApplyOptions,
  ClusterClient,
  DeleteOptions,
  JsonPatchOperation,
  KubeObject,
  ListOptions,
  ObjectList,
  PatchType,
  WatchEvent,
  WatchOptions,
} from './types';

/** One kind of a cluster, typed: what reconcilers and routes use instead of raw refs. */
export class KindClient<T> {
  constructor(
    readonly client: ClusterClient,
    readonly apiVersion: string,
    readonly kind: string,
  ) {}

  private ref(namespace: string | undefined, name: string) {
    return { apiVersion: this.apiVersion, kind: this.kind, namespace, name };
  }

  get(namespace: string | undefined, name: string): Promise<T | undefined> {
    return this.client.get(this.ref(namespace, name)) as Promise<T | undefined>;
  }

  list(namespace?: string, options?: ListOptions): Promise<Omit<ObjectList, 'items'> & { items: T[] }> {
    return this.client.list({ apiVersion: this.apiVersion, kind: this.kind, namespace }, options) as unknown as Promise<Omit<ObjectList, 'items'> & { items: T[] }>;
  }

  watch(namespace?: string, options?: WatchOptions): AsyncIterable<WatchEvent & { object: T }> {
    return this.client.watch({ apiVersion: this.apiVersion, kind: this.kind, namespace }, options) as AsyncIterable<WatchEvent & { object: T }>;
  }

  apply(object: T, options?: ApplyOptions): Promise<T> {
    return this.client.apply(object as unknown as KubeObject, options) as Promise<T>;
  }

  patch(namespace: string | undefined, name: string, type: PatchType, patch: Record<string, unknown> | JsonPatchOperation[]): Promise<T> {
    return this.client.patch(this.ref(namespace, name), type, patch) as Promise<T>;
  }

  /** A merge patch of `.status` through the status subresource. */
  patchStatus(namespace: string | undefined, name: string, status: Record<string, unknown>, fieldManager?: string): Promise<T> {
    return this.client.patch(this.ref(namespace, name), 'merge', { status }, { subresource: 'status', fieldManager }) as Promise<T>;
  }

  delete(namespace: string | undefined, name: string, options?: DeleteOptions): Promise<void> {
    return this.client.delete(this.ref(namespace, name), options);
  }

  informer(namespace?: string, options?: InformerOptions): Informer<T & KubeObject> {
    return new Informer<T & KubeObject>(this.client, { apiVersion: this.apiVersion, kind: this.kind, namespace }, options);
  }
}

/** Typed clients for every Argo kind Quarterdeck reconciles, on one cluster. */
export function argoClients(client: ClusterClient) {
  const of = <T>(kind: keyof typeof ARGO_KINDS) => new KindClient<T>(client, ARGO_API_VERSION, ARGO_KINDS[kind].kind);
  return {
    rollouts: of<Rollout>('Rollout'),
    analysisTemplates: of<AnalysisTemplate>('AnalysisTemplate'),
    clusterAnalysisTemplates: of<ClusterAnalysisTemplate>('ClusterAnalysisTemplate'),
    analysisRuns: of<AnalysisRun>('AnalysisRun'),
    workflows: of<Workflow>('Workflow'),
    workflowTemplates: of<WorkflowTemplate>('WorkflowTemplate'),
    clusterWorkflowTemplates: of<ClusterWorkflowTemplate>('ClusterWorkflowTemplate'),
    cronWorkflows: of<CronWorkflow>('CronWorkflow'),
    eventSources: of<EventSource>('EventSource'),
    sensors: of<Sensor>('Sensor'),
  };
}
