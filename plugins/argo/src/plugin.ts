import {
  ApiBlueprint,
  createFrontendPlugin,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/frontend-plugin-api';
import { ArgoClient, argoApiRef } from './api/ArgoClient';

const argoApi = ApiBlueprint.make({
  params: defineParams =>
    defineParams({
      api: argoApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: deps => new ArgoClient(deps),
    }),
});

/**
 * The `argo` frontend plugin. Each capability adds its own entity content and
 * pages here as it lands; none is shown before it has something to show.
 */
export const argoPlugin = createFrontendPlugin({
  pluginId: 'argo',
  extensions: [argoApi],
});
