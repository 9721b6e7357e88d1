import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { gatewayPermissions } from '@quarterdeck/plugin-gateway-common';
import { applyDatabaseMigrations } from './database/migrations';
import { createRouter } from './service/router';

/**
 * The `gateway` backend plugin: the control plane of Quarterdeck's API and AI
 * gateway under `/api/gateway`.
 */
export const gatewayPlugin = createBackendPlugin({
  pluginId: 'gateway',
  register(env) {
    env.registerInit({
      deps: {
        logger: coreServices.logger,
        database: coreServices.database,
        httpRouter: coreServices.httpRouter,
        permissionsRegistry: coreServices.permissionsRegistry,
      },
      async init({ logger, database, httpRouter, permissionsRegistry }) {
        const db = await applyDatabaseMigrations(database);
        permissionsRegistry.addPermissions(gatewayPermissions);
        httpRouter.use(await createRouter({ logger, db }));
        httpRouter.addAuthPolicy({ path: '/health', allow: 'unauthenticated' });
      },
    });
  },
});
