import type { AuthService } from '@backstage/backend-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import { KUBERNETES_ID_ANNOTATION, KUBERNETES_ID_LABEL, type Rollout } from '@quarterdeck/plugin-argo-common';

/**
 * The catalog entity a Rollout belongs to: the one whose
 * `backstage.io/kubernetes-id` annotation matches the Rollout's label of that
 * name. Its permissions gate the Rollout's actions, and its owners are the
 * Rollout's team. When several entities carry that id, none is: anyone may
 * register an entity, and one naming another team's id would otherwise
 * take its Rollouts about half the time (the catalog's order is its random
 * ids'). Such a Rollout is then treated as unclaimed: only those the policy
 * allows unconditionally (platform admins) act on it, and no team is told.
 */
export function rolloutEntityResolver(deps: { catalog: CatalogService; auth: AuthService }) {
  return async (rollout: Pick<Rollout, 'metadata'>): Promise<string | undefined> => {
    const id = rollout.metadata.labels?.[KUBERNETES_ID_LABEL];
    if (!id) return undefined;
    const { items } = await deps.catalog.getEntities(
      { filter: { [`metadata.annotations.${KUBERNETES_ID_ANNOTATION}`]: id }, fields: ['kind', 'metadata.name', 'metadata.namespace'] },
      { credentials: await deps.auth.getOwnServiceCredentials() },
    );
    return items.length === 1 ? stringifyEntityRef(items[0]) : undefined;
  };
}
