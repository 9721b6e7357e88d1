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

/**
 * The Gateway tab of components: request keys, manage them, see usage. On
 * every component, not only those that consume an API now: a key outlives
 * its API's place in spec.consumesApis (the data plane does not read the
 * catalog), and its owners rotate or revoke it here; a component that
 * consumes none is told how to request access.
 */
export const componentGatewayEntityContent = EntityContentBlueprint.make({
  name: 'component',
  params: {
    path: '/gateway',
    title: 'Gateway',
    filter: (entity: Entity) => entity.kind.toLowerCase() === 'component',
    loader: () => import('./components/ComponentGatewayContent').then(m => <m.ComponentGatewayContent />),
  },
});
