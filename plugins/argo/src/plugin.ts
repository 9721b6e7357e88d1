import {
  ApiBlueprint,
  createFrontendPlugin,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/frontend-plugin-api';
import { ArgoClient, argoApiRef } from './api/ArgoClient';
import { rolloutsEntityContent } from './entityContent';

const argoApi = ApiBlueprint.make({
  params: defineParams =>
    defineParams({
      api: argoApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: deps => new ArgoClient(deps),
    }),
});

/**
 * The `argo` frontend plugin: the Rollouts tab on entity pages. Each
 * capability adds its own entity content here as it lands.
 */
export const argoPlugin = createFrontendPlugin({
  pluginId: 'argo',
  extensions: [argoApi, rolloutsEntityContent],
});
