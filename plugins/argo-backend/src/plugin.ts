import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { argoPermissions } from '@quarterdeck/plugin-argo-common';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { notificationService } from '@backstage/plugin-notifications-node';
import { clusterServiceRef } from '@quarterdeck/plugin-argo-node';
import { seedManifests } from './clusters/seed';
import { HttpQuarterdeckGateway } from './gateway/client';
import { DatabaseLease, LeaderElection } from './database/Lease';
import crypto from 'node:crypto';
import os from 'node:os';

/** How long a replica's lease on a cluster's reconcilers lasts without renewal. */
const LEASE_TTL_MS = 15_000;
import { AnalysisRunReconciler } from './rollouts/analysis/reconciler';
import { RolloutReconciler } from './rollouts/reconciler';
import { abortActor, RolloutNotifier } from './rollouts/notifications/notifier';
import { KnexAuditStore } from './database/AuditStore';
import { rolloutEntityResolver } from './rollouts/owningEntity';
import { RolloutNoticeStore } from './database/RolloutNoticeStore';
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
        config: coreServices.rootConfig,
        database: coreServices.database,
        httpRouter: coreServices.httpRouter,
        permissionsRegistry: coreServices.permissionsRegistry,
        lifecycle: coreServices.lifecycle,
        permissions: coreServices.permissions,
        httpAuth: coreServices.httpAuth,
        auth: coreServices.auth,
        discovery: coreServices.discovery,
        catalog: catalogServiceRef,
        clusters: clusterServiceRef,
        notifications: notificationService,
      },
      async init({ logger, config, database, httpRouter, permissionsRegistry, lifecycle, permissions, httpAuth, auth, discovery, catalog, clusters, notifications }) {
        const holder = `${os.hostname()}/${process.pid}/${crypto.randomUUID().slice(0, 8)}`;
        // Model canaries and gateway metrics talk to the gateway plugin over HTTP.
        const gateway = new HttpQuarterdeckGateway({ discovery, auth });
        const db = await applyDatabaseMigrations(database);
        permissionsRegistry.addPermissions(argoPermissions);
        // Local clusters start with the plugin, so their controllers and
        // kubelet run whether or not anyone has asked for them yet.
        for (const cluster of clusters.clusters()) {
          if (cluster.driver === 'local') await clusters.client(cluster.name);
        }
        // Our engines own the objects of clusters in `reconcile` mode.
        for (const cluster of clusters.clusters()) {
          if (clusters.mode(cluster.name, 'rollouts') !== 'reconcile') continue;
          const client = await clusters.client(cluster.name);
          const domainLogger = logger.child({ cluster: cluster.name, domain: 'rollouts' });
          // One replica at a time reconciles a cluster's Rollouts: the one holding the lease.
          const election = new LeaderElection(
            new DatabaseLease(db, `rollouts/${cluster.name}`, holder, LEASE_TTL_MS),
            async () => {
              const reconcilers = [
                new RolloutReconciler(client, { logger: domainLogger, gateway }),
                new AnalysisRunReconciler(client, { logger: domainLogger, gateway }),
              ];
              // Started in the background: the election renews its lease meanwhile, and can stop them,
              // while a cluster that does not answer keeps their first lists waiting.
              let stopped = false;
              Promise.all(reconcilers.map(reconciler => reconciler.start())).catch(error => {
                if (!stopped) domainLogger.error(`Reconciling the Rollouts of cluster ${cluster.name} did not start: ${error}`);
              });
              return {
                stop: async () => {
                  stopped = true;
                  for (const reconciler of reconcilers) await reconciler.stop();
                },
              };
            },
            { logger: domainLogger, renewMs: LEASE_TTL_MS / 3 },
          );
          // In the background: a cluster that does not answer must not hold the portal's start (its
          // watches retry, and say so in the log); the portal's other plugins serve meanwhile.
          lifecycle.addStartupHook(() => {
            election.start().catch(error => domainLogger.error(`Reconciling the Rollouts of cluster ${cluster.name} did not start: ${error}`));
          });
          lifecycle.addShutdownHook(() => election.stop());
        }
        // Every replica watches every cluster's Rollouts for what their teams
        // should hear of; the notice store lets one of them tell each state.
        const noticeStore = new RolloutNoticeStore(db);
        const entityOf = rolloutEntityResolver({ catalog, auth });
        const abortedBy = abortActor(new KnexAuditStore(db));
        for (const cluster of clusters.clusters()) {
          const notifier = new RolloutNotifier(await clusters.client(cluster.name), {
            cluster: cluster.name, store: noticeStore, entityOf, abortedBy, notifications, logger: logger.child({ cluster: cluster.name, domain: 'rollout-notices' }),
          });
          let stopping = false;
          lifecycle.addStartupHook(() => {
            notifier.start().catch(error => {
              if (!stopping) logger.error(`Watching the Rollouts of cluster ${cluster.name} for notices did not start: ${error}`);
            });
          });
          lifecycle.addShutdownHook(() => {
            stopping = true;
            return notifier.stop();
          });
        }
        // Example manifests for local clusters, applied once each, after the
        // reconcilers run (a file may wait for the previous one's Rollouts).
        for (const local of config.getOptionalConfigArray('quarterdeck.clusters.local') ?? []) {
          const files = local.getOptionalStringArray('manifests') ?? [];
          if (files.length === 0) continue;
          const name = local.getString('name');
          lifecycle.addStartupHook(async () => {
            seedManifests({ client: await clusters.client(name), files, baseUrl: config.getString('backend.baseUrl'), logger })
              .catch(error => logger.error(`Seeding cluster ${name} failed: ${error}`));
          });
        }
        httpRouter.use(await createRouter({ logger, db, clusters, catalog, permissions, httpAuth, auth }));
        httpRouter.addAuthPolicy({ path: '/health', allow: 'unauthenticated' });
      },
    });
  },
});
