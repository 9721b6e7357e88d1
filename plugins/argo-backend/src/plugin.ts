import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { argoPermissions } from '@quarterdeck/plugin-argo-common';
import { applyDatabaseMigrations } from './database/migrations';
import { createRouter } from './service/router';

/**
 * The `argo` backend plugin: hosts Quarterdeck's Argo-compatible engines and
 * their HTTP API under `/api/argo`.
 */
export const argoPlugin = createBackendPlugin({
  pluginId: 'argo',
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
        permissionsRegistry.addPermissions(argoPermissions);
        httpRouter.use(await createRouter({ logger, db }));
        httpRouter.addAuthPolicy({ path: '/health', allow: 'unauthenticated' });
      },
    });
  },
});
