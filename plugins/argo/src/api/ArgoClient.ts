import {
  createApiRef,
  type DiscoveryApi,
  type FetchApi,
} from '@backstage/frontend-plugin-api';
import { ResponseError } from '@backstage/errors';
import type { AuditPageView, RolloutActionRequest, RolloutActionResponse, RolloutDetail, RolloutSummary } from '@quarterdeck/plugin-argo-common';

export type RolloutActionName = 'promote' | 'promote-full' | 'abort' | 'retry' | 'pause' | 'resume' | 'restart' | 'undo';

/** The frontend's view of the `/api/argo` backend. */
export interface ArgoApi {
  health(): Promise<{ status: 'ok' }>;
  listRollouts(entityRef: string): Promise<RolloutSummary[]>;
  getRollout(cluster: string, namespace: string, name: string): Promise<RolloutDetail>;
  /** The audit trail's entries older than `before` (a Rollout's `auditNext`, or a page's `next`). */
  listRolloutAudit(ref: { cluster: string; namespace: string; name: string }, before: string): Promise<AuditPageView>;
  rolloutAction(
    ref: { cluster: string; namespace: string; name: string },
    action: RolloutActionName,
    body?: RolloutActionRequest,
  ): Promise<RolloutActionResponse>;
}

export const argoApiRef = createApiRef<ArgoApi>({ id: 'plugin.argo.client' });

/** Talks to the `argo` backend plugin with the signed-in user's token. */
export class ArgoClient implements ArgoApi {
  constructor(
    private readonly deps: { discoveryApi: DiscoveryApi; fetchApi: FetchApi },
  ) {}

  async health(): Promise<{ status: 'ok' }> {
    return this.request('/health');
  }

  async listRollouts(entityRef: string): Promise<RolloutSummary[]> {
    const { items } = await this.request<{ items: RolloutSummary[] }>(`/rollouts?entityRef=${encodeURIComponent(entityRef)}`);
    return items;
  }

  getRollout(cluster: string, namespace: string, name: string): Promise<RolloutDetail> {
    return this.request(`/rollouts/${[cluster, namespace, name].map(encodeURIComponent).join('/')}`);
  }

  listRolloutAudit(ref: { cluster: string; namespace: string; name: string }, before: string): Promise<AuditPageView> {
    return this.request(`/rollouts/${[ref.cluster, ref.namespace, ref.name].map(encodeURIComponent).join('/')}/audit?before=${encodeURIComponent(before)}`);
  }

  rolloutAction(
    ref: { cluster: string; namespace: string; name: string },
    action: RolloutActionName,
    body: RolloutActionRequest = {},
  ): Promise<RolloutActionResponse> {
    return this.request(`/rollouts/${[ref.cluster, ref.namespace, ref.name, action].map(encodeURIComponent).join('/')}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  private async request<T>(path: string, init?: RequestInit): Promise<T> {
    const base = await this.deps.discoveryApi.getBaseUrl('argo');
    const response = await this.deps.fetchApi.fetch(`${base}${path}`, init);
    if (!response.ok) {
      throw await ResponseError.fromResponse(response);
    }
    return (await response.json()) as T;
  }
}
