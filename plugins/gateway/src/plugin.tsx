import {
  ApiBlueprint,
  createFrontendPlugin,
  discoveryApiRef,
  fetchApiRef,
  PageBlueprint,
} from '@backstage/frontend-plugin-api';
import HubIcon from '@mui/icons-material/Hub';
import { GatewayClient, gatewayApiRef } from './api/GatewayClient';
import { apiGatewayEntityContent, componentGatewayEntityContent } from './entityContent';
import { rootRouteRef } from './routes';

const gatewayApi = ApiBlueprint.make({
  params: defineParams =>
    defineParams({
      api: gatewayApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: deps => new GatewayClient(deps),
    }),
});

/** The gateway admin page, in the sidebar; it tells non-admins it is for platform admins. */
const gatewayAdminPage = PageBlueprint.make({
  params: {
    path: '/gateway',
    title: 'Gateway',
    icon: <HubIcon />,
    routeRef: rootRouteRef,
    loader: () => import('./components/GatewayAdminPage').then(m => <m.GatewayAdminPage />),
  },
});

/**
 * The `gateway` frontend plugin: the Gateway tab on API entities (product,
 * key requests to review, keys, usage, audit) and on every component
 * (request access, rotate and revoke keys, usage), and the admin page.
 */
export const gatewayPlugin = createFrontendPlugin({
  pluginId: 'gateway',
  title: 'Gateway',
  icon: <HubIcon />,
  routes: { root: rootRouteRef },
  extensions: [gatewayApi, gatewayAdminPage, apiGatewayEntityContent, componentGatewayEntityContent],
});
