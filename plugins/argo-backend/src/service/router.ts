import type {
  AuthService,
  HttpAuthService,
  LoggerService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import type { ClusterService } from '@quarterdeck/plugin-argo-node';
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

/**
 * A request body that is not JSON is refused (415), not ignored: express.json()
 * leaves it unread, and a POST would then run on its defaults (a rotation with
 * a day's grace instead of the `graceSeconds: 0` that was sent as text, say).
 */
function refuseBodiesNotJson(req: express.Request, _res: express.Response, next: express.NextFunction) {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (!hasBody || req.is('application/json')) {
    next();
    return;
  }
  next(Object.assign(new Error(`The body must be JSON (content-type: application/json), not ${req.headers['content-type'] ?? 'unnamed'}`), { name: 'UnsupportedMediaTypeError', statusCode: 415 }));
}

export async function createRouter(
  options: RouterOptions,
): Promise<express.Router> {
  const { db, clusters } = options;
  const router = Router();
  router.use(express.json());
  router.use(refuseBodiesNotJson);

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

  return router;
}
