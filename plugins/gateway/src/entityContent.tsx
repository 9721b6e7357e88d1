import { EntityContentBlueprint } from '@backstage/plugin-catalog-react/alpha';
import type { Entity } from '@backstage/catalog-model';

/**
 * The Gateway tab of API entities. On every API, not only annotated ones:
 * a product may be defined for an API without the annotation (the example
 * payments-rest), and an API without one explains how to offer it.
 */
export const apiGatewayEntityContent = EntityContentBlueprint.make({
  name: 'api',
  params: {
    path: '/gateway',
    title: 'Gateway',
    filter: (entity: Entity) => entity.kind.toLowerCase() === 'api',
    loader: () => import('./components/ApiGatewayContent').then(m => <m.ApiGatewayContent />),
  },
});

/** The Gateway tab of components that consume at least one API: request keys, manage them, see usage. */
export const componentGatewayEntityContent = EntityContentBlueprint.make({
  name: 'component',
  params: {
    path: '/gateway',
    title: 'Gateway',
    filter: (entity: Entity) =>
      entity.kind.toLowerCase() === 'component' && (entity.relations ?? []).some(r => r.type === 'consumesApi'),
    loader: () => import('./components/ComponentGatewayContent').then(m => <m.ComponentGatewayContent />),
  },
});
