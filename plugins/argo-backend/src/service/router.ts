import type {
  AuthService,
  HttpAuthService,
  LoggerService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import type { ClusterService } from '@quarterdeck/plugin-argo-node';
import { jsonBodies, refuseOtherMethods } from '@quarterdeck/plugin-quarterdeck-node';
import { KnexAuditStore } from '../database/AuditStore';
import { createRolloutsRouter } from '../rollouts/router';
import express from 'express';
import Router from 'express-promise-router';
import type { Knex } from 'knex';

export interface RouterOptions {
  logger: LoggerService;
  db: Knex;
  clusters: ClusterService;
  catalog: CatalogService;
  permissions: PermissionsService;
  httpAuth: HttpAuthService;
  auth: AuthService;
}


export async function createRouter(
  options: RouterOptions,
): Promise<express.Router> {
  const { db, clusters } = options;
  const router = Router();
  router.use(...jsonBodies());

  // Open to unauthenticated callers (see plugin.ts) so probes can use it; it
  // tells only that the plugin is up and its database answers.
  router.get('/health', async (_req, res) => {
    await db.raw('select 1');
    res.json({ status: 'ok' });
  });

  // The configured clusters, their drivers and per-domain modes. No secrets:
  // tokens and certificates stay in the backend.
  router.get('/clusters', async (_req, res) => {
    res.json({ items: clusters.clusters() });
  });

  router.use(
    createRolloutsRouter({
      clusters,
      catalog: options.catalog,
      permissions: options.permissions,
      httpAuth: options.httpAuth,
      auth: options.auth,
      audit: new KnexAuditStore(db),
      logger: options.logger,
    }),
  );
  refuseOtherMethods(router);

  return router;
}
