import { mockCredentials } from '@backstage/backend-test-utils';
import {
  AuthorizeResult,
  createPermission,
} from '@backstage/plugin-permission-common';
import {
  catalogEntityCreatePermission,
  catalogEntityDeletePermission,
  catalogEntityReadPermission,
  catalogLocationDeletePermission,
} from '@backstage/plugin-catalog-common/alpha';
import { rolloutPromotePermission } from '@quarterdeck/plugin-argo-common';
import { QuarterdeckPermissionPolicy } from './permissionPolicy';

const ownership: Record<string, string[]> = {
  'user:default/grace': ['user:default/grace', 'group:default/platform-admins'],
  'user:default/alice': ['user:default/alice', 'group:default/team-payments'],
};

const policy = new QuarterdeckPermissionPolicy({
  async getUserInfo(credentials: any) {
    const userEntityRef = credentials.principal.userEntityRef;
    return { userEntityRef, ownershipEntityRefs: ownership[userEntityRef] ?? [userEntityRef] };
  },
});

const as = (userEntityRef: string) => ({
  credentials: mockCredentials.user(userEntityRef),
  info: { userEntityRef, ownershipEntityRefs: [] },
});

describe('QuarterdeckPermissionPolicy', () => {
  it('lets platform admins do everything', async () => {
    for (const permission of [catalogEntityDeletePermission, catalogLocationDeletePermission, rolloutPromotePermission]) {
      expect(await policy.handle({ permission }, as('user:default/grace'))).toEqual({
        result: AuthorizeResult.ALLOW,
      });
    }
  });

  it('lets every signed-in user read', async () => {
    expect(
      await policy.handle({ permission: catalogEntityReadPermission }, as('user:development/guest')),
    ).toEqual({ result: AuthorizeResult.ALLOW });
  });

  it("lets an entity's owners act on it, through the catalog's isEntityOwner rule", async () => {
    const decision = await policy.handle({ permission: rolloutPromotePermission }, as('user:default/alice'));
    expect(decision).toEqual({
      result: AuthorizeResult.CONDITIONAL,
      pluginId: 'catalog',
      resourceType: 'catalog-entity',
      conditions: {
        rule: 'IS_ENTITY_OWNER',
        resourceType: 'catalog-entity',
        params: { claims: ['user:default/alice', 'group:default/team-payments'] },
      },
    });
  });

  it('lets every signed-in user run templates, but not delete locations', async () => {
    expect(
      await policy.handle({ permission: catalogEntityCreatePermission }, as('user:default/alice')),
    ).toEqual({ result: AuthorizeResult.ALLOW });
    expect(
      await policy.handle({ permission: catalogLocationDeletePermission }, as('user:default/alice')),
    ).toEqual({ result: AuthorizeResult.DENY });
  });

  it("lets a scaffolder task be cancelled by whoever started it, and no one else; template management stays with admins", async () => {
    const cancel = createPermission({ name: 'scaffolder.task.cancel', attributes: {}, resourceType: 'scaffolder-task' });
    expect(await policy.handle({ permission: cancel }, as('user:default/erin'))).toEqual({
      result: AuthorizeResult.CONDITIONAL,
      pluginId: 'scaffolder',
      resourceType: 'scaffolder-task',
      conditions: { rule: 'IS_TASK_OWNER', resourceType: 'scaffolder-task', params: { createdBy: ['user:default/erin'] } },
    });
    // No action is not a read.
    const management = createPermission({ name: 'scaffolder.template.management', attributes: {} });
    expect(await policy.handle({ permission: management }, as('user:default/erin'))).toEqual({ result: AuthorizeResult.DENY });
    const dryRun = createPermission({ name: 'scaffolder.template.dry-run', attributes: {} });
    expect(await policy.handle({ permission: dryRun }, as('user:default/erin'))).toEqual({ result: AuthorizeResult.ALLOW });
  });

  it('denies unknown non-read permissions and callers without a user', async () => {
    const permission = createPermission({ name: 'x.thing.update', attributes: { action: 'update' } });
    expect(await policy.handle({ permission }, as('user:default/alice'))).toEqual({
      result: AuthorizeResult.DENY,
    });
    expect(await policy.handle({ permission: catalogEntityReadPermission })).toEqual({
      result: AuthorizeResult.DENY,
    });
  });
});
