import type { AuthService } from '@backstage/backend-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import { KUBERNETES_ID_ANNOTATION, KUBERNETES_ID_LABEL, type Rollout } from '@quarterdeck/plugin-argo-common';

/**
 * The catalog entity a Rollout belongs to: the one whose
 * `backstage.io/kubernetes-id` annotation matches the Rollout's label of that
 * name. Its permissions gate the Rollout's actions, and its owners are the
 * Rollout's team.
 */
export function rolloutEntityResolver(deps: { catalog: CatalogService; auth: AuthService }) {
  return async (rollout: Pick<Rollout, 'metadata'>): Promise<string | undefined> => {
    const id = rollout.metadata.labels?.[KUBERNETES_ID_LABEL];
    if (!id) return undefined;
    const { items } = await deps.catalog.getEntities(
      { filter: { [`metadata.annotations.${KUBERNETES_ID_ANNOTATION}`]: id }, fields: ['kind', 'metadata.name', 'metadata.namespace'] },
      { credentials: await deps.auth.getOwnServiceCredentials() },
    );
    return items[0] ? stringifyEntityRef(items[0]) : undefined;
  };
}
