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
import {
  createScaffolderTaskConditionalDecision,
  scaffolderTaskConditions,
} from '@backstage/plugin-scaffolder-backend/alpha';

/** Members of this group may do everything. */
export const PLATFORM_ADMINS = 'group:default/platform-admins';

/**
 * Non-read permissions every signed-in user holds, because a user needs them
 * to serve themselves: registering and validating entities, and running
 * software templates (which register what they create in the catalog), dry
 * runs included. Deleting locations, and managing templates, stay with
 * admins; cancelling a task stays with whoever started it.
 */
const SELF_SERVICE = new Set([
  'catalog.entity.create',
  'catalog.entity.validate',
  'catalog.location.create',
  'catalog.location.analyze',
  'scaffolder.action.execute',
  'scaffolder.task.create',
  'scaffolder.template.dry-run',
]);

/**
 * Quarterdeck's permission policy:
 * 1. members of `group:default/platform-admins` may do everything;
 * 2. every signed-in user may read (a permission whose action is `read`; one
 *    with no action is not taken for a read: `scaffolder.task.cancel` has none);
 * 3. actions on an entity (any `catalog-entity` resource permission, which is
 *    what every Quarterdeck action is) are allowed to the entity's owners;
 * 4. a scaffolder task may be cancelled by whoever created it;
 * 5. the self-service permissions above are allowed to every signed-in user;
 * 6. everything else is denied.
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
    if (permission.attributes.action === 'read') {
      return { result: AuthorizeResult.ALLOW };
    }
    if (isResourcePermission(permission, 'catalog-entity')) {
      return createCatalogConditionalDecision(
        permission,
        catalogConditions.isEntityOwner({ claims: ownership }),
      );
    }
    if (isResourcePermission(permission, 'scaffolder-task') && permission.name === 'scaffolder.task.cancel') {
      return createScaffolderTaskConditionalDecision(
        permission,
        scaffolderTaskConditions.isTaskOwner({ createdBy: [user.info.userEntityRef] }),
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
