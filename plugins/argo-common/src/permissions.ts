import {
  createPermission,
  type ResourcePermission,
} from '@backstage/plugin-permission-common';

/**
 * Argo permissions. Every action on an entity's Argo objects is a
 * `catalog-entity` resource permission, so a policy can let the entity's
 * owners act (Backstage's `isEntityOwner` rule) without knowing Argo.
 */
const RESOURCE_TYPE_CATALOG_ENTITY = 'catalog-entity';

function entityPermission(
  name: string,
  action: 'read' | 'update' | 'create' | 'delete',
): ResourcePermission<'catalog-entity'> {
  return createPermission({
    name,
    attributes: { action },
    resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
  });
}

/** Reading an entity's Argo objects, their history and audit trail. */
export const argoReadPermission = entityPermission('argo.resource.read', 'read');

/** Rollout actions, one permission each, named after `kubectl argo rollouts`. */
export const rolloutPromotePermission = entityPermission('argo.rollout.promote', 'update');
export const rolloutPromoteFullPermission = entityPermission('argo.rollout.promote-full', 'update');
export const rolloutAbortPermission = entityPermission('argo.rollout.abort', 'update');
export const rolloutRetryPermission = entityPermission('argo.rollout.retry', 'update');
export const rolloutPausePermission = entityPermission('argo.rollout.pause', 'update');
export const rolloutResumePermission = entityPermission('argo.rollout.resume', 'update');
export const rolloutRestartPermission = entityPermission('argo.rollout.restart', 'update');
export const rolloutUndoPermission = entityPermission('argo.rollout.undo', 'update');

/** Every permission the argo plugin registers. */
export const argoPermissions = [
  argoReadPermission,
  rolloutPromotePermission,
  rolloutPromoteFullPermission,
  rolloutAbortPermission,
  rolloutRetryPermission,
  rolloutPausePermission,
  rolloutResumePermission,
  rolloutRestartPermission,
  rolloutUndoPermission,
];
