import {
  createApiRef,
  type DiscoveryApi,
  type FetchApi,
} from '@backstage/frontend-plugin-api';
import { ResponseError } from '@backstage/errors';

/** The frontend's view of the `/api/argo` backend. */
export interface ArgoApi {
  health(): Promise<{ status: 'ok' }>;
}

export const argoApiRef = createApiRef<ArgoApi>({ id: 'plugin.argo.client' });

/** Talks to the `argo` backend plugin with the signed-in user's token. */
export class ArgoClient implements ArgoApi {
  constructor(
    private readonly deps: { discoveryApi: DiscoveryApi; fetchApi: FetchApi },
  ) {}

  async health(): Promise<{ status: 'ok' }> {
    return this.get('/health');
  }

  private async get<T>(path: string): Promise<T> {
    const base = await this.deps.discoveryApi.getBaseUrl('argo');
    const response = await this.deps.fetchApi.fetch(`${base}${path}`);
    if (!response.ok) {
      throw await ResponseError.fromResponse(response);
    }
    return (await response.json()) as T;
  }
}
