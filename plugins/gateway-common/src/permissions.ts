import {
  createPermission,
  type BasicPermission,
  type ResourcePermission,
} from '@backstage/plugin-permission-common';

/**
 * Gateway permissions. Those that act on an API or on a consuming component
 * are `catalog-entity` resource permissions, so a policy can let the
 * entity's owners act through Backstage's `isEntityOwner` rule.
 */
function entityPermission(
  name: string,
  action: 'read' | 'update' | 'create' | 'delete',
): ResourcePermission<'catalog-entity'> {
  return createPermission({
    name,
    attributes: { action },
    resourceType: 'catalog-entity',
  });
}

/** Read products, plans, keys (masked) and usage of an entity. */
export const gatewayReadPermission = entityPermission('gateway.read', 'read');
/** Request a key for a component (checked against the requesting component). */
export const gatewayKeyRequestCreatePermission = entityPermission(
  'gateway.key-request.create',
  'create',
);
/** Approve or deny key requests (checked against the API entity). */
export const gatewayKeyRequestReviewPermission = entityPermission(
  'gateway.key-request.review',
  'update',
);
/** Rotate or revoke a key (checked against the owning component). */
export const gatewayKeyManagePermission = entityPermission(
  'gateway.key.manage',
  'update',
);
/** Define products, plans, model routes and prompt templates of an API. */
export const gatewayProductManagePermission = entityPermission(
  'gateway.product.manage',
  'update',
);
/** The gateway admin page: every product, key and the upstream allowlist. */
export const gatewayAdminPermission: BasicPermission = createPermission({
  name: 'gateway.admin',
  attributes: { action: 'update' },
});

/** Every permission the gateway plugin registers. */
export const gatewayPermissions = [
  gatewayReadPermission,
  gatewayKeyRequestCreatePermission,
  gatewayKeyRequestReviewPermission,
  gatewayKeyManagePermission,
  gatewayProductManagePermission,
  gatewayAdminPermission,
];
