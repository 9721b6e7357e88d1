import type { Entity } from '@backstage/catalog-model';
import { EntityContentBlueprint } from '@backstage/plugin-catalog-react/alpha';
import { createExtensionTester } from '@backstage/frontend-test-utils';
import { apiGatewayEntityContent, componentGatewayEntityContent } from './entityContent';

const entity = (kind: string, consumes: string[] = []): Entity => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind,
  metadata: { name: 'x', namespace: 'default' },
  spec: consumes.length > 0 ? { consumesApis: consumes } : {},
  relations: consumes.map(api => ({ type: 'consumesApi', targetRef: `api:default/${api}` })),
});

describe('the Gateway tabs', () => {
  it("is on every component, one that consumes no API (any more) too: its keys are rotated and revoked there", () => {
    const onComponent = createExtensionTester(componentGatewayEntityContent).get(EntityContentBlueprint.dataRefs.filterFunction)!;
    expect(onComponent(entity('Component', ['llm-chat']))).toBe(true);
    expect(onComponent(entity('Component'))).toBe(true);
    expect(onComponent(entity('API'))).toBe(false);
    expect(onComponent(entity('Resource'))).toBe(false);
  });

  it('is on every API', () => {
    const onApi = createExtensionTester(apiGatewayEntityContent).get(EntityContentBlueprint.dataRefs.filterFunction)!;
    expect(onApi(entity('API'))).toBe(true);
    expect(onApi(entity('Component', ['llm-chat']))).toBe(false);
  });
});
