import {
  ApiBlueprint,
  createFrontendPlugin,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/frontend-plugin-api';
import { GatewayClient, gatewayApiRef } from './api/GatewayClient';

const gatewayApi = ApiBlueprint.make({
  params: defineParams =>
    defineParams({
      api: gatewayApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: deps => new GatewayClient(deps),
    }),
});

/**
 * The `gateway` frontend plugin. Each capability adds its own entity content and
 * pages here as it lands; none is shown before it has something to show.
 */
export const gatewayPlugin = createFrontendPlugin({
  pluginId: 'gateway',
  extensions: [gatewayApi],
});
