import {
  createApiRef,
  type DiscoveryApi,
  type FetchApi,
} from '@backstage/frontend-plugin-api';
import { ResponseError } from '@backstage/errors';
import type {
  GatewayAuditAction,
  GatewayAuditPage,
  GatewayKeyList,
  GatewayKeyRequest,
  GatewayKeyView,
  GatewayProduct,
  GatewayProductSpec,
  GatewayStatus,
  GatewayUsageSummary,
  IssuedKey,
  KeyRequestStatus,
} from '@quarterdeck/plugin-gateway-common';

/** `POST /key-requests`. */
export interface CreateKeyRequest {
  componentRef: string;
  productId: string;
  plan: string;
  /** Why the component needs the key; at least 10 characters. */
  justification: string;
}

/** Whose keys a list holds: an API's, a component's, or a component's for one product; all, or only those accepted now (or only the others). */
export type GatewayKeyQuery = {
  entityRef: string;
  productId?: string;
  accepted?: boolean;
};

/** `GET /audit`: whose trail (all, without entityRef), which action, from where, how many. */
export type GatewayAuditQuery = {
  entityRef?: string;
  action?: GatewayAuditAction;
  before?: string;
  limit?: number;
};

/** `POST /key-requests/:id/approve`: the decided request and the key, whose secret is shown once. */
export interface ApprovedKeyRequest {
  request: GatewayKeyRequest;
  issued: IssuedKey;
}

/**
 * A product written whole. `expectedUpdatedAt`: the version the writer read
 * (null: the product must be new), so a change made meanwhile is a 409
 * rather than overwritten; left out, the last writer wins.
 */
export type PutProduct = { entityRef: string; spec: GatewayProductSpec; expectedUpdatedAt?: string | null };

/** The frontend's view of the `/api/gateway` control plane. */
export interface GatewayApi {
  health(): Promise<{ status: 'ok' }>;
  /** The products of one API entity (zero or one), or every product the user may read. */
  listProducts(query?: { entityRef?: string }): Promise<GatewayProduct[]>;
  getProduct(id: string): Promise<GatewayProduct>;
  putProduct(id: string, body: PutProduct): Promise<GatewayProduct>;
  /**
   * Takes the API out of the gateway; a 409 while keys that work hold its
   * plans or requests wait for review, or when it changed after `expectedUpdatedAt`.
   */
  deleteProduct(id: string, body?: { expectedUpdatedAt?: string; reason?: string }): Promise<void>;
  /** The key requests of an API or of a component; without entityRef, every API's (gateway.admin). */
  listKeyRequests(query: { entityRef?: string; status?: KeyRequestStatus }): Promise<GatewayKeyRequest[]>;
  createKeyRequest(body: CreateKeyRequest): Promise<GatewayKeyRequest>;
  /** `models`: narrows the key to some of its plan's models (all of them, and any added later, when left out). */
  approveKeyRequest(id: string, body?: { reason?: string; expiresInDays?: number; models?: string[] }): Promise<ApprovedKeyRequest>;
  denyKeyRequest(id: string, body: { reason: string }): Promise<GatewayKeyRequest>;
  /**
   * The keys (masked) of an API's product or of a component (for one product
   * with `productId`), newest first: `limit` (at most 500) from `offset`, and
   * how many there are; with `accepted`, only those accepted now or only the others.
   */
  listKeys(query: GatewayKeyQuery & { limit?: number; offset?: number }): Promise<GatewayKeyList>;
  /** Every product's key counts, by product id: one grouped count (gateway.admin). */
  countKeysByProduct(): Promise<NonNullable<GatewayKeyList['byProduct']>>;
  /** A new key at once; the old one keeps working for `graceSeconds` (default a day). */
  rotateKey(id: string, body?: { graceSeconds?: number }): Promise<IssuedKey>;
  revokeKey(id: string, body?: { reason?: string }): Promise<GatewayKeyView>;
  /**
   * An API's or a component's usage; an API's narrowed to one consumer with
   * `consumerRef`; without entityRef, the whole gateway's (gateway.admin).
   */
  getUsage(query: { entityRef?: string; hours?: number; consumerRef?: string }): Promise<GatewayUsageSummary>;
  /** This replica's data plane and the policy it serves (gateway.admin). */
  getStatus(): Promise<GatewayStatus>;
  /**
   * A page of an entity's trail, newest first; without entityRef, the whole
   * gateway's (gateway.admin). `before` is an earlier page's `next`.
   */
  listAudit(query: GatewayAuditQuery): Promise<GatewayAuditPage>;
}

export const gatewayApiRef = createApiRef<GatewayApi>({ id: 'plugin.gateway.client' });

function queryString(query: Record<string, string | number | boolean | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** Talks to the `gateway` backend plugin with the signed-in user's token. */
export class GatewayClient implements GatewayApi {
  constructor(
    private readonly deps: { discoveryApi: DiscoveryApi; fetchApi: FetchApi },
  ) {}

  health(): Promise<{ status: 'ok' }> {
    return this.request('/health');
  }

  async listProducts(query: { entityRef?: string } = {}): Promise<GatewayProduct[]> {
    const { items } = await this.request<{ items: GatewayProduct[] }>(`/products${queryString(query)}`);
    return items;
  }

  getProduct(id: string): Promise<GatewayProduct> {
    return this.request(`/products/${encodeURIComponent(id)}`);
  }

  putProduct(id: string, body: PutProduct): Promise<GatewayProduct> {
    return this.send('PUT', `/products/${encodeURIComponent(id)}`, body);
  }

  async deleteProduct(id: string, body: { expectedUpdatedAt?: string; reason?: string } = {}): Promise<void> {
    await this.send('DELETE', `/products/${encodeURIComponent(id)}`, body);
  }

  async listKeyRequests(query: { entityRef?: string; status?: KeyRequestStatus }): Promise<GatewayKeyRequest[]> {
    const { items } = await this.request<{ items: GatewayKeyRequest[] }>(`/key-requests${queryString(query)}`);
    return items;
  }

  createKeyRequest(body: CreateKeyRequest): Promise<GatewayKeyRequest> {
    return this.send('POST', '/key-requests', body);
  }

  approveKeyRequest(id: string, body: { reason?: string; expiresInDays?: number; models?: string[] } = {}): Promise<ApprovedKeyRequest> {
    return this.send('POST', `/key-requests/${encodeURIComponent(id)}/approve`, body);
  }

  denyKeyRequest(id: string, body: { reason: string }): Promise<GatewayKeyRequest> {
    return this.send('POST', `/key-requests/${encodeURIComponent(id)}/deny`, body);
  }

  async countKeysByProduct(): Promise<NonNullable<GatewayKeyList['byProduct']>> {
    return (await this.request<GatewayKeyList>('/keys?limit=0')).byProduct ?? {};
  }

  listKeys(query: GatewayKeyQuery & { limit?: number; offset?: number }): Promise<GatewayKeyList> {
    return this.request<GatewayKeyList>(`/keys${queryString(query)}`);
  }

  rotateKey(id: string, body: { graceSeconds?: number } = {}): Promise<IssuedKey> {
    return this.send('POST', `/keys/${encodeURIComponent(id)}/rotate`, body);
  }

  revokeKey(id: string, body: { reason?: string } = {}): Promise<GatewayKeyView> {
    return this.send('POST', `/keys/${encodeURIComponent(id)}/revoke`, body);
  }

  getUsage(query: { entityRef?: string; hours?: number; consumerRef?: string }): Promise<GatewayUsageSummary> {
    return this.request(`/usage${queryString(query)}`);
  }

  getStatus(): Promise<GatewayStatus> {
    return this.request('/status');
  }

  async listAudit(query: GatewayAuditQuery): Promise<GatewayAuditPage> {
    return this.request<GatewayAuditPage>(`/audit${queryString(query)}`);
  }

  private send<T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body: unknown): Promise<T> {
    return this.request(path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  private async request<T>(path: string, init?: RequestInit): Promise<T> {
    const base = await this.deps.discoveryApi.getBaseUrl('gateway');
    const response = await this.deps.fetchApi.fetch(`${base}${path}`, init);
    if (!response.ok) {
      throw await ResponseError.fromResponse(response);
    }
    // 204: done, nothing to read (a removal).
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }
}
