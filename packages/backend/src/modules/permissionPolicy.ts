import {
  coreServices,
  createBackendModule,
  type UserInfoService,
} from '@backstage/backend-plugin-api';
import {
  AuthorizeResult,
  isResourcePermission,
  type PolicyDecision,
} from '@backstage/plugin-permission-common';
import type {
  PermissionPolicy,
  PolicyQuery,
  PolicyQueryUser,
} from '@backstage/plugin-permission-node';
import { policyExtensionPoint } from '@backstage/plugin-permission-node/alpha';
import {
  catalogConditions,
  createCatalogConditionalDecision,
} from '@backstage/plugin-catalog-backend/alpha';

/** Members of this group may do everything. */
export const PLATFORM_ADMINS = 'group:default/platform-admins';

/**
 * Non-read permissions every signed-in user holds, because a user needs them
 * to serve themselves: running software templates (which register what they
 * create in the catalog). Deleting locations stays with admins.
 */
const SELF_SERVICE = new Set([
  'catalog.entity.create',
  'catalog.location.create',
  'scaffolder.action.execute',
  'scaffolder.task.create',
  'scaffolder.task.cancel',
]);

/**
 * Quarterdeck's permission policy:
 * 1. members of `group:default/platform-admins` may do everything;
 * 2. every signed-in user may read;
 * 3. actions on an entity (any `catalog-entity` resource permission, which is
 *    what every Quarterdeck action is) are allowed to the entity's owners;
 * 4. the self-service permissions above are allowed to every signed-in user;
 * 5. everything else is denied.
 */
export class QuarterdeckPermissionPolicy implements PermissionPolicy {
  constructor(private readonly userInfo: Pick<UserInfoService, 'getUserInfo'>) {}

  async handle(
    request: PolicyQuery,
    user?: PolicyQueryUser,
  ): Promise<PolicyDecision> {
    if (!user) {
      return { result: AuthorizeResult.DENY };
    }
    const { ownershipEntityRefs: ownership } = await this.userInfo.getUserInfo(
      user.credentials,
    );
    if (ownership.includes(PLATFORM_ADMINS)) {
      return { result: AuthorizeResult.ALLOW };
    }
    const { permission } = request;
    const action = permission.attributes.action ?? 'read';
    if (action === 'read') {
      return { result: AuthorizeResult.ALLOW };
    }
    if (isResourcePermission(permission, 'catalog-entity')) {
      return createCatalogConditionalDecision(
        permission,
        catalogConditions.isEntityOwner({ claims: ownership }),
      );
    }
    if (SELF_SERVICE.has(permission.name)) {
      return { result: AuthorizeResult.ALLOW };
    }
    return { result: AuthorizeResult.DENY };
  }
}

export const permissionPolicyModule = createBackendModule({
  pluginId: 'permission',
  moduleId: 'quarterdeck-policy',
  register(reg) {
    reg.registerInit({
      deps: { policy: policyExtensionPoint, userInfo: coreServices.userInfo },
      async init({ policy, userInfo }) {
        policy.setPolicy(new QuarterdeckPermissionPolicy(userInfo));
      },
    });
  },
});
