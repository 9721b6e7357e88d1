import { mockServices } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { rolloutEntityResolver } from './owningEntity';

const component = (name: string, id: string) => ({
  apiVersion: 'backstage.io/v1alpha1', kind: 'Component', metadata: { name, namespace: 'default', annotations: { 'backstage.io/kubernetes-id': id } },
  spec: { type: 'service', owner: 'team', lifecycle: 'production' },
});
const rollout = (id?: string) => ({ metadata: { name: 'payments-api', namespace: 'payments', ...(id ? { labels: { 'backstage.io/kubernetes-id': id } } : {}) } });

describe('the entity that owns a Rollout', () => {
  it('is the one entity whose kubernetes-id the Rollout carries, and none when another entity claims that id too', async () => {
    const entityOf = (entities: object[]) => rolloutEntityResolver({ catalog: catalogServiceMock({ entities: entities as never }), auth: mockServices.auth() });
    expect(await entityOf([component('payments-api', 'payments-api'), component('web', 'web')])(rollout('payments-api'))).toBe('component:default/payments-api');
    // Someone registers an entity naming the same id: neither owns the Rollout (admins act on it), rather than the catalog's first.
    expect(await entityOf([component('payments-api', 'payments-api'), component('mallory', 'payments-api')])(rollout('payments-api'))).toBeUndefined();
    expect(await entityOf([component('payments-api', 'payments-api')])(rollout())).toBeUndefined();
  });
});
